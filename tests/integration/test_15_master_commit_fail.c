/*
 * test_15_master_commit_fail.c - a group commit that fails inside the real
 * daemon (an fdatasync returning EIO, injected by failsync.c): the held
 * request gets ERROR(EIO) (master/turn.c invariant 3), the store is
 * reopened, the daemon keeps serving and exits cleanly, and everything
 * acknowledged before is still there.
 */
#include "itest.h"

#ifndef CAIRN_FAILSYNC_LIB
#error "CAIRN_FAILSYNC_LIB must name the failsync shim"
#endif

static char trigger[160];

static void setup(void)
{
    it_init();
    /* a short lease: the tick's expiry scans (commits of their own) stop soon */
    it_write_cfg("LEASE_MS = 100ms\n");
    snprintf(trigger, sizeof(trigger), "%s/failsync", it.dir);
    setenv("LD_PRELOAD", CAIRN_FAILSYNC_LIB, 1);
    setenv("CAIRN_FAILSYNC", trigger, 1);
    /* ASan wants its runtime first; the shim only wraps two libc calls */
    const char *ao = getenv("ASAN_OPTIONS");
    char buf[512];
    snprintf(buf, sizeof(buf), "%s%sverify_asan_link_order=0", ao ? ao : "", ao ? ":" : "");
    setenv("ASAN_OPTIONS", buf, 1);
    it_start_master(1);
    unsetenv("LD_PRELOAD");
}

TestSuite(master_commit_fail, .init = setup, .fini = it_fini, .timeout = 60);

/* Proves (turn.c invariant 3): a failed commit answers EIO, the store is
 * reopened and later requests succeed; acknowledged data survives. */
Test(master_commit_fail, failed_commit_answers_eio_and_reopens)
{
    int fd = it_client();
    ASSERT_ERR(it_mkdir(fd, 1, "before", 0755, 0, NULL), 0);
    int got_eio = 0;
    char name[32];
    for (int i = 0; i < 50 && !got_eio; i++) {
        FILE *f = fopen(trigger, "w");
        cr_assert_not_null(f);
        fclose(f);
        snprintf(name, sizeof(name), "during%d", i);
        int rc = it_mkdir(fd, 1, name, 0755, 0, NULL);
        if (rc == -EIO)
            got_eio = 1;
        else
            cr_assert_eq(rc, 0, "mkdir: %s", cn_strerror(rc));
        /* rc 0: the trigger fired on a commit of the tick, or not at all yet */
    }
    cr_assert(got_eio, "no commit failed");
    unlink(trigger);
    ASSERT_ERR(it_mkdir(fd, 1, "after", 0755, 0, NULL), 0);
    ASSERT_ERR(it_lookup(fd, 1, "before", 0, NULL), 0);
    ASSERT_ERR(it_lookup(fd, 1, "after", 0, NULL), 0);
    close(fd);
    cr_assert_eq(it_stop(&it.master), 0, "unclean exit (see %s/master.err)", it.dir);
    char path[160], log[65536];
    snprintf(path, sizeof(path), "%s/master.log", it.dir);
    FILE *lf = fopen(path, "r");
    cr_assert_not_null(lf);
    size_t n = fread(log, 1, sizeof(log) - 1, lf);
    log[n] = 0;
    fclose(lf);
    cr_assert_not_null(strstr(log, "commit of 1 requests failed"), "%s", log);
    cr_assert_not_null(strstr(log, "metadata store reopened"), "%s", log);
    it_start_master(0);
    fd = it_client();
    ASSERT_ERR(it_lookup(fd, 1, "before", 0, NULL), 0);
    ASSERT_ERR(it_lookup(fd, 1, "after", 0, NULL), 0);
    close(fd);
}
