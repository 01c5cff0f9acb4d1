/*
 * wire_int.h - private test support of the wire codec (tests/common, fuzz).
 * Not for daemons: nothing here is part of the protocol.
 */
#ifndef CN_WIRE_INT_H
#define CN_WIRE_INT_H

#include <stdint.h>

/* Fill `msg` (a struct of `type`) with values drawn from the xorshift state
 * *seed: integers over their whole range, strings and bytes of random length
 * pointing into static text, arrays of 0..4 elements allocated with calloc
 * (release with cn_msg_free). 0, CN_EUNKNOWN or -ENOMEM. */
int cn_msg_fill_random(uint16_t type, void *msg, uint64_t *seed);

/* xorshift64*: the generator behind cn_msg_fill_random (seed must be != 0). */
uint64_t cn_rand_next(uint64_t *seed);

#endif
