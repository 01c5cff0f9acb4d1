/*
 * admin_online.h - a checkpoint of a running master, fetched over its
 * chunkserver port (admin_online.c).
 */
#ifndef CAIRN_ADMIN_ONLINE_H
#define CAIRN_ADMIN_ONLINE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Creates directory `dir` (must not exist) and fills it with a consistent
 * copy of the metadata of the master whose chunkserver port is `master`
 * (HOST:PORT), as of changelog entry *seq. 0, or -errno with a message in
 * err; on failure dir may hold a partial copy (the caller removes it).
 */
int admin_fetch_checkpoint(const char *master, const char *dir, uint64_t *seq, char *err,
                           size_t errlen);

#endif
