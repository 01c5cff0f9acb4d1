/*
 * fsck_plant.c - plants metadata inconsistencies in a stopped master's
 * database, for test_41_meta_fsck.sh. Writes through the metadata
 * library's own record codecs and turns, so the database stays readable
 * and only the planted facts are wrong:
 *
 *   fsck_plant DATA_PATH DIR GOOD LINKED DROPPED
 *
 *   - LINKED (a file in DIR): its nlink becomes 5 (bad_nlink);
 *   - a chunk record for a new id naming LINKED's chunk 7, which its chunk
 *     map does not name (orphan_chunk);
 *   - GOOD gets a chunk 1 (new id, version 1, 1000 bytes) that no
 *     chunkserver holds (missing_chunk);
 *   - DROPPED's chunk 0 disappears from the chunk map and the chunk table
 *     while its parts stay on the chunkservers (orphan_part).
 * Exit 0 when everything was planted; the message names what failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta_int.h"

static int die(const char *what, int rc)
{
    fprintf(stderr, "fsck_plant: %s: %s\n", what, meta_strerror(rc));
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: fsck_plant DATA_PATH DIR GOOD LINKED DROPPED\n");
        return 2;
    }
    struct meta *m;
    char err[512];
    struct meta_options o = {0};
    int rc = meta_open(argv[1], &o, &m, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "fsck_plant: %s\n", err);
        return 1;
    }
    struct meta_attr dir, good, linked, dropped;
    if ((rc = meta_lookup(m, META_ROOT_INO, argv[2], &dir)) ||
        (rc = meta_lookup(m, dir.ino, argv[3], &good)) ||
        (rc = meta_lookup(m, dir.ino, argv[4], &linked)) ||
        (rc = meta_lookup(m, dir.ino, argv[5], &dropped)))
        die("lookup", rc);
    struct meta_chunk dc;
    if ((rc = meta_file_chunk_get(m, dropped.ino, 0, &dc)))
        die("chunk 0 of DROPPED", rc);

    if ((rc = meta_txn_begin(m)) || (rc = meta_op_begin(m, NULL)))
        die("turn", rc);
    /* bad nlink */
    struct meta_inode in;
    if ((rc = meta_inode_load(m, linked.ino, &in)))
        die("load LINKED", rc);
    in.a.nlink = 5;
    meta_inode_store(m, &in);

    uint8_t buf[META_CHUNK_LEN];
    struct meta_key k;
    /* orphan chunk: in the table, named by no chunk map */
    struct meta_chunk oc = {0};
    oc.id = m->sb.next_chunk++;
    oc.ino = linked.ino;
    oc.index = 7;
    oc.version = oc.committed_version = oc.issued_version = 1;
    oc.length = 4096;
    meta_key_ino(&k, META_K_CHUNK, oc.id);
    meta_kv_put(m, &k, buf, meta_chunk_encode(&oc, buf));
    m->sb.chunks++;

    /* missing chunk: named by GOOD, held by nobody */
    struct meta_chunk mc = {0};
    mc.id = m->sb.next_chunk++;
    mc.ino = good.ino;
    mc.index = 1;
    mc.version = mc.committed_version = mc.issued_version = 1;
    mc.length = 1000;
    meta_key_ino(&k, META_K_CHUNK, mc.id);
    meta_kv_put(m, &k, buf, meta_chunk_encode(&mc, buf));
    uint8_t fv[META_FCHUNK_LEN];
    fv[0] = META_REC_V1;
    meta_put64(fv + 1, mc.id);
    meta_key_fchunk(&k, good.ino, 1);
    meta_kv_put(m, &k, fv, sizeof(fv));
    m->sb.chunks++;

    /* orphan parts: DROPPED's chunk 0 leaves the metadata */
    meta_key_ino(&k, META_K_CHUNK, dc.id);
    meta_kv_del(m, &k);
    meta_key_fchunk(&k, dropped.ino, 0);
    meta_kv_del(m, &k);
    m->sb.chunks--;

    if ((rc = meta_op_end(m, 0)) || (rc = meta_txn_commit(m)))
        die("commit", rc);
    printf("planted: bad nlink on %llu, orphan chunk %llu, missing chunk %llu, orphan parts of "
           "chunk %llu\n",
           (unsigned long long)linked.ino, (unsigned long long)oc.id, (unsigned long long)mc.id,
           (unsigned long long)dc.id);
    meta_close(m);
    return 0;
}
