/*
 * failsync.c - LD_PRELOAD shim for test_15: makes exactly one fsync or
 * fdatasync fail with EIO each time the file named by $CAIRN_FAILSYNC
 * exists (the shim removes it when it fires). That is how a test makes the
 * master's group commit fail (master/turn.c invariant 3) without a bad disk.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int should_fail(void)
{
    const char *p = getenv("CAIRN_FAILSYNC");
    return p && unlink(p) == 0;
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (should_fail()) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (should_fail()) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}
