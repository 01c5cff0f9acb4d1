/*
 * fuzz_changelog.c - libFuzzer target over meta_cl_rep_check(), the guard a
 * metalogger runs on every changelog entry from the wire before RocksDB
 * sees the bytes (master/changelog.c).
 *
 * Differential: when the guard accepts an input, RocksDB's own batch reader
 * (rocksdb_writebatch_iterate) must find exactly the records the guard
 * counted, each a Put or Delete of a key under a Cairn prefix. The guard
 * must never read past the input (ASan) and never accept what RocksDB would
 * read differently.
 */
#include <rocksdb/c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

struct seen {
    uint32_t n;
};

static void on_put(void *st, const char *k, size_t klen, const char *v, size_t vlen)
{
    (void)v;
    (void)vlen;
    if (klen == 0 || !strchr("SIDXFCOTKMUYQP", k[0]))
        abort(); /* accepted a key the guard should have refused */
    ((struct seen *)st)->n++;
}

static void on_del(void *st, const char *k, size_t klen)
{
    if (klen == 0 || !strchr("SIDXFCOTKMUYQP", k[0]))
        abort();
    ((struct seen *)st)->n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t count = 0;
    if (meta_cl_rep_check(data, size, &count) != 0)
        return 0;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create_from((const char *)data, size);
    if (!wb)
        abort();
    if ((uint32_t)rocksdb_writebatch_count(wb) != count)
        abort();
    struct seen s = {0};
    rocksdb_writebatch_iterate(wb, &s, on_put, on_del);
    if (s.n != count)
        abort();
    rocksdb_writebatch_destroy(wb);
    return 0;
}
