/*
 * dump.h - the master's metadata as a portable text dump and back
 * (`cairn-admin dump` / `cairn-admin restore`).
 *
 * A dump is a zstd-compressed stream of JSON lines: a header, one line per
 * metadata record in RocksDB key order, and a trailer with the record
 * counts and a CRC32C of every line before it. docs/format.md ("Metadata
 * dump (cairn-admin dump), version 1") is the contract.
 *
 * Two decisions a caller must know:
 *
 * 1. The writer works from any consistent view of the database: a RocksDB
 *    iterator (an iterator reads one implicit snapshot), so an online dump
 *    is "take a checkpoint or an iterator, run dump_write_iter()".
 *    dump_dir() is the offline front end: it opens a stopped master's
 *    directory and refuses one a running master holds.
 * 2. A restore never leaves a half-written database: it writes into
 *    DIR.tmp-restore, checks the trailer and runs meta_check(), and only
 *    then renames the directory onto DIR. On any error the temporary
 *    directory is removed and DIR is untouched.
 *
 * Threading: no shared state; any thread, one call per handle at a time.
 * Errors: 0 or a negative code (-errno, META_E*, DUMP_E*); dump_strerror()
 * names them; a reason for people (with the line number for a bad dump)
 * goes to the caller's err buffer.
 */
#ifndef CAIRN_DUMP_H
#define CAIRN_DUMP_H

#include <rocksdb/c.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "meta.h"

#define DUMP_FORMAT_VERSION 1u          /* "version" of the header line */
#define DUMP_LINE_MAX       (32u << 20) /* longest line a reader accepts, newline included */

enum {
    DUMP_ENOTDUMP = -1201, /* the input is not a cairn dump (magic, header) */
    DUMP_EVERSION = -1202, /* a cairn dump of an unsupported version */
    DUMP_EBAD = -1203,     /* a malformed, truncated or inconsistent dump */
    DUMP_ERUNNING = -1204, /* a running master holds the directory */
    DUMP_ETARGET = -1205,  /* the restore target is not empty (or a leftover temp dir) */
    DUMP_EZSTD = -1206,    /* compression failed (out of memory, usually) */
};

/* Name of any error the dump_ functions return (static string). */
const char *dump_strerror(int err);

/* Records per kind, as in the trailer line. */
struct dump_stats {
    uint64_t records; /* all record lines (header and trailer excluded) */
    uint64_t supers, inodes, dentries, xattrs, fchunks, chunks, orphans, marks, raws;
};

/*
 * Writes a dump of every key the iterator sees, in key order, to out
 * (compressed; out is borrowed and left open, not flushed to disk). `it`
 * is borrowed; it is repositioned. st (may be NULL) receives the counts.
 * A record that fails its decoder stops the dump with META_ECORRUPT and the
 * key in err: the writer applies the checks of restore, so every dump it
 * completes restores. Returns 0, -EIO (write error, errno text in err),
 * META_ECORRUPT, DUMP_EZSTD or -ENOMEM.
 */
int dump_write_iter(rocksdb_iterator_t *it, FILE *out, struct dump_stats *st, char *err,
                    size_t errlen);

/* The same over an open metadata handle (outside a turn: committed state). */
int dump_write_meta(struct meta *m, FILE *out, struct dump_stats *st, char *err, size_t errlen);

/*
 * Opens the metadata directory of a stopped master and dumps it to out.
 * DUMP_ERUNNING if a master (another process) holds it. The calling
 * process must not have `dir` open itself (a lock probe would release it).
 */
int dump_dir(const char *dir, FILE *out, struct dump_stats *st, char *err, size_t errlen);

/*
 * Restores the dump read from `in` (borrowed) into `dir`, which must be
 * missing or an empty directory (else DUMP_ETARGET). Writes through
 * `dir`.tmp-restore and renames it into place when the whole dump checked
 * (decision 2 above). Returns 0, DUMP_ENOTDUMP, DUMP_EVERSION, DUMP_EBAD,
 * DUMP_ETARGET, META_ECORRUPT (meta_check failed on the result), META_EDB,
 * -errno.
 */
int dump_restore(FILE *in, const char *dir, struct dump_stats *st, char *err, size_t errlen);

/*
 * Parses and checks a whole dump held in memory without writing anything:
 * compressed != 0 for the zstd stream, 0 for the JSON lines themselves.
 * Every record is encoded and re-decoded as restore would. Returns 0,
 * DUMP_ENOTDUMP, DUMP_EVERSION, DUMP_EBAD or -ENOMEM. For fuzzing and
 * `cairn-admin verify`.
 */
int dump_check_buf(const void *buf, size_t len, int compressed, struct dump_stats *st, char *err,
                   size_t errlen);

/* Reads the dump from `in` and checks it as dump_check_buf does. */
int dump_check_file(FILE *in, struct dump_stats *st, char *err, size_t errlen);

#endif
