/*
 * disk_tool.c - `cairn-disk`, the operator's tool for one chunkserver disk.
 *
 * Works straight on the disk (block device or file) with the logstore
 * library, without a running chunkserver: format a disk, check it, list its
 * parts, extract a part's bytes for disaster recovery, print its statistics.
 * Everything but `format` opens the disk read-only and changes nothing, so it
 * is safe on a disk that is failing or belongs to a dead server.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logstore.h"

static int json_out;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cairn-disk COMMAND [options] DISK ...\n"
            "\n"
            "commands:\n"
            "  format [--size SIZE] [--segment-size SIZE] [--cluster HEX32] [--force] DISK\n"
            "        create a logstore on DISK (a block device, or a file preallocated to SIZE)\n"
            "  check [--json] DISK       verify every structure and live record; exit 1 and\n"
            "                            name the damaged records if any\n"
            "  ls [--json] DISK          list parts: chunk (hex), part, version, size, blocks\n"
            "  cat [--version V] [--force] DISK CHUNK PART\n"
            "                            write a part's bytes to stdout (CHUNK in hex);\n"
            "                            --force fills unreadable blocks with zeros\n"
            "  stats [--json] DISK       space, segments and index statistics\n"
            "\n"
            "SIZE takes K, M, G, T suffixes (powers of 1024).\n");
}

static void log_stderr(void *arg, int level, const char *msg)
{
    (void)arg;
    fprintf(stderr, "cairn-disk: %s%s\n", level <= LS_LOG_ERR ? "error: " : "", msg);
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    uint64_t mul = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mul = 1ull << 10;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1ull << 20;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1ull << 30;
        end++;
        break;
    case 't':
    case 'T':
        mul = 1ull << 40;
        end++;
        break;
    case '\0':
        break;
    default:
        return -1;
    }
    if ((*end == 'i' || *end == 'I') && mul > 1)
        end++;
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end || (v && mul > UINT64_MAX / v))
        return -1;
    *out = v * mul;
    return 0;
}

static int parse_hex16(const char *s, uint8_t out[16])
{
    if (strlen(s) != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static void hex16(const uint8_t *u, char out[33])
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", u[i]);
}

static void json_print(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(j);
}

static struct ls *open_ro(const char *path)
{
    struct ls_open_opts o = {.read_only = 1, .log = log_stderr};
    struct ls *ls;
    char err[512] = "";
    int rc = ls_open(path, &o, &ls, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "cairn-disk: %s\n", err[0] ? err : ls_strerror(rc));
        return NULL;
    }
    return ls;
}

static int cmd_format(int argc, char **argv)
{
    static const struct option lo[] = {{"size", required_argument, 0, 's'},
                                       {"segment-size", required_argument, 0, 'g'},
                                       {"cluster", required_argument, 0, 'c'},
                                       {"force", no_argument, 0, 'f'},
                                       {0, 0, 0, 0}};
    struct ls_format_opts fo = {0};
    uint64_t v;
    int c;
    while ((c = getopt_long(argc, argv, "s:g:c:f", lo, NULL)) != -1) {
        switch (c) {
        case 's':
            if (parse_size(optarg, &fo.size) < 0) {
                fprintf(stderr, "cairn-disk format: bad --size '%s' (e.g. 10G)\n", optarg);
                return 2;
            }
            break;
        case 'g':
            if (parse_size(optarg, &v) < 0 || v > UINT32_MAX) {
                fprintf(stderr, "cairn-disk format: bad --segment-size '%s' (e.g. 64M)\n", optarg);
                return 2;
            }
            fo.segment_bytes = (uint32_t)v;
            break;
        case 'c':
            if (parse_hex16(optarg, fo.cluster_id) < 0) {
                fprintf(stderr, "cairn-disk format: bad --cluster '%s' (32 hex digits expected)\n",
                        optarg);
                return 2;
            }
            break;
        case 'f':
            fo.force = 1;
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "cairn-disk format: exactly one DISK expected\n");
        return 2;
    }
    char err[512] = "";
    int rc = ls_format(argv[optind], &fo, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "cairn-disk: %s\n", err[0] ? err : ls_strerror(rc));
        return 1;
    }
    struct ls *ls = open_ro(argv[optind]);
    if (!ls)
        return 1;
    struct ls_stats st;
    ls_stats(ls, &st);
    char u[33];
    hex16(st.disk_uuid, u);
    printf("formatted %s: disk %s, %" PRIu32 " segments of %" PRIu32 " MiB, %" PRIu64
           " MiB writable\n",
           argv[optind], u, st.nsegments, st.segment_bytes >> 20, st.free_bytes >> 20);
    ls_close(ls);
    return 0;
}

/* ---- check -------------------------------------------------------------- */

struct check_ctx {
    json_t *issues;
    int count;
};

static void on_issue(const struct ls_check_issue *is, void *arg)
{
    struct check_ctx *c = arg;
    c->count++;
    if (json_out)
        json_array_append_new(c->issues, json_pack("{s:s, s:I, s:s}", "kind", "structure", "offset",
                                                   (json_int_t)is->offset, "what", is->what));
    else
        printf("BAD  offset %" PRIu64 ": %s\n", is->offset, is->what);
}

static void on_bad(const struct ls_bad_block *b, void *arg)
{
    struct check_ctx *c = arg;
    char chunk[24];
    snprintf(chunk, sizeof(chunk), "%016" PRIx64, b->chunk);
    c->count++;
    if (json_out)
        json_array_append_new(
            c->issues, json_pack("{s:s, s:s, s:i, s:I, s:i, s:I, s:i, s:s}", "kind", "record",
                                 "chunk", chunk, "part", b->part, "version", (json_int_t)b->version,
                                 "block", (int)b->block, "offset", (json_int_t)b->offset, "len",
                                 (int)b->len, "error", ls_strerror(b->error)));
    else
        printf("BAD  chunk %s part %u version %" PRIu64 " block %u at offset %" PRIu64
               " (%u bytes): %s\n",
               chunk, b->part, b->version, b->block, b->offset, b->len, ls_strerror(b->error));
}

static int cmd_check(const char *path)
{
    struct ls *ls = open_ro(path);
    if (!ls)
        return 1;
    struct check_ctx c = {json_array(), 0};
    int rc = ls_check(ls, on_issue, on_bad, &c);
    struct ls_stats st;
    ls_stats(ls, &st);
    ls_close(ls);
    if (rc < 0) {
        fprintf(stderr, "cairn-disk check: %s: %s\n", path, ls_strerror(rc));
        json_decref(c.issues);
        return 1;
    }
    if (json_out) {
        json_print(json_pack("{s:s, s:b, s:i, s:o, s:I, s:I, s:I, s:I}", "disk", path, "ok",
                             c.count == 0, "problems", c.count, "issues", c.issues, "live_bytes",
                             (json_int_t)st.live_bytes, "dead_bytes", (json_int_t)st.dead_bytes,
                             "free_bytes", (json_int_t)st.free_bytes, "parts",
                             (json_int_t)st.nparts));
    } else {
        json_decref(c.issues);
        printf("%s: %" PRIu64 " parts, %" PRIu64 " blocks; live %" PRIu64 " MiB, dead %" PRIu64
               " MiB, free %" PRIu64 " MiB\n",
               path, st.nparts, st.nblocks, st.live_bytes >> 20, st.dead_bytes >> 20,
               st.free_bytes >> 20);
        if (st.recovery_cut)
            printf("note: %" PRIu64 " records of an unacknowledged torn tail are ignored\n",
                   st.recovery_cut);
        printf("%s\n", c.count ? "DAMAGED" : "OK");
    }
    return c.count ? 1 : 0;
}

/* ---- ls ------------------------------------------------------------------ */

static int print_part(const struct ls_part_info *p, void *arg)
{
    json_t *arr = arg;
    char chunk[24];
    snprintf(chunk, sizeof(chunk), "%016" PRIx64, p->chunk);
    if (json_out) {
        json_array_append_new(
            arr, json_pack("{s:s, s:i, s:b, s:I, s:I, s:i, s:I, s:i, s:I}", "chunk", chunk, "part",
                           p->part, "committed", p->committed, "version", (json_int_t)p->version,
                           "size", (json_int_t)p->size, "blocks", (int)p->nblocks, "stored_bytes",
                           (json_int_t)p->stored_bytes, "pending_versions", (int)p->npending,
                           "pending_max", (json_int_t)p->pending_max));
    } else {
        char ver[32];
        if (p->committed)
            snprintf(ver, sizeof(ver), "%" PRIu64, p->version);
        else
            snprintf(ver, sizeof(ver), "-");
        printf("%-16s %5u %10s %12" PRIu64 " %7u", chunk, p->part, ver, p->size, p->nblocks);
        if (p->npending)
            printf("  (+%u uncommitted, up to v%" PRIu64 ")", p->npending, p->pending_max);
        printf("\n");
    }
    return 0;
}

static int cmd_ls(const char *path)
{
    struct ls *ls = open_ro(path);
    if (!ls)
        return 1;
    json_t *arr = json_array();
    if (!json_out)
        printf("%-16s %5s %10s %12s %7s\n", "CHUNK", "PART", "VERSION", "SIZE", "BLOCKS");
    int rc = ls_list_parts(ls, print_part, arr);
    ls_close(ls);
    if (json_out)
        json_print(arr);
    else
        json_decref(arr);
    if (rc < 0) {
        fprintf(stderr, "cairn-disk ls: %s\n", ls_strerror(rc));
        return 1;
    }
    return 0;
}

/* ---- cat ----------------------------------------------------------------- */

static int cmd_cat(int argc, char **argv)
{
    static const struct option lo[] = {
        {"version", required_argument, 0, 'v'}, {"force", no_argument, 0, 'f'}, {0, 0, 0, 0}};
    uint64_t version = 0;
    int force = 0, c;
    while ((c = getopt_long(argc, argv, "v:f", lo, NULL)) != -1) {
        if (c == 'v') {
            char *end;
            version = strtoull(optarg, &end, 10);
            if (*end || !*optarg) {
                fprintf(stderr, "cairn-disk cat: bad --version '%s'\n", optarg);
                return 2;
            }
        } else if (c == 'f') {
            force = 1;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 3) {
        fprintf(stderr, "cairn-disk cat: usage: cairn-disk cat [--version V] DISK CHUNK PART\n");
        return 2;
    }
    const char *path = argv[optind];
    char *end;
    const char *cs = argv[optind + 1];
    if (cs[0] == '0' && (cs[1] == 'x' || cs[1] == 'X'))
        cs += 2;
    errno = 0;
    uint64_t chunk = strtoull(cs, &end, 16);
    if (errno || *end || !*cs) {
        fprintf(stderr, "cairn-disk cat: bad CHUNK '%s' (hex, as `cairn-disk ls` prints it)\n",
                argv[optind + 1]);
        return 2;
    }
    unsigned long part = strtoul(argv[optind + 2], &end, 10);
    if (*end || !argv[optind + 2][0] || part > UINT16_MAX) {
        fprintf(stderr, "cairn-disk cat: bad PART '%s' (0..65535)\n", argv[optind + 2]);
        return 2;
    }
    if (isatty(STDOUT_FILENO)) {
        fprintf(stderr, "cairn-disk cat: refusing to write binary data to a terminal; "
                        "redirect stdout to a file\n");
        return 2;
    }
    struct ls *ls = open_ro(path);
    if (!ls)
        return 1;
    struct ls_part_info pi;
    int rc = ls_part_stat(ls, chunk, (uint16_t)part, &pi);
    if (rc < 0 || (!pi.committed && version == 0)) {
        fprintf(stderr, "cairn-disk cat: chunk %016" PRIx64 " part %lu: %s\n", chunk, part,
                rc < 0 ? "not on this disk" : "has no committed version (use --version)");
        ls_close(ls);
        return 1;
    }
    uint64_t size = pi.size;
    if (version && version != pi.version) {
        /* An uncommitted version: its extent is what its blocks cover. */
        size = 0;
        uint8_t probe[LS_BLOCK_MAX];
        for (uint32_t b = 0; b < LS_MAX_BLOCKS_PER_PART; b++) {
            ssize_t r = ls_read(ls, chunk, (uint16_t)part, version, b, probe, sizeof(probe));
            if (r == -ESTALE) {
                fprintf(stderr, "cairn-disk cat: no version %" PRIu64 " of that part\n", version);
                ls_close(ls);
                return 1;
            }
            if (r > 0 || r == LS_ECORRUPT)
                size = (uint64_t)b * LS_BLOCK_MAX + (r > 0 ? (uint64_t)r : LS_BLOCK_MAX);
        }
    }
    static uint8_t buf[LS_BLOCK_MAX];
    int errors = 0;
    uint64_t nblocks = (size + LS_BLOCK_MAX - 1) / LS_BLOCK_MAX;
    for (uint64_t b = 0; b < nblocks; b++) {
        size_t want =
            size - b * LS_BLOCK_MAX < LS_BLOCK_MAX ? size - b * LS_BLOCK_MAX : LS_BLOCK_MAX;
        ssize_t r = ls_read(ls, chunk, (uint16_t)part, version, (uint32_t)b, buf, sizeof(buf));
        if (r == -ENODATA) {
            r = 0; /* a hole reads as zeros */
        } else if (r < 0) {
            fprintf(stderr, "cairn-disk cat: block %" PRIu64 ": %s%s\n", b, ls_strerror((int)r),
                    force ? " (writing zeros)" : "");
            errors++;
            if (!force)
                break;
            r = 0;
        }
        if ((size_t)r < want)
            memset(buf + r, 0, want - (size_t)r);
        if (fwrite(buf, 1, want, stdout) != want) {
            fprintf(stderr, "cairn-disk cat: writing stdout: %s\n", strerror(errno));
            errors++;
            break;
        }
    }
    ls_close(ls);
    if (fflush(stdout) != 0)
        errors++;
    return errors ? 1 : 0;
}

/* ---- stats --------------------------------------------------------------- */

static const char *seg_state(int s)
{
    switch (s) {
    case LS_SEG_FREE:
        return "free";
    case LS_SEG_OPEN:
        return "open";
    case LS_SEG_SEALED:
        return "sealed";
    default:
        return "compacting";
    }
}

static int cmd_stats(const char *path)
{
    struct ls *ls = open_ro(path);
    if (!ls)
        return 1;
    struct ls_stats st;
    ls_stats(ls, &st);
    int n = ls_segments(ls, NULL, 0);
    struct ls_seg_info *si = calloc((size_t)n, sizeof(*si));
    if (si)
        ls_segments(ls, si, (uint32_t)n);
    ls_close(ls);
    if (!si)
        return 1;
    char u[33], cl[33];
    hex16(st.disk_uuid, u);
    hex16(st.cluster_id, cl);
    if (json_out) {
        json_t *segs = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(
                segs, json_pack("{s:i, s:s, s:I, s:I, s:I, s:I}", "index", (int)si[i].index,
                                "state", seg_state(si[i].state), "written",
                                (json_int_t)si[i].written, "live", (json_int_t)si[i].live, "dead",
                                (json_int_t)si[i].dead, "mtime", (json_int_t)si[i].mtime));
        json_t *o = json_object();
        json_object_set_new(o, "disk", json_string(path));
        json_object_set_new(o, "uuid", json_string(u));
        json_object_set_new(o, "cluster", json_string(cl));
        json_object_set_new(o, "disk_bytes", json_integer((json_int_t)st.disk_bytes));
        json_object_set_new(o, "segment_bytes", json_integer(st.segment_bytes));
        json_object_set_new(o, "segments", json_integer(st.nsegments));
        json_object_set_new(o, "free_segments", json_integer(st.free_segments));
        json_object_set_new(o, "free_bytes", json_integer((json_int_t)st.free_bytes));
        json_object_set_new(o, "live_bytes", json_integer((json_int_t)st.live_bytes));
        json_object_set_new(o, "dead_bytes", json_integer((json_int_t)st.dead_bytes));
        json_object_set_new(o, "parts", json_integer((json_int_t)st.nparts));
        json_object_set_new(o, "blocks", json_integer((json_int_t)st.nblocks));
        json_object_set_new(o, "seq", json_integer((json_int_t)st.seq));
        json_object_set_new(o, "checkpoint_seq", json_integer((json_int_t)st.checkpoint_seq));
        json_object_set_new(o, "index_bytes", json_integer((json_int_t)st.index_bytes));
        json_object_set_new(o, "index_capacity", json_integer((json_int_t)st.index_capacity));
        json_object_set_new(o, "compressed_blocks", json_integer((json_int_t)st.compressed_blocks));
        json_object_set_new(o, "compressed_saved_bytes",
                            json_integer((json_int_t)st.compressed_saved_bytes));
        json_object_set_new(o, "segment_table", segs);
        json_print(o);
    } else {
        printf("disk        %s\nuuid        %s\ncluster     %s\n", path, u, cl);
        printf("size        %" PRIu64 " MiB in %u segments of %u MiB (%u free)\n",
               st.disk_bytes >> 20, st.nsegments, st.segment_bytes >> 20, st.free_segments);
        printf("live        %" PRIu64 " MiB\ndead        %" PRIu64 " MiB (reclaimable)\n",
               st.live_bytes >> 20, st.dead_bytes >> 20);
        printf("free        %" PRIu64 " MiB\n", st.free_bytes >> 20);
        printf("parts       %" PRIu64 " (%" PRIu64 " blocks)\n", st.nparts, st.nblocks);
        printf("compressed  %" PRIu64 " blocks, saving %" PRIu64 " MiB\n", st.compressed_blocks,
               st.compressed_saved_bytes >> 20);
        printf("index       %" PRIu64 " KiB of %" PRIu64 " KiB checkpoint slot\n",
               st.index_bytes >> 10, st.index_capacity >> 10);
        printf("log         seq %" PRIu64 ", checkpoint at %" PRIu64 "\n", st.seq,
               st.checkpoint_seq);
        printf("\n%5s %-10s %10s %10s %10s\n", "SEG", "STATE", "WRITTEN", "LIVE", "DEAD");
        for (int i = 0; i < n; i++)
            if (si[i].state != LS_SEG_FREE)
                printf("%5u %-10s %9" PRIu64 "K %9" PRIu64 "K %9" PRIu64 "K\n", si[i].index,
                       seg_state(si[i].state), si[i].written >> 10, si[i].live >> 10,
                       si[i].dead >> 10);
    }
    free(si);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    argc--;
    argv++;
    if (!strcmp(cmd, "format"))
        return cmd_format(argc, argv);
    if (!strcmp(cmd, "cat"))
        return cmd_cat(argc, argv);
    if (strcmp(cmd, "check") && strcmp(cmd, "ls") && strcmp(cmd, "stats")) {
        fprintf(stderr, "cairn-disk: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    static const struct option lo[] = {{"json", no_argument, 0, 'j'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "j", lo, NULL)) != -1) {
        if (c != 'j') {
            usage(stderr);
            return 2;
        }
        json_out = 1;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "cairn-disk %s: exactly one DISK expected\n", cmd);
        return 2;
    }
    const char *path = argv[optind];
    if (!strcmp(cmd, "check"))
        return cmd_check(path);
    if (!strcmp(cmd, "ls"))
        return cmd_ls(path);
    return cmd_stats(path);
}
