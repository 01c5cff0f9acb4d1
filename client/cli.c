/*
 * cli.c - `cairn`, the admin CLI: status, servers, disks, info PATH, and
 * the removal marks (disk remove|keep SERVER:DISK, server remove|keep SERVER),
 * and fsck [--repair].
 *
 * Connects to the master's client port (-m HOST:PORT, else $CAIRN_MASTER,
 * else 127.0.0.1:9421) with the blocking cn_sock_* helpers, says HELLO as
 * admin, sends one ADM_* request and prints the JSON reply: pretty-printed
 * by jansson with --json (parsed, then dumped; never assembled by hand), or
 * rendered as human tables. Exit codes: 0 ok, 1 the request failed (master
 * unreachable, error reply), 2 usage, 3 fsck findings left unrepaired.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cls.h"
#include "config.h"
#include "ec.h"
#include "net.h"
#include "wire.h"

#define CLI_DEFAULT_MASTER "127.0.0.1:9421"
#define CLI_CONNECT_MS     3000
#define CLI_CALL_MS        15000
#define CLI_FSCK_MS        3600000 /* a full scan of a large namespace */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cairn [-m HOST:PORT] [--json] COMMAND\n"
            "  -m HOST:PORT  master address (default: $CAIRN_MASTER, else " CLI_DEFAULT_MASTER ")\n"
            "  --json        print the master's JSON reply (pretty-printed)\n"
            "  status        chunk health, space and servers\n"
            "  servers       chunkservers: address, state, labels, disks, space\n"
            "  disks         every disk of every chunkserver\n"
            "  info PATH     a file's chunks and where their parts are: a path on a\n"
            "                local Cairn mount (its master is used unless -m), or an\n"
            "                absolute path inside the file system\n"
            "  disk remove SERVER:DISK   mark a disk for removal: its parts are copied\n"
            "                elsewhere, then deleted from it (`disks` shows when it is\n"
            "                safe to pull); DISK is its path, 0-based index or uuid\n"
            "  disk keep SERVER:DISK     undo `disk remove`\n"
            "  disk rescan [SERVER]      reopen the missing or failed disks of a\n"
            "                chunkserver (default: every online one), e.g. a USB disk\n"
            "                plugged back; `disks` shows them online again\n"
            "  server remove SERVER      drain every disk of a chunkserver\n"
            "  server keep SERVER        undo `server remove`\n"
            "  trash ls [PATTERN]        deleted files and directories waiting in the\n"
            "                trash (PATTERN: a glob or a path prefix)\n"
            "  trash restore ID|PATH [--to DIR]  put back one item, or everything deleted\n"
            "                at or below PATH (directories come back too)\n"
            "  trash purge ID|--all      free now\n"
            "  trashtime get|set|clear PATH [DURATION] [-r]  how long deletes below PATH\n"
            "                stay in the trash (0: freed at once); -r: every entry below\n"
            "  snapshot SRC DST          copy a file or a tree in metadata only: the\n"
            "                chunks are shared until either side writes them\n"
            "  quota set PATH [--bytes SIZE] [--inodes N] [--soft-bytes SIZE]\n"
            "                [--soft-inodes N] [--grace DUR]  limits of a directory (0: none;\n"
            "                writes past a hard limit fail with EDQUOT; df inside shows it)\n"
            "  quota get|rm PATH, quota ls\n"
            "  class ...                 storage classes (`cairn class --help`)\n"
            "  fsck [--repair]           check the metadata against itself and against the\n"
            "                chunkservers' reports; --repair fixes what it found (exit 3:\n"
            "                findings left unrepaired)\n");
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "cairn: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    usage(stderr);
    return 2;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static long long jint(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* "1.5G": bytes in binary units, into buf. */
static const char *fmt_size(long long v, char *buf, size_t len)
{
    static const char units[] = "BKMGTPE";
    double d = v < 0 ? 0 : (double)v;
    int u = 0;
    while (d >= 1024 && u < 6) {
        d /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%lldB", v < 0 ? 0 : v);
    else
        snprintf(buf, len, "%.1f%c", d, units[u]);
    return buf;
}

static void print_servers_table(const json_t *servers)
{
    char u[32], t[32];
    printf("%-16s %-22s %-12s %-16s %5s %9s %9s %8s\n", "NAME", "ADDRESS", "STATE", "LABELS",
           "DISKS", "USED", "TOTAL", "PARTS");
    size_t i;
    json_t *s;
    json_array_foreach(servers, i, s)
    {
        long long total = jint(s, "total");
        printf("%-16s %-22s %-12s %-16s %5zu %9s %9s %8lld\n", jstr(s, "name"), jstr(s, "addr"),
               jstr(s, "state"), *jstr(s, "labels") ? jstr(s, "labels") : "-",
               json_array_size(json_object_get(s, "disks")),
               fmt_size(total - jint(s, "free"), u, sizeof(u)), fmt_size(total, t, sizeof(t)),
               jint(s, "parts"));
    }
    if (!json_array_size(servers))
        printf("(no chunkservers registered)\n");
}

static void print_status(const json_t *j)
{
    char u[32], t[32], f[32];
    const json_t *c = json_object_get(j, "chunks");
    printf(
        "chunks: ok %lld, overgoal %lld, undergoal %lld, endangered %lld, lost %lld (empty %lld, "
        "goal %lld)\n",
        jint(c, "ok"), jint(c, "overgoal"), jint(c, "undergoal"), jint(c, "endangered"),
        jint(c, "lost"), jint(c, "empty"), jint(j, "goal"));
    size_t ci;
    json_t *cl;
    json_array_foreach(json_object_get(j, "classes"), ci, cl)
    {
        printf("  class %-16s %lld chunks: ok %lld, undergoal %lld, misplaced %lld, lost %lld\n",
               jstr(cl, "name"), jint(cl, "chunks"), jint(cl, "ok"), jint(cl, "undergoal"),
               jint(cl, "misplaced"), jint(cl, "lost"));
    }
    const json_t *h = json_object_get(j, "health");
    if (h) {
        char r[32], b[32];
        long long eta = jint(h, "eta_seconds");
        printf("health: queues repair %lld (endangered %lld), drain %lld, rebalance %lld, delete "
               "%lld; %lld copies running, %s/s; %s to repair, ",
               jint(h, "repair_queue"), jint(h, "endangered_queue"), jint(h, "drain_queue"),
               jint(h, "rebalance_queue"), jint(h, "delete_queue"), jint(h, "inflight"),
               fmt_size(jint(h, "bytes_per_sec"), r, sizeof(r)),
               fmt_size(jint(h, "bytes_to_repair"), b, sizeof(b)));
        if (eta < 0)
            printf("time to full redundancy unknown\n");
        else
            printf("full redundancy in ~%llds\n", eta);
        if (json_is_true(json_object_get(h, "starting")))
            printf("health: waiting for chunkservers to register (HEALTH_START_MS)\n");
    }
    size_t li;
    json_t *l;
    json_array_foreach(json_object_get(j, "lost_chunks"), li, l)
    {
        printf("LOST: chunk %s of %s (inode %lld), chunk index %lld\n", jstr(l, "chunk"),
               *jstr(l, "path") ? jstr(l, "path") : "(path unknown)", jint(l, "ino"),
               jint(l, "index"));
    }
    long long total = jint(j, "total"), free_b = jint(j, "free");
    printf("space:  used %s of %s, free %s (online servers); file data %s in %lld inodes\n",
           fmt_size(total - free_b, u, sizeof(u)), fmt_size(total, t, sizeof(t)),
           fmt_size(free_b, f, sizeof(f)), fmt_size(jint(j, "used_bytes"), u, sizeof(u)),
           jint(j, "inodes"));
    const json_t *mls = json_object_get(j, "metaloggers");
    printf("metadata: changelog entry %lld (oldest kept %lld), %zu metaloggers\n", jint(j, "seq"),
           jint(j, "changelog_first"), json_array_size(mls));
    json_array_foreach(mls, li, l)
    {
        double lag = json_real_value(json_object_get(l, "lag_seconds"));
        printf("  metalogger %-16s %-22s %-12s entry %lld, behind %lld entries, ", jstr(l, "name"),
               jstr(l, "addr"),
               json_is_true(json_object_get(l, "connected")) ? "connected" : "disconnected",
               jint(l, "seq"), jint(l, "lag_entries"));
        if (lag < 0)
            printf("needs a new checkpoint\n");
        else
            printf("%.1fs\n", lag);
    }
    printf("\n");
    print_servers_table(json_object_get(j, "servers"));
}

static void print_fsck(const json_t *j)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(j, "findings"), i, f)
    {
        const char *p = jstr(f, "path");
        printf("%-18s %s%s%s%s\n", jstr(f, "kind"), jstr(f, "detail"), *p ? " [" : "", p,
               *p ? "]" : "");
    }
    printf("fsck%s: %lld inodes, %lld entries, %lld chunks checked in %lld ms%s; %lld findings, "
           "%lld repaired\n",
           json_is_true(json_object_get(j, "repair")) ? " --repair" : "", jint(j, "inodes"),
           jint(j, "dentries"), jint(j, "chunks"), jint(j, "ms"),
           json_is_true(json_object_get(j, "parts_checked"))
               ? ""
               : " (chunk presence NOT checked: chunkservers are still registering)",
           jint(j, "findings_total"), jint(j, "repaired"));
}

static void print_quota(const json_t *q)
{
    char u[32], sl[32], hl[32];
    const json_t *b = json_object_get(q, "bytes"), *n = json_object_get(q, "inodes");
    printf("%s\n  bytes:  used %s, soft %s, hard %s%s\n", jstr(q, "path"),
           fmt_size(jint(b, "used"), u, sizeof(u)),
           jint(b, "soft") ? fmt_size(jint(b, "soft"), sl, sizeof(sl)) : "-",
           jint(b, "hard") ? fmt_size(jint(b, "hard"), hl, sizeof(hl)) : "-",
           jint(b, "over_since") ? " (over the soft limit)" : "");
    printf("  inodes: used %lld, soft ", jint(n, "used"));
    if (jint(n, "soft"))
        printf("%lld", jint(n, "soft"));
    else
        printf("-");
    printf(", hard ");
    if (jint(n, "hard"))
        printf("%lld", jint(n, "hard"));
    else
        printf("-");
    printf("%s\n  grace:  %llds\n", jint(n, "over_since") ? " (over the soft limit)" : "",
           jint(q, "grace"));
}

static void print_quotas(const json_t *j)
{
    const json_t *list = json_object_get(j, "quotas");
    size_t i;
    json_t *q;
    if (!list) {
        print_quota(j);
        if (json_is_true(json_object_get(j, "removed")))
            printf("  removed\n");
        return;
    }
    json_array_foreach(list, i, q) print_quota(q);
    if (!json_array_size(list))
        printf("(no quotas)\n");
}

/* Returns how many items failed to restore. */
static int print_trash(const json_t *j)
{
    size_t i;
    json_t *t;
    const json_t *list = json_object_get(j, "trash");
    if (list) {
        printf("%-10s %-7s %12s %-20s %-20s %s\n", "ID", "KIND", "SIZE", "DELETED", "EXPIRES",
               "PATH");
        json_array_foreach(list, i, t)
        {
            char d[32], e[32];
            time_t dt = (time_t)jint(t, "deleted_at"), et = (time_t)jint(t, "expires_at");
            strftime(d, sizeof(d), "%F %T", localtime(&dt));
            strftime(e, sizeof(e), "%F %T", localtime(&et));
            printf("%-10lld %-7s %12lld %-20s %-20s %s\n", jint(t, "id"), jstr(t, "kind"),
                   jint(t, "size"), d, e, jstr(t, "path"));
        }
        printf("%zu items in the trash\n", json_array_size(list));
        return 0;
    }
    if (json_object_get(j, "purged")) {
        printf("purged %lld items\n", jint(j, "purged"));
        return 0;
    }
    json_array_foreach(json_object_get(j, "restored"), i, t)
        printf("restored %s\n", jstr(t, "path"));
    json_array_foreach(json_object_get(j, "errors"), i, t)
        printf("NOT restored %s: %s\n", jstr(t, "path"), jstr(t, "error"));
    return (int)json_array_size(json_object_get(j, "errors"));
}

static void print_disks(const json_t *j)
{
    char u[32], t[32];
    const json_t *disks = json_object_get(j, "disks");
    printf("%-16s %3s %-32s %-10s %-12s %9s %9s %5s %8s  %s\n", "SERVER", "IDX", "PATH", "STATE",
           "SERVER_STATE", "USED", "TOTAL", "USE%", "PARTS", "REMOVAL");
    size_t i;
    json_t *d;
    json_array_foreach(disks, i, d)
    {
        char removal[96] = "-";
        long long total = jint(d, "total");
        if (json_is_true(json_object_get(d, "leaving"))) {
            if (json_is_true(json_object_get(d, "safe_to_pull")))
                snprintf(removal, sizeof(removal), "draining (%s): SAFE TO PULL%s", jstr(d, "mark"),
                         jint(d, "parts") ? ", surplus parts being deleted" : "");
            else
                snprintf(removal, sizeof(removal), "draining (%s): %lld parts still needed",
                         jstr(d, "mark"), jint(d, "parts_needed"));
        }
        printf("%-16s %3lld %-32s %-10s %-12s %9s %9s %4.0f%% %8lld  %s\n", jstr(d, "server"),
               jint(d, "index"), jstr(d, "path"), jstr(d, "state"), jstr(d, "server_state"),
               fmt_size(jint(d, "used"), u, sizeof(u)), fmt_size(total, t, sizeof(t)),
               total > 0 ? 100.0 * (double)jint(d, "used") / (double)total : 0.0, jint(d, "parts"),
               removal);
    }
    if (!json_array_size(disks))
        printf("(no disks)\n");
}

static void print_info(const json_t *j)
{
    char s[32];
    mode_t mode = (mode_t)jint(j, "mode");
    printf("path:  %s\ninode: %lld\ntype:  %s\nmode:  %04o\nsize:  %lld (%s)\nnlink: %lld\n",
           jstr(j, "path"), jint(j, "ino"),
           S_ISREG(mode)   ? "file"
           : S_ISDIR(mode) ? "directory"
           : S_ISLNK(mode) ? "symlink"
                           : "other",
           (unsigned)(mode & 07777), jint(j, "size"), fmt_size(jint(j, "size"), s, sizeof(s)),
           jint(j, "nlink"));
    if (*jstr(j, "class"))
        printf("class: %s\n", jstr(j, "class"));
    const json_t *chunks = json_object_get(j, "chunks");
    if (!chunks)
        return;
    printf("chunks: %zu\n", json_array_size(chunks));
    size_t i;
    json_t *c;
    json_array_foreach(chunks, i, c)
    {
        printf("  chunk %lld id %s version %lld length %lld %s%s%s live %lld/%lld%s\n",
               jint(c, "index"), jstr(c, "id"), jint(c, "version"), jint(c, "length"),
               jstr(c, "layout"), *jstr(c, "target") ? " -> " : "", jstr(c, "target"),
               jint(c, "live"), jint(c, "goal"),
               json_is_true(json_object_get(c, "leased")) ? " (write lease)" : "");
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(c, "parts"), k, p)
        {
            printf("    part %lld  server %s (%s)  disk %s  version %lld  %s%s\n", jint(p, "part"),
                   jstr(p, "server"), jstr(p, "server_state"), jstr(p, "disk"), jint(p, "version"),
                   jstr(p, "state"), json_is_true(json_object_get(p, "current")) ? "" : "  STALE");
        }
        if (!json_array_size(json_object_get(c, "parts")))
            printf("    (no parts)\n");
    }
}

/* If path is on a local Cairn mount (fuse.cairn in /proc/self/mountinfo),
 * give its path inside the file system and the mount's master (from its
 * fsname "cairn:HOST:PORT"). A path that does not exist (a deleted file to
 * restore from the trash) is taken as written when it is absolute. 0 or -1. */
static int mount_resolve(const char *path, char *fspath, size_t n, char *master, size_t mn)
{
    char rp[PATH_MAX];
    if (!realpath(path, rp)) {
        if (path[0] != '/' || strlen(path) >= sizeof(rp))
            return -1;
        snprintf(rp, sizeof(rp), "%s", path);
    }
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return -1;
    char line[4096], best[PATH_MAX] = "", src[300] = "";
    while (fgets(line, sizeof(line), f)) {
        char mp[PATH_MAX], fstype[64], source[300];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
            sscanf(dash + 3, "%63s %299s", fstype, source) != 2)
            continue;
        if (strcmp(fstype, "fuse.cairn") || strncmp(source, "cairn:", 6))
            continue;
        size_t ml = strlen(mp);
        if (strncmp(rp, mp, ml) || (rp[ml] != '/' && rp[ml] != 0 && ml > 1))
            continue;
        if (ml > strlen(best) || !best[0]) {
            snprintf(best, sizeof(best), "%s", mp);
            snprintf(src, sizeof(src), "%s", source + 6);
        }
    }
    fclose(f);
    if (!best[0])
        return -1;
    const char *rest = rp + (strcmp(best, "/") ? strlen(best) : 0);
    snprintf(fspath, n, "%s", *rest ? rest : "/");
    snprintf(master, mn, "%s", src);
    return 0;
}

/* ---- cairn class ... ------------------------------------------------------------- */

/* One request to the master: HELLO as admin, then msg; the JSON reply in
 * *out. 0, or 1 after printing why it failed (prefix: what was asked). */
static int master_call(const char *master, uint16_t type, const void *msg, const char *what,
                       json_t **out)
{
    if (!master || !*master) {
        const char *env = getenv("CAIRN_MASTER");
        master = env && *env ? env : CLI_DEFAULT_MASTER;
    }
    struct cn_addr addr;
    if (cn_parse_addr(master, 9421, &addr) < 0 || addr.port == 0 || !addr.host[0])
        return usage_error("bad master address (want HOST:PORT)", master);
    char name[300], err[512] = "";
    cn_addr_format(&addr, name, sizeof(name));
    int fd = cn_sock_connect(&addr, CLI_CONNECT_MS);
    if (fd < 0) {
        fprintf(stderr, "cairn: cannot connect to the master at %s: %s\n", name, cn_strerror(fd));
        return 1;
    }
    struct cn_buf reply = {0};
    struct cn_frame_hdr rh;
    struct cn_hello hello = {CN_ROLE_ADMIN,       CN_WIRE_VERSION_MIN, CN_WIRE_VERSION,
                             CN_STR("cairn-cli"), {NULL, 0},           {NULL, 0}};
    int ret = 1;
    int rc = cn_sock_call(fd, CN_MSG_HELLO, 1, &hello, &rh, &reply, CLI_CALL_MS, err, sizeof(err));
    if (rc == 0 && rh.type != CN_MSG_HELLO_R)
        rc = CN_EMALFORMED;
    if (rc) {
        fprintf(stderr, "cairn: HELLO to the master at %s failed: %s%s%s\n", name, cn_strerror(rc),
                err[0] ? ": " : "", err);
        goto out;
    }
    err[0] = 0;
    rc = cn_sock_call(fd, type, 2, msg, &rh, &reply, CLI_CALL_MS, err, sizeof(err));
    if (rc == 0 && rh.type != (type | CN_MSG_REPLY))
        rc = CN_EMALFORMED;
    if (rc) {
        fprintf(stderr, "cairn: %s (master %s): %s\n", what, name, err[0] ? err : cn_strerror(rc));
        goto out;
    }
    struct cn_json_r jr;
    rc = cn_msg_decode(rh.type, reply.data, reply.len, &jr);
    json_error_t je;
    json_t *j = rc ? NULL : json_loadb((const char *)jr.json.ptr, jr.json.len, 0, &je);
    if (!j || !json_is_object(j)) {
        fprintf(stderr, "cairn: bad reply from the master at %s\n", name);
        json_decref(j);
        goto out;
    }
    *out = j;
    ret = 0;
out:
    cn_buf_release(&reply);
    close(fd);
    return ret;
}

/* *path on a local Cairn mount becomes its path inside the file system
 * (and *master the mount's, unless given); else it must be absolute.
 * 0, or -1 after a usage error. */
static int fs_path(const char **path, const char **master, char *buf, size_t n, char *mm, size_t mn)
{
    if (mount_resolve(*path, buf, n, mm, mn) == 0) {
        *path = buf;
        if (!*master)
            *master = mm;
    } else if ((*path)[0] != '/') {
        usage_error("not on a Cairn mount here and not an absolute path inside the file system",
                    *path);
        return -1;
    }
    return 0;
}

static void class_usage(FILE *f)
{
    fprintf(
        f, "usage: cairn [-m HOST:PORT] [--json] class COMMAND\n"
           "  class add NAME --create SPEC [--keep SPEC] [--archive SPEC after=DUR]\n"
           "            [--trash SPEC]     a new storage class\n"
           "  class edit NAME [--create SPEC] [--keep SPEC|-] [--archive SPEC|-] [--trash SPEC|-]\n"
           "                              change states ('-' unsets one)\n"
           "  class ls | class show NAME | class rm NAME (refused while in use)\n"
           "  class set PATH NAME [-r]    put a file or directory (-r: the tree) in a class\n"
           "  class get PATH              a file's or directory's class\n"
           "SPEC: copies=N | ec=K+M, then optional labels=EXPR mode=strict|loose\n"
           "      compress=zstd after=DUR (archive). EXPR: ssd, hdd|ssd, ssd&fast, !usb, *,\n"
           "      or one per part: ssd,ssd,backup. New files take their directory's class.\n");
}

static void print_class(const json_t *c)
{
    printf("%s%s%s\n", jstr(c, "name"),
           json_is_true(json_object_get(c, "builtin")) ? " (built in)" : "",
           json_is_true(json_object_get(c, "default")) ? " (default)" : "");
    static const char *st[] = {"create", "keep", "archive", "trash"};
    for (int i = 0; i < 4; i++) {
        const char *s = jstr(c, st[i]);
        printf("  %-8s %s\n", st[i], *s ? s : "(unset)");
    }
}

static int class_main(int argc, char **argv, int first, const char *master, int as_json)
{
    const char *pos[3] = {NULL, NULL, NULL};
    const char *spec[4] = {NULL, NULL, NULL, NULL};
    char archive[1024];
    int npos = 0, recursive = 0;
    static const char *opt[4] = {"--create", "--keep", "--archive", "--trash"};
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        int s = -1;
        for (int k = 0; k < 4; k++)
            if (strcmp(a, opt[k]) == 0)
                s = k;
        if (s >= 0) {
            if (++i >= argc)
                return usage_error("option needs a SPEC", a);
            if (spec[s])
                return usage_error("option given twice", a);
            spec[s] = argv[i];
            /* `--archive SPEC after=DUR`: the duration may follow as its own word */
            if (s == 2 && i + 1 < argc && strncmp(argv[i + 1], "after=", 6) == 0) {
                snprintf(archive, sizeof(archive), "%s %s", argv[i], argv[i + 1]);
                spec[s] = archive;
                i++;
            }
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--recursive") == 0) {
            recursive = 1;
        } else if (strcmp(a, "--json") == 0) {
            as_json = 1;
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--master") == 0) {
            if (++i >= argc)
                return usage_error("option needs an argument", a);
            master = argv[i];
        } else if (strncmp(a, "--master=", 9) == 0) {
            master = a + 9;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            class_usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "cairn: class: unknown option: %s\n", a);
            class_usage(stderr);
            return 2;
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            fprintf(stderr, "cairn: class: too many arguments: %s\n", a);
            return 2;
        }
    }
    static const char *ops[] = {"", "add", "ls", "show", "edit", "rm", "set", "get"};
    static const int nargs[] = {0, 1, 0, 1, 1, 1, 2, 1};
    int op = 0;
    for (int k = 1; k < 8 && pos[0]; k++)
        if (strcmp(pos[0], ops[k]) == 0)
            op = k;
    if (!op) {
        fprintf(stderr, "cairn: class: %s%s\n", pos[0] ? "unknown command: " : "no command given",
                pos[0] ? pos[0] : "");
        class_usage(stderr);
        return 2;
    }
    if (npos - 1 != nargs[op]) {
        fprintf(stderr, "cairn: class %s: wants %d argument(s), got %d\n", ops[op], nargs[op],
                npos - 1);
        class_usage(stderr);
        return 2;
    }
    int any_spec = spec[0] || spec[1] || spec[2] || spec[3];
    if (any_spec && op != 1 && op != 4)
        return usage_error("--create/--keep/--archive/--trash go with class add and edit", NULL);
    if (op == 1 && !spec[0])
        return usage_error("class add needs --create SPEC", NULL);
    if (op == 4 && !any_spec)
        return usage_error("class edit needs a state to change", NULL);
    if (recursive && op != 6)
        return usage_error("-r goes with class set", NULL);
    /* check the SPECs here too: the error points at the token */
    for (int s = 0; s < 4; s++) {
        struct cn_cls_state st;
        char err[256];
        if (!spec[s] || (op == 4 && strcmp(spec[s], "-") == 0))
            continue;
        struct ec_layout el = {EC_LAYOUT_RS, 0, 0, 0};
        int bad = cn_cls_spec_parse(spec[s], s, &st, err, sizeof(err)) < 0;
        if (!bad && st.layout.kind == CN_LAYOUT_EC) {
            el.k = st.layout.k;
            el.m = st.layout.m;
            bad = ec_layout_check(&el, err, sizeof(err)) < 0;
        }
        if (bad) {
            fprintf(stderr, "cairn: class %s: %s SPEC \"%s\": %s\n", ops[op], opt[s] + 2, spec[s],
                    err);
            return 2;
        }
    }
    struct cn_adm_class req;
    memset(&req, 0, sizeof(req));
    req.op = (uint8_t)op;
    req.name = cn_str_of(op == 6 ? pos[2] : op == 7 || op == 2 ? "" : pos[1]);
    req.path = cn_str_of("");
    req.recursive = (uint8_t)recursive;
    for (int s = 0; s < 4; s++)
        req.spec[s] = cn_str_of(spec[s] ? spec[s] : "");
    if (req.name.len && !cn_cls_name_ok(op == 6 ? pos[2] : pos[1]))
        return usage_error("bad class name (1-63 of A-Z a-z 0-9 _ . + -, not starting with -)",
                           op == 6 ? pos[2] : pos[1]);
    char fsbuf[PATH_MAX], mm[300];
    const char *path = pos[1];
    if (op == 6 || op == 7) {
        if (fs_path(&path, &master, fsbuf, sizeof(fsbuf), mm, sizeof(mm)) < 0)
            return 2;
        req.path = cn_str_of(path);
    }
    char what[512];
    snprintf(what, sizeof(what), "class %s%s%s%s%s", ops[op], pos[1] ? " " : "",
             pos[1] ? pos[1] : "", pos[2] ? " " : "", pos[2] ? pos[2] : "");
    json_t *j = NULL;
    int rc = master_call(master, CN_MSG_ADM_CLASS, &req, what, &j);
    if (rc)
        return rc;
    if (as_json) {
        if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0)
            fputc('\n', stdout);
    } else if (op == 2) {
        size_t i;
        json_t *c;
        printf("%-16s %-3s %-28s %-28s %s\n", "NAME", "ID", "CREATE", "KEEP", "ARCHIVE");
        json_array_foreach(json_object_get(j, "classes"), i, c)
        {
            const char *ar = jstr(c, "archive");
            printf("%-16s %-3lld %-28s %-28s %s%s\n", jstr(c, "name"), jint(c, "id"),
                   jstr(c, "create"), *jstr(c, "keep") ? jstr(c, "keep") : "(as create)",
                   *ar ? ar : "-",
                   json_is_true(json_object_get(c, "default")) ? "  [default]" : "");
        }
    } else if (op == 5) {
        printf("class %s removed\n", jstr(j, "name"));
    } else if (op == 6) {
        printf("%s: class %s (%lld inodes, %lld chunks changed class)\n", jstr(j, "path"),
               jstr(j, "class"), jint(j, "inodes"), jint(j, "chunks"));
    } else if (op == 7) {
        printf("%s: %s\n", jstr(j, "path"), jstr(j, "class"));
        print_class(json_object_get(j, "spec"));
    } else {
        print_class(j);
    }
    json_decref(j);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *master = NULL, *cmd = NULL, *path = NULL, *target = NULL, *extra = NULL;
    const char *to = NULL;
    const char *q_bytes = NULL, *q_inodes = NULL, *q_sbytes = NULL, *q_sinodes = NULL,
               *q_grace = NULL;
    int as_json = 0, repair = 0, all = 0, recursive = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-m") == 0 || strcmp(a, "--master") == 0) {
            if (++i >= argc)
                return usage_error("option needs an argument", a);
            master = argv[i];
        } else if (strncmp(a, "--master=", 9) == 0) {
            master = a + 9;
        } else if (strcmp(a, "--json") == 0) {
            as_json = 1;
        } else if (strcmp(a, "--repair") == 0) {
            repair = 1;
        } else if (strcmp(a, "--all") == 0) {
            all = 1;
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--recursive") == 0) {
            recursive = 1;
        } else if (strcmp(a, "--bytes") == 0 || strcmp(a, "--inodes") == 0 ||
                   strcmp(a, "--soft-bytes") == 0 || strcmp(a, "--soft-inodes") == 0 ||
                   strcmp(a, "--grace") == 0) {
            if (++i >= argc)
                return usage_error("option needs an argument", a);
            const char **slot = a[2] == 'b'   ? &q_bytes
                                : a[2] == 'i' ? &q_inodes
                                : a[2] == 'g' ? &q_grace
                                : a[7] == 'b' ? &q_sbytes
                                              : &q_sinodes;
            *slot = argv[i];
        } else if (strcmp(a, "--to") == 0) {
            if (++i >= argc)
                return usage_error("option needs an argument", a);
            to = argv[i];
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option", a);
        } else if (!cmd && strcmp(a, "class") == 0) {
            return class_main(argc, argv, i + 1, master, as_json);
        } else if (!cmd) {
            cmd = a;
        } else if (!path) {
            path = a;
        } else if (!target) {
            target = a;
        } else if (!extra) {
            extra = a;
        } else {
            return usage_error("too many arguments", a);
        }
    }
    if (!cmd)
        return usage_error("no command given", NULL);
    uint16_t type;
    if (strcmp(cmd, "status") == 0)
        type = CN_MSG_ADM_STATUS;
    else if (strcmp(cmd, "servers") == 0)
        type = CN_MSG_ADM_SERVERS;
    else if (strcmp(cmd, "disks") == 0)
        type = CN_MSG_ADM_DISKS;
    else if (strcmp(cmd, "info") == 0)
        type = CN_MSG_ADM_INFO;
    else if (strcmp(cmd, "disk") == 0 || strcmp(cmd, "server") == 0)
        type = CN_MSG_ADM_MARK;
    else if (strcmp(cmd, "fsck") == 0)
        type = CN_MSG_ADM_FSCK;
    else if (strcmp(cmd, "trash") == 0)
        type = CN_MSG_ADM_TRASH;
    else if (strcmp(cmd, "trashtime") == 0)
        type = CN_MSG_ADM_TRASHTIME;
    else if (strcmp(cmd, "quota") == 0)
        type = CN_MSG_ADM_QUOTA;
    else if (strcmp(cmd, "snapshot") == 0)
        type = CN_MSG_ADM_SNAPSHOT;
    else
        return usage_error("unknown command", cmd);
    struct cn_adm_mark mreq = {{NULL, 0}, {NULL, 0}, 0};
    struct cn_adm_rescan rsreq = {{"", 0}};
    if (type == CN_MSG_ADM_MARK && cmd[0] == 'd' && path && strcmp(path, "rescan") == 0) {
        type = CN_MSG_ADM_RESCAN;
        if (target && (extra || strlen(target) > 255))
            return usage_error(extra ? "want: disk rescan [SERVER]" : "name too long",
                               extra ? extra : target);
        if (target)
            rsreq.server = cn_str_of(target);
        path = NULL;
    } else if (type == CN_MSG_ADM_MARK) {
        int disk = cmd[0] == 'd';
        if (!path || (strcmp(path, "remove") && strcmp(path, "keep")))
            return usage_error(disk ? "want: disk remove|keep SERVER:DISK, or disk rescan [SERVER]"
                                    : "want: server remove|keep SERVER",
                               path);
        if (!target)
            return usage_error(disk ? "missing SERVER:DISK" : "missing SERVER", NULL);
        mreq.leaving = strcmp(path, "remove") == 0;
        const char *colon = disk ? strchr(target, ':') : NULL;
        if (disk && (!colon || colon == target || !colon[1]))
            return usage_error("want SERVER:DISK (DISK: path, 0-based index or uuid)", target);
        mreq.server =
            disk ? (struct cn_str){target, (uint32_t)(colon - target)} : cn_str_of(target);
        if (disk)
            mreq.disk = cn_str_of(colon + 1);
        if (mreq.server.len > 255 || mreq.disk.len > CN_WIRE_MAX_STR)
            return usage_error("name too long", target);
        path = NULL;
    } else if (target && type != CN_MSG_ADM_TRASH && type != CN_MSG_ADM_TRASHTIME &&
               type != CN_MSG_ADM_QUOTA && type != CN_MSG_ADM_SNAPSHOT) {
        return usage_error("unexpected argument", target);
    }
    if (repair && type != CN_MSG_ADM_FSCK)
        return usage_error("--repair goes with fsck", NULL);
    if ((all || to) && type != CN_MSG_ADM_TRASH)
        return usage_error("--all and --to go with trash", NULL);
    int qopts = q_bytes || q_inodes || q_sbytes || q_sinodes || q_grace;
    if (qopts && type != CN_MSG_ADM_QUOTA)
        return usage_error("--bytes, --inodes, --soft-*, --grace go with quota set", NULL);
    if (recursive && type != CN_MSG_ADM_TRASHTIME)
        return usage_error("-r goes with trashtime set", NULL);
    if (extra && type != CN_MSG_ADM_TRASHTIME)
        return usage_error("unexpected argument", extra);
    /* trash and trashtime: a subcommand, then their own arguments */
    struct cn_adm_trash treq = {0, 0, {"", 0}, {"", 0}, 0};
    struct cn_adm_trashtime ttreq = {{"", 0}, 0, 0, 0};
    struct cn_adm_snapshot sreq = {{"", 0}, {"", 0}};
    struct cn_adm_quota qreq = {0,          {"", 0},    UINT64_MAX, UINT64_MAX,
                                UINT64_MAX, UINT64_MAX, UINT32_MAX};
    char fsbuf[PATH_MAX], tobuf[PATH_MAX], mm[300];
    if (type == CN_MSG_ADM_TRASH) {
        const char *sub = path ? path : "";
        if (!strcmp(sub, "ls")) {
            treq.op = 1;
            treq.path = cn_str_of(target ? target : "");
        } else if (!strcmp(sub, "restore") || !strcmp(sub, "purge")) {
            treq.op = sub[0] == 'r' ? 2 : 3;
            if (treq.op == 3 && !target && !all)
                return usage_error("trash purge needs an ID or --all", NULL);
            if (treq.op == 2 && !target)
                return usage_error("trash restore needs an ID or the original PATH", NULL);
            if (treq.op == 3 && target && all)
                return usage_error("trash purge: an ID or --all, not both", target);
            char *end = NULL;
            unsigned long long id = target ? strtoull(target, &end, 10) : 0;
            if (target && end && *end == 0 && id > 0) {
                treq.id = id;
            } else if (target && treq.op == 2) {
                if (mount_resolve(target, fsbuf, sizeof(fsbuf), mm, sizeof(mm)) == 0) {
                    target = fsbuf;
                    if (!master)
                        master = mm;
                }
                treq.path = cn_str_of(target);
            } else if (target) {
                return usage_error("want a trash ID (a number from `cairn trash ls`)", target);
            }
            treq.all = (uint8_t)all;
            if (to) {
                if (mount_resolve(to, tobuf, sizeof(tobuf), mm, sizeof(mm)) == 0) {
                    to = tobuf;
                    if (!master)
                        master = mm;
                }
                treq.to = cn_str_of(to);
            }
        } else {
            return usage_error("want: trash ls [PATTERN] | restore ID|PATH [--to DIR] | purge "
                               "ID|--all",
                               path);
        }
        path = NULL;
        target = NULL;
    } else if (type == CN_MSG_ADM_TRASHTIME) {
        const char *sub = path ? path : "";
        if (strcmp(sub, "get") && strcmp(sub, "set") && strcmp(sub, "clear"))
            return usage_error("want: trashtime get|set|clear PATH [DURATION] [-r]", path);
        if (!target)
            return usage_error("trashtime needs a PATH", NULL);
        ttreq.op = sub[0] == 'g' ? 0 : sub[0] == 's' ? 1 : 2;
        if (ttreq.op == 1) {
            int64_t ms;
            if (!extra || cn_parse_duration_ms(extra, &ms) < 0 || ms < 0 ||
                ms / 1000 > (int64_t)UINT32_MAX)
                return usage_error("trashtime set needs a DURATION (0, 30s, 12h, 7d)", extra);
            ttreq.seconds = (uint64_t)(ms / 1000);
        } else if (extra) {
            return usage_error("unexpected argument", extra);
        }
        if (recursive && ttreq.op == 0)
            return usage_error("-r goes with trashtime set or clear", NULL);
        ttreq.recursive = (uint8_t)recursive;
        if (mount_resolve(target, fsbuf, sizeof(fsbuf), mm, sizeof(mm)) == 0) {
            target = fsbuf;
            if (!master)
                master = mm;
        } else if (target[0] != '/') {
            return usage_error("not on a Cairn mount here and not an absolute path inside the "
                               "file system",
                               target);
        }
        ttreq.path = cn_str_of(target);
        path = NULL;
        target = NULL;
    } else if (type == CN_MSG_ADM_SNAPSHOT) {
        if (!path || !target)
            return usage_error("want: snapshot SRC DST", NULL);
        if (mount_resolve(path, fsbuf, sizeof(fsbuf), mm, sizeof(mm)) == 0) {
            path = fsbuf;
            if (!master)
                master = mm;
        } else if (path[0] != '/') {
            return usage_error("SRC: not on a Cairn mount here and not an absolute path inside "
                               "the file system",
                               path);
        }
        /* DST does not exist yet: resolve its directory, keep its name */
        const char *slash = strrchr(target, '/');
        char dirpart[PATH_MAX];
        snprintf(dirpart, sizeof(dirpart), "%.*s",
                 slash ? (int)(slash == target ? 1 : slash - target) : 1, slash ? target : ".");
        const char *base = slash ? slash + 1 : target;
        if (mount_resolve(dirpart, tobuf, sizeof(tobuf), mm, sizeof(mm)) == 0) {
            size_t l = strlen(tobuf);
            snprintf(tobuf + l, sizeof(tobuf) - l, "%s%s", l > 1 ? "/" : "", base);
            target = tobuf;
            if (!master)
                master = mm;
        } else if (target[0] != '/') {
            return usage_error("DST: not on a Cairn mount here and not an absolute path inside "
                               "the file system",
                               target);
        }
        sreq.src = cn_str_of(path);
        sreq.dst = cn_str_of(target);
        path = NULL;
        target = NULL;
    } else if (type == CN_MSG_ADM_QUOTA) {
        const char *sub = path ? path : "";
        qreq.op = !strcmp(sub, "set")   ? 1
                  : !strcmp(sub, "get") ? 2
                  : !strcmp(sub, "rm")  ? 3
                  : !strcmp(sub, "ls")  ? 4
                                        : 0;
        if (!qreq.op)
            return usage_error("want: quota set|get|rm PATH, or quota ls", path);
        if (qreq.op != 1 && qopts)
            return usage_error("limits go with quota set", NULL);
        if ((qreq.op == 4) != !target)
            return usage_error(qreq.op == 4 ? "quota ls takes no PATH" : "quota needs a PATH",
                               target);
        if (qreq.op == 1 && !qopts)
            return usage_error("quota set needs --bytes, --inodes, --soft-bytes, --soft-inodes "
                               "or --grace",
                               NULL);
        struct {
            const char *v;
            uint64_t *out;
            int size;
        } lim[] = {{q_bytes, &qreq.hard_bytes, 1},
                   {q_sbytes, &qreq.soft_bytes, 1},
                   {q_inodes, &qreq.hard_inodes, 0},
                   {q_sinodes, &qreq.soft_inodes, 0}};
        for (size_t k = 0; k < 4; k++) {
            int64_t iv;
            if (!lim[k].v)
                continue;
            if (lim[k].size ? cn_parse_size(lim[k].v, lim[k].out) < 0
                            : cn_parse_int(lim[k].v, &iv) < 0 || iv < 0)
                return usage_error(lim[k].size ? "want a size (0 = no limit; 10G, 500M)"
                                               : "want a number of inodes (0 = no limit)",
                                   lim[k].v);
            if (!lim[k].size)
                *lim[k].out = (uint64_t)iv;
        }
        if (q_grace) {
            int64_t ms;
            if (cn_parse_duration_ms(q_grace, &ms) < 0 || ms < 0 || ms / 1000 >= UINT32_MAX)
                return usage_error("want a duration (7d, 12h, 30m)", q_grace);
            qreq.grace_s = (uint32_t)(ms / 1000);
        }
        if (target) {
            if (mount_resolve(target, fsbuf, sizeof(fsbuf), mm, sizeof(mm)) == 0) {
                target = fsbuf;
                if (!master)
                    master = mm;
            } else if (target[0] != '/') {
                return usage_error("not on a Cairn mount here and not an absolute path inside "
                                   "the file system",
                                   target);
            }
            qreq.path = cn_str_of(target);
        }
        path = NULL;
        target = NULL;
    }
    if (type == CN_MSG_ADM_INFO && !path)
        return usage_error("info needs a PATH", NULL);
    if (type != CN_MSG_ADM_INFO && path)
        return usage_error("unexpected argument", path);
    char fspath[PATH_MAX], mmaster[300];
    if (path && mount_resolve(path, fspath, sizeof(fspath), mmaster, sizeof(mmaster)) == 0) {
        path = fspath; /* a file on a local Cairn mount: its path inside the file system */
        if (!master)
            master = mmaster;
    } else if (path && path[0] != '/') {
        fprintf(stderr,
                "cairn: info %s: not on a Cairn mount here and not an absolute path inside the "
                "file system (give a path on a mount, or one from the file system's root, e.g. "
                "/dir/file)\n",
                path);
        return 2;
    }
    if (path && strlen(path) > UINT16_MAX)
        return usage_error("path too long", NULL);

    if (!master || !*master) {
        const char *env = getenv("CAIRN_MASTER");
        master = env && *env ? env : CLI_DEFAULT_MASTER;
    }
    struct cn_addr addr;
    if (cn_parse_addr(master, 9421, &addr) < 0 || addr.port == 0 || !addr.host[0])
        return usage_error("bad master address (want HOST:PORT)", master);
    char name[300];
    cn_addr_format(&addr, name, sizeof(name));

    int fd = cn_sock_connect(&addr, CLI_CONNECT_MS);
    if (fd < 0) {
        fprintf(stderr, "cairn: cannot connect to the master at %s: %s\n", name, cn_strerror(fd));
        return 1;
    }
    int ret = 1;
    struct cn_buf reply = {0};
    struct cn_frame_hdr rh;
    char err[256] = "";
    struct cn_hello hello = {CN_ROLE_ADMIN,       CN_WIRE_VERSION_MIN, CN_WIRE_VERSION,
                             CN_STR("cairn-cli"), {NULL, 0},           {NULL, 0}};
    int rc = cn_sock_call(fd, CN_MSG_HELLO, 1, &hello, &rh, &reply, CLI_CALL_MS, err, sizeof(err));
    if (rc == 0 && rh.type != CN_MSG_HELLO_R)
        rc = CN_EMALFORMED;
    if (rc) {
        fprintf(stderr, "cairn: HELLO to the master at %s failed: %s%s%s\n", name, cn_strerror(rc),
                err[0] ? ": " : "", err);
        goto out;
    }
    struct cn_empty empty = {0};
    struct cn_path_req preq = {cn_str_of(path ? path : "/")};
    struct cn_adm_fsck freq = {(uint8_t)repair};
    const void *msg = type == CN_MSG_ADM_INFO        ? (const void *)&preq
                      : type == CN_MSG_ADM_MARK      ? (const void *)&mreq
                      : type == CN_MSG_ADM_RESCAN    ? (const void *)&rsreq
                      : type == CN_MSG_ADM_FSCK      ? (const void *)&freq
                      : type == CN_MSG_ADM_TRASH     ? (const void *)&treq
                      : type == CN_MSG_ADM_TRASHTIME ? (const void *)&ttreq
                      : type == CN_MSG_ADM_QUOTA     ? (const void *)&qreq
                      : type == CN_MSG_ADM_SNAPSHOT  ? (const void *)&sreq
                                                     : (const void *)&empty;
    /* a snapshot of a file being written is refused (EBUSY) until its
     * write session commits, which the writer does within seconds */
    for (int attempt = 0;; attempt++) {
        err[0] = 0;
        rc = cn_sock_call(fd, type, 2 + (uint64_t)attempt, msg, &rh, &reply,
                          type == CN_MSG_ADM_FSCK ? CLI_FSCK_MS : CLI_CALL_MS, err, sizeof(err));
        if (rc != -EBUSY || type != CN_MSG_ADM_SNAPSHOT || attempt == 20)
            break;
        usleep(500 * 1000);
    }
    if (rc == 0 && rh.type != (type | CN_MSG_REPLY))
        rc = CN_EMALFORMED;
    if (rc) {
        /* the master's own text says what was wrong; the errno name only without it */
        fprintf(stderr, "cairn: %s%s%s%s%s (master %s): %s\n", cmd, path ? " " : "",
                path ? path : "", target ? " " : "", target ? target : "", name,
                err[0] ? err : cn_strerror(rc));
        goto out;
    }
    struct cn_json_r jr;
    rc = cn_msg_decode(rh.type, reply.data, reply.len, &jr);
    if (rc) {
        fprintf(stderr, "cairn: bad reply from the master at %s: %s\n", name, cn_strerror(rc));
        goto out;
    }
    int unrestored = 0;
    json_error_t je;
    json_t *j = json_loadb((const char *)jr.json.ptr, jr.json.len, 0, &je);
    if (!j || !json_is_object(j)) {
        fprintf(stderr, "cairn: the master at %s sent bad JSON: %s\n", name,
                j ? "not an object" : je.text);
        json_decref(j);
        goto out;
    }
    if (as_json && type == CN_MSG_ADM_TRASH && json_object_get(j, "trash")) {
        /* `trash ls --json` prints the list itself */
        if (json_dumpf(json_object_get(j, "trash"), stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ==
            0)
            fputc('\n', stdout);
    } else if (as_json) {
        if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0)
            fputc('\n', stdout);
    } else if (type == CN_MSG_ADM_STATUS) {
        print_status(j);
    } else if (type == CN_MSG_ADM_SERVERS) {
        print_servers_table(json_object_get(j, "servers"));
    } else if (type == CN_MSG_ADM_DISKS) {
        print_disks(j);
    } else if (type == CN_MSG_ADM_FSCK) {
        print_fsck(j);
    } else if (type == CN_MSG_ADM_TRASH) {
        unrestored = print_trash(j);
    } else if (type == CN_MSG_ADM_QUOTA) {
        print_quotas(j);
    } else if (type == CN_MSG_ADM_SNAPSHOT) {
        printf("snapshot %s -> %s: %lld inodes (%lld files, %lld directories), %lld chunks shared, "
               "%lld ms\n",
               jstr(j, "src"), jstr(j, "dst"), jint(j, "inodes"), jint(j, "files"), jint(j, "dirs"),
               jint(j, "chunks_shared"), jint(j, "ms"));
    } else if (type == CN_MSG_ADM_TRASHTIME) {
        printf("%s: trashtime %llds%s%s\n", jstr(j, "path"), jint(j, "trashtime"),
               json_is_true(json_object_get(j, "explicit")) ? "" : " (inherited or the default)",
               jint(j, "changed") > 1 ? " (set on the whole tree)" : "");
    } else if (type == CN_MSG_ADM_RESCAN) {
        json_t *a = json_object_get(j, "servers");
        printf("disk rescan sent to %zu chunkserver(s):", json_array_size(a));
        for (size_t k = 0; k < json_array_size(a); k++)
            printf(" %s", json_string_value(json_array_get(a, k)));
        printf("\n(reopened disks show as ok in `cairn disks` within a heartbeat)\n");
    } else if (type == CN_MSG_ADM_MARK) {
        const char *dk = jstr(j, "disk");
        printf("%s %s%s%s: %s\n", *dk ? "disk" : "chunkserver", jstr(j, "server"), *dk ? ":" : "",
               dk,
               json_is_true(json_object_get(j, "leaving"))
                   ? "marked for removal; its parts are being copied elsewhere (see `cairn disks`)"
                   : "kept (removal mark cleared)");
    } else {
        print_info(j);
    }
    if (as_json && type == CN_MSG_ADM_TRASH)
        unrestored = (int)json_array_size(json_object_get(j, "errors"));
    if (unrestored)
        fprintf(stderr, "cairn: %d item(s) not restored\n", unrestored);
    int unrepaired =
        type == CN_MSG_ADM_FSCK && jint(j, "findings_total") > (repair ? jint(j, "repaired") : 0);
    json_decref(j);
    ret = fflush(stdout) == 0 ? (unrepaired ? 3 : unrestored ? 1 : 0) : 1;
out:
    cn_buf_release(&reply);
    close(fd);
    return ret;
}
