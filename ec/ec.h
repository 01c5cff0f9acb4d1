/*
 * ec.h - public API of the ec library: chunk layouts, their geometry,
 * Reed-Solomon coding and CRC32C checksums.
 *
 * Pure library: no logging, no global mutable state visible to callers. Errors
 * are returned as 0 / -errno; functions that can fail for a reason a person
 * must read also take a caller-supplied (err, errlen) buffer, which may be
 * NULL/0.
 *
 * Two decisions a reader must know:
 *  - The coding matrix is part of the on-disk format (docs/format.md,
 *    "Erasure coding"): jerasure's Cauchy matrix over GF(2^8), scaled so that
 *    row 0 and column 0 are all ones (parity 0 is the XOR of the data). Every
 *    backend executes that same matrix, so parity is byte-identical whichever
 *    backend wrote it; the fastest backend is picked at ec_ctx_create().
 *  - Coding works on *parts*: byte x of a parity part is a function of byte x
 *    of every data part. A range of rows of a part is therefore one
 *    contiguous buffer, and any number of rows is coded in one call. Data
 *    parts that are shorter than the parity (the partial last row) are
 *    zero-padded logically, never by the caller.
 *
 * Error codes used throughout:
 *   -EINVAL  bad argument: layout out of range, NULL pointer, part index out
 *            of range, misaligned buffer (see EC_ALIGN), length too long.
 *   -ERANGE  impossible decode: more than M parts wanted, or fewer than K
 *            parts present.
 *   -ENOMEM  allocation failed (nothing was written to outputs).
 *   -ENOSPC  output text buffer too small.
 */
#ifndef CAIRN_EC_H
#define CAIRN_EC_H

#include <stddef.h>
#include <stdint.h>

#define EC_VERSION_MAJOR 0
#define EC_VERSION_MINOR 2

#define EC_BLOCK_SIZE 65536u      /* bytes per block; each block has a CRC32C */
#define EC_CHUNK_SIZE (64u << 20) /* maximum chunk length in bytes */
#define EC_COPIES_MAX 8           /* copies=N: 1 <= N <= 8 */
#define EC_K_MIN      2           /* ec=K+M: 2 <= K <= 32 */
#define EC_K_MAX      32
#define EC_M_MIN      1 /* 1 <= M <= 8 */
#define EC_M_MAX      8
#define EC_PARTS_MAX  40 /* K + M <= 40 */
#define EC_ALIGN      16 /* every coding buffer's address is a multiple */
#define EC_LAYOUT_STR 16 /* buffer size that fits any printed layout */

/* ------------------------------------------------------------------------ */
/* Layouts                                                                  */
/* ------------------------------------------------------------------------ */

enum ec_layout_type {
    EC_LAYOUT_COPIES = 1, /* `copies=N`: N parts, each a full copy */
    EC_LAYOUT_RS = 2,     /* `ec=K+M`: K data parts, M Reed-Solomon parity parts */
};

/* A plain value: copy it freely. COPIES uses `copies` (k = m = 0); RS uses
 * k and m (copies = 0). */
struct ec_layout {
    enum ec_layout_type type;
    unsigned copies;
    unsigned k;
    unsigned m;
};

/* Parse "copies=N" or "ec=K+M" (decimal, no spaces, no signs, no leading
 * zeros). On error returns -EINVAL and writes a message naming the string,
 * the offending part and the allowed range into err. *out is written only on
 * success. Any thread. */
int ec_layout_parse(struct ec_layout *out, const char *text, char *err, size_t errlen);

/* Validate a layout built by hand; same messages as ec_layout_parse(). Any
 * thread. */
int ec_layout_check(const struct ec_layout *l, char *err, size_t errlen);

/* Print the canonical text ("copies=2", "ec=4+2") into buf (NUL-terminated;
 * EC_LAYOUT_STR bytes always suffice). Returns the length without the NUL,
 * -EINVAL for an invalid layout, -ENOSPC if size is too small. Any thread. */
int ec_layout_print(const struct ec_layout *l, char *buf, size_t size);

/* Number of parts a chunk of this layout is stored as (N, or K + M). */
unsigned ec_layout_nparts(const struct ec_layout *l);

/* ------------------------------------------------------------------------ */
/* Geometry: block b of a chunk is data part b mod K, row b div K.          */
/* For COPIES layouts every part is the whole chunk (K = 1): part 0 is      */
/* reported, meaning "any copy".                                            */
/* All functions: any thread, no allocation; -EINVAL on an invalid layout   */
/* or an offset/length beyond EC_CHUNK_SIZE.                                */
/* ------------------------------------------------------------------------ */

struct ec_loc {
    unsigned part;   /* data part index, 0 <= part < K */
    uint32_t row;    /* row = block index within the part */
    uint32_t offset; /* byte offset within the block, < EC_BLOCK_SIZE */
};

/* Chunk offset -> (part, row, offset in block). chunk_off < EC_CHUNK_SIZE. */
int ec_geom_locate(const struct ec_layout *l, uint64_t chunk_off, struct ec_loc *loc);

/* (data part, row, offset in block) -> chunk offset; inverse of the above. */
int ec_geom_offset(const struct ec_layout *l, const struct ec_loc *loc, uint64_t *chunk_off);

/* Number of rows a chunk of chunk_len bytes occupies (0 for an empty chunk). */
uint32_t ec_geom_rows(const struct ec_layout *l, uint64_t chunk_len);

/* Bytes stored for part `part` of a chunk of chunk_len bytes. Data parts
 * store only real bytes; parity parts are as long as data part 0 (the
 * longest), because the last row is zero-padded logically. */
int ec_geom_part_size(const struct ec_layout *l, uint64_t chunk_len, unsigned part, uint64_t *size);

/* Stored bytes of every part (lens[nparts]) within rows [row0, row0 + nrows)
 * of a chunk of chunk_len bytes: the lengths ec_codec_encode()/ec_codec_decode() take.
 * Rows beyond the chunk contribute 0 bytes. */
int ec_geom_part_lens(const struct ec_layout *l, uint64_t chunk_len, uint32_t row0, uint32_t nrows,
                      size_t lens[]);

/* Which data parts the byte range [off, off + len) of a chunk touches: bit p
 * of *mask is set for part p. For each touched part, the touched bytes are
 * one contiguous range of that part, returned by ec_geom_part_range(). */
int ec_geom_range_parts(const struct ec_layout *l, uint64_t off, uint64_t len, uint64_t *mask);

/* The contiguous byte range [*part_off, *part_off + *part_len) of data part
 * `part` that holds the chunk bytes of [off, off + len) landing on it
 * (*part_len = 0 if none). */
int ec_geom_part_range(const struct ec_layout *l, uint64_t off, uint64_t len, unsigned part,
                       uint64_t *part_off, uint64_t *part_len);

/* ------------------------------------------------------------------------ */
/* Reed-Solomon coding                                                      */
/* ------------------------------------------------------------------------ */

enum ec_backend {
    EC_BACKEND_AUTO = 0,     /* measure at ec_ctx_create() and pick the faster */
    EC_BACKEND_JERASURE = 1, /* jerasure + gf-complete: the reference */
    EC_BACKEND_ISAL = 2,     /* Intel ISA-L: the fast path, same matrix */
    EC_BACKEND_AVX2 = 3,     /* Cairn's own AVX2 kernel, same matrix (x86-64 with AVX2) */
};

/* "auto", "jerasure", "isal", "avx2" (static strings; "?" for an unknown value). */
const char *ec_backend_name(enum ec_backend b);

/* Name -> backend, for config files. -EINVAL with a message if unknown. */
int ec_backend_parse(const char *name, enum ec_backend *out, char *err, size_t errlen);

/* The format's coding matrix for (K, M): M rows of K GF(2^8) coefficients,
 * row-major into out[m * k]; parity part i = sum_j out[i*k + j] * data part j.
 * Any thread. -EINVAL if (k, m) is out of range. */
int ec_matrix_get(unsigned k, unsigned m, uint8_t *out);

/* A library context: the chosen backend and a cache of codecs per (K, M).
 * Create one per process (or per subsystem); destroy it after every thread
 * has stopped using it and its codecs. */
struct ec_ctx;

/* Create a context. backend AUTO runs a short (~15 ms) measurement of each
 * backend this CPU supports and keeps the fastest. -ENOTSUP (with a message)
 * if a forced backend cannot run on this CPU. Caller frees with
 * ec_ctx_destroy(). Call from any thread; the context is then safe to share
 * between threads. */
int ec_ctx_create(struct ec_ctx **out, enum ec_backend backend, char *err, size_t errlen);

/* Free the context and every codec it handed out. NULL is a no-op. */
void ec_ctx_destroy(struct ec_ctx *ctx);

/* The backend this context runs (never AUTO). Any thread. */
enum ec_backend ec_ctx_backend(const struct ec_ctx *ctx);

/* A codec for one (K, M): the encoding matrix and its tables, plus a
 * thread-safe cache of decoding matrices per erasure pattern. */
struct ec_codec;

/* The codec for (K, M), created on first use and cached. The codec is
 * borrowed: valid until ec_ctx_destroy(); do not free it. Any thread. */
int ec_codec_get(struct ec_ctx *ctx, unsigned k, unsigned m, struct ec_codec **out);

/* Encode parity for a range of rows held as parts. data[K] are the data
 * parts' bytes for the range, data_len[j] <= len of them (shorter parts are
 * zero-padded logically; NULL data_len means all are len); parity[M] receive
 * len bytes each. Buffers must not overlap and must be EC_ALIGN-aligned.
 * Any thread; concurrent calls on one codec are fine. */
int ec_codec_encode(struct ec_codec *c, const void *const data[], const size_t data_len[],
                    void *const parity[], size_t len);

/* The write path: encode the rows of a chunk-ordered buffer. data holds
 * data_len bytes of the chunk starting at a row boundary (block b of the
 * buffer is data part b mod K, row b div K; the last row may be partial).
 * parity[i] receives the parity part's bytes for those rows, contiguously:
 * (rows - 1) * EC_BLOCK_SIZE + min(EC_BLOCK_SIZE, bytes in the last row).
 * Alignment and threads as ec_codec_encode(). */
int ec_codec_encode_rows(struct ec_codec *c, const void *data, size_t data_len,
                         void *const parity[]);

/* Decode: rebuild the parts whose bit is set in `want` from any K others.
 * parts[K + M]: for a wanted part, the output buffer; for any other part,
 * its bytes for the range, or NULL if unavailable. part_len[i] is the stored
 * length of part i in the range (<= len; ec_geom_part_lens() computes them;
 * NULL means all are len); wanted parts receive exactly part_len[i] bytes.
 * Only the wanted parts are computed (rebuilding one part never computes the
 * others). -ERANGE if more than M are wanted or fewer than K are present.
 * Decoding matrices are cached per erasure pattern. Alignment and threads as
 * ec_codec_encode(). */
int ec_codec_decode(struct ec_codec *c, void *const parts[], const size_t part_len[], uint64_t want,
                    size_t len);

/* Rebuild one lost part (for a chunkserver's rebuild): parts[K + M] as in
 * ec_codec_decode() (NULL = unavailable, parts[target] ignored), the result goes to
 * out (part_len[target] bytes). */
int ec_codec_reconstruct(struct ec_codec *c, const void *const parts[], const size_t part_len[],
                         unsigned target, void *out, size_t len);

/* Parity delta update for a partial-row overwrite of data part `part`:
 * parity[i] ^= coef(i, part) * (old_data ^ new_data) over len bytes, where
 * old_data/new_data are that part's bytes before and after the write and
 * parity[M] point at the same offset of the parity parts. Result equals
 * re-encoding the row. Alignment and threads as ec_codec_encode(). */
int ec_codec_update(struct ec_codec *c, unsigned part, const void *old_data, const void *new_data,
                    void *const parity[], size_t len);

/* ------------------------------------------------------------------------ */
/* CRC32C                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), hardware accelerated.
 * Standard semantics: ec_crc32c(0, "123456789", 9) == 0xE3069283, and
 * ec_crc32c(ec_crc32c(0, a, la), b, lb) is the CRC of a followed by b.
 * This is the one checksum function every on-disk and wire format uses.
 */
uint32_t ec_crc32c(uint32_t crc, const void *buf, size_t len);

/* CRC32C of A followed by B from crc1 = CRC(A), crc2 = CRC(B) and len2 =
 * length of B, without the data (O(log len2)). Any thread. */
uint32_t ec_crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);

#endif
