/*
 * admin_tool.c - cairn-admin, the operator's offline tool for a master's
 * metadata directory: dump (backup), restore and verify (master/dump.c).
 *
 * dump works on a stopped master's directory (--master-dir) or online
 * through a running master (--master HOST:PORT of its chunkserver port: a
 * checkpoint is fetched into a temporary directory and dumped from there,
 * admin_online.c). Dumps are binary (zstd): the tool refuses to
 * write one to a terminal. Exit status: 0 done, 1 failed, 2 bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_online.h"
#include "dump.h"
#include "meta.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cairn-admin dump --master-dir DIR [-o FILE]\n"
               "       cairn-admin dump --master HOST:PORT [-o FILE]\n"
               "       cairn-admin restore --master-dir DIR [-i FILE]\n"
               "       cairn-admin verify [-i FILE]\n"
               "\n"
               "dump     writes the metadata of a stopped master to FILE (default stdout)\n"
               "         as a zstd-compressed JSON-lines dump (docs/format.md); with\n"
               "         --master, of a running master (HOST:PORT is its chunkserver port)\n"
               "restore  rebuilds a metadata directory from a dump (default stdin); DIR\n"
               "         must be missing or empty, and nothing is left in it on error\n"
               "verify   checks a dump completely without writing anything\n");
}

static void print_stats(const char *verb, const struct dump_stats *s)
{
    fprintf(stderr,
            "cairn-admin: %s %llu records: %llu inodes, %llu dentries, %llu xattrs, %llu file "
            "chunks, %llu chunks, %llu orphans, %llu marks, %llu raw\n",
            verb, (unsigned long long)s->records, (unsigned long long)s->inodes,
            (unsigned long long)s->dentries, (unsigned long long)s->xattrs,
            (unsigned long long)s->fchunks, (unsigned long long)s->chunks,
            (unsigned long long)s->orphans, (unsigned long long)s->marks,
            (unsigned long long)s->raws);
}

static int cmd_dump(const char *dir, const char *file)
{
    struct dump_stats st;
    char err[1024];
    FILE *out = stdout;
    int rc;
    if (!file && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "cairn-admin: refusing to write a compressed dump to a terminal; use -o "
                        "FILE or a pipe\n");
        return 2;
    }
    if (file) {
        out = fopen(file, "wbx"); /* never overwrite an older backup */
        if (!out) {
            fprintf(stderr, "cairn-admin: dump: %s: %s%s\n", file, strerror(errno),
                    errno == EEXIST ? " (choose another name or remove it)" : "");
            return 1;
        }
    }
    rc = dump_dir(dir, out, &st, err, sizeof(err));
    if (file) {
        if (rc == 0 && (fflush(out) != 0 || fsync(fileno(out)) != 0)) {
            snprintf(err, sizeof(err), "dump: %s: %s", file, strerror(errno));
            rc = -EIO;
        }
        if (fclose(out) != 0 && rc == 0) {
            snprintf(err, sizeof(err), "dump: %s: %s", file, strerror(errno));
            rc = -EIO;
        }
        if (rc != 0)
            unlink(file); /* a partial dump is no backup */
    }
    if (rc != 0) {
        fprintf(stderr, "cairn-admin: %s\n", err);
        return 1;
    }
    print_stats("dumped", &st);
    return 0;
}

/* The online dump: a checkpoint of the running master, dumped like a stopped
 * master's directory, then deleted. */
static int cmd_dump_online(const char *master, const char *file)
{
    char tmp[4096], cp[4200], err[1024];
    const char *t = getenv("TMPDIR");
    snprintf(tmp, sizeof(tmp), "%s/cairn-admin-dump.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "cairn-admin: dump: %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    snprintf(cp, sizeof(cp), "%s/meta", tmp);
    uint64_t seq = 0;
    int rc = admin_fetch_checkpoint(master, cp, &seq, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "cairn-admin: dump: %s\n", err);
    } else {
        fprintf(stderr, "cairn-admin: dumping the master at %s as of changelog entry %llu\n",
                master, (unsigned long long)seq);
        rc = cmd_dump(cp, file);
    }
    meta_checkpoint_remove(cp);
    rmdir(tmp);
    return rc ? (rc == 2 ? 2 : 1) : 0;
}

static int cmd_restore(const char *dir, const char *file)
{
    struct dump_stats st;
    char err[1024];
    FILE *in = stdin;
    int rc;
    if (!file && isatty(STDIN_FILENO)) {
        fprintf(stderr, "cairn-admin: restore: give the dump with -i FILE or on a pipe\n");
        return 2;
    }
    if (file && !(in = fopen(file, "rb"))) {
        fprintf(stderr, "cairn-admin: restore: %s: %s\n", file, strerror(errno));
        return 1;
    }
    rc = dump_restore(in, dir, &st, err, sizeof(err));
    if (file)
        fclose(in);
    if (rc != 0) {
        fprintf(stderr, "cairn-admin: restore from %s: %s; %s left unchanged\n",
                file ? file : "stdin", err, dir);
        return 1;
    }
    print_stats("restored", &st);
    return 0;
}

static int cmd_verify(const char *file)
{
    struct dump_stats st;
    char err[1024];
    FILE *in = stdin;
    int rc;
    if (!file && isatty(STDIN_FILENO)) {
        fprintf(stderr, "cairn-admin: verify: give the dump with -i FILE or on a pipe\n");
        return 2;
    }
    if (file && !(in = fopen(file, "rb"))) {
        fprintf(stderr, "cairn-admin: verify: %s: %s\n", file, strerror(errno));
        return 1;
    }
    rc = dump_check_file(in, &st, err, sizeof(err));
    if (file)
        fclose(in);
    if (rc != 0) {
        fprintf(stderr, "cairn-admin: verify %s: %s\n", file ? file : "stdin", err);
        return 1;
    }
    print_stats("verified", &st);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd, *dir = NULL, *in = NULL, *out = NULL, *master = NULL;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        const char **slot = NULL;
        if (!strcmp(argv[i], "--master-dir") || !strcmp(argv[i], "-d"))
            slot = &dir;
        else if (!strcmp(argv[i], "--master") || !strcmp(argv[i], "-m"))
            slot = &master;
        else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output"))
            slot = &out;
        else if (!strcmp(argv[i], "-i") || !strcmp(argv[i], "--input"))
            slot = &in;
        if (!slot || i + 1 >= argc) {
            fprintf(stderr, "cairn-admin: %s: %s\n", argv[i],
                    slot ? "needs a value" : "unknown option");
            usage(stderr);
            return 2;
        }
        *slot = argv[++i];
    }
    if (!strcmp(cmd, "dump") && dir && !in && !master)
        return cmd_dump(dir, out);
    if (!strcmp(cmd, "dump") && master && !dir && !in) {
        if (!out && isatty(STDOUT_FILENO)) {
            fprintf(stderr, "cairn-admin: refusing to write a compressed dump to a terminal; use "
                            "-o FILE or a pipe\n");
            return 2;
        }
        return cmd_dump_online(master, out);
    }
    if (!strcmp(cmd, "restore") && dir && !out && !master)
        return cmd_restore(dir, in);
    if (!strcmp(cmd, "verify") && !dir && !out && !master)
        return cmd_verify(in);
    fprintf(stderr, "cairn-admin: bad command or options\n");
    usage(stderr);
    return 2;
}
