/*
 * cls.h - storage classes: the SPEC language of `cairn class`, label
 * expressions, and the byte format of a stored class (docs/master.md
 * "Storage classes", docs/format.md key 'K').
 *
 * A class names four states (create, keep, archive, trash); each state is
 * a layout (copies=N or ec=K+M), a label expression saying which servers
 * and disks may hold its parts, a placement mode, and options. A SPEC is
 * the text form of one state, tokens separated by blanks:
 *
 *   copies=N | ec=K+M     layout (exactly one; 1 <= N <= 16; K, M >= 1,
 *                         K + M <= 40)
 *   labels=EXPR           where parts may live (default: "*", anywhere)
 *   mode=strict|loose     strict: never place outside the labels (stay
 *                         under goal); loose: fall back to any server
 *   compress=zstd|none    store blocks zstd-compressed when that saves space
 *   after=DUR             archive state only: time without modification
 *                         (120, 30s, 15m, 24h, 7d)
 *
 * Label expressions: a label is [A-Za-z0-9_.:=-]{1,31} ("zone=a" is one
 * label); `*` matches anything; `!x` negation, `x&y` and, `x|y` or, with
 * the usual precedence (! over & over |) and parentheses. A comma makes a
 * per-part list, one expression per part in part order:
 * `labels=ssd,ssd,backup` puts copy 0 and 1 on ssd and copy 2 on backup. A
 * list must have exactly as many elements as the layout has parts (one
 * element, or no list, applies to every part).
 *
 * A server's (or disk's) labels are a comma-separated set such as
 * "ssd,fast,zone=a"; a part on a disk carries the server's and the disk's
 * labels together. Two labels have a meaning of their own: `zone=NAME`
 * names the failure zone (placement spreads parts over zones), and a part
 * on a server or disk labelled `backup` is read only when no other part
 * of the chunk is readable.
 *
 * Every function here is pure (no I/O, no globals) and safe from any
 * thread. Errors are -EINVAL with a message in err that names the bad
 * token and its column (1-based) in the text that was given.
 */
#ifndef CAIRN_CLS_H
#define CAIRN_CLS_H

#include <stddef.h>
#include <stdint.h>

#define CN_CLS_NAME_MAX    63u  /* bytes of a class name: [A-Za-z0-9_.+-], not starting with '-' */
#define CN_CLS_LABELS_MAX  255u /* bytes of a label expression's text */
#define CN_CLS_LABEL_MAX   31u  /* bytes of one label */
#define CN_CLS_MAX_PARTS   40u  /* K + M of an EC layout */
#define CN_CLS_MAX_COPIES  16u  /* N of copies=N */
#define CN_CLS_MAX_CLASSES 1024u
#define CN_CLS_REC_VERSION 1u /* first byte of an encoded class */
#define CN_CLS_REC_MAX     (8 + CN_CLS_NAME_MAX + 4 * (16 + CN_CLS_LABELS_MAX))

/* Built-in class ids (present in every new file system). */
enum { CN_CLS_2CP = 1, CN_CLS_3CP = 2, CN_CLS_EC4_2 = 3, CN_CLS_EC8_3 = 4 };

enum cn_cls_state_ix { CN_ST_CREATE = 0, CN_ST_KEEP = 1, CN_ST_ARCHIVE = 2, CN_ST_TRASH = 3 };
#define CN_ST_N 4

enum cn_layout_kind { CN_LAYOUT_NONE = 0, CN_LAYOUT_COPIES = 1, CN_LAYOUT_EC = 2 };
enum cn_cls_mode { CN_MODE_DEFAULT = 0, CN_MODE_STRICT = 1, CN_MODE_LOOSE = 2 };
enum cn_cls_compress { CN_COMPRESS_NONE = 0, CN_COMPRESS_ZSTD = 1 };

struct cn_layout {
    uint8_t kind; /* CN_LAYOUT_* */
    uint8_t k;    /* copies: N; ec: K */
    uint8_t m;    /* copies: 0; ec: M */
};

/* Parts of a layout: N for copies=N, K+M for ec=K+M, 0 for NONE. */
unsigned cn_layout_parts(const struct cn_layout *l);
/* Failures a chunk in this layout survives: N-1, or M. */
unsigned cn_layout_spare(const struct cn_layout *l);
/* "copies=2", "ec=4+2" or "none" into buf (>= 16 bytes); returns buf. */
char *cn_layout_str(const struct cn_layout *l, char *buf, size_t len);
/* Parses "copies=N" or "ec=K+M" exactly. 0 or -EINVAL. */
int cn_layout_parse(const char *s, struct cn_layout *out);

struct cn_cls_state {
    struct cn_layout layout;            /* kind NONE: the state is not set (see cn_cls_effective) */
    uint8_t mode;                       /* CN_MODE_*; DEFAULT: loose, except archive: strict */
    uint8_t compress;                   /* CN_COMPRESS_* */
    uint32_t after_s;                   /* archive only: seconds without modification (> 0) */
    char labels[CN_CLS_LABELS_MAX + 1]; /* canonical expression text; "" = "*" */
};

struct cn_cls {
    uint32_t id; /* 1.. ; 0 is never a class */
    uint8_t builtin;
    char name[CN_CLS_NAME_MAX + 1];
    struct cn_cls_state st[CN_ST_N]; /* create must be set; others optional */
};

/* "create", "keep", "archive", "trash" (static). */
const char *cn_cls_state_name(int state);

/*
 * Parses SPEC text for state `state` into out (all fields set). The layout
 * is required; `after=` is required for archive and refused elsewhere; a
 * per-part label list must match the layout's part count. Errors quote the
 * token and give its column: `"ec=4+" at column 1: expected ec=K+M with
 * K, M >= 1 and K+M <= 40` (inside labels=, the column of the bad
 * character). out is left alone on error; err may be NULL.
 */
int cn_cls_spec_parse(const char *spec, int state, struct cn_cls_state *out, char *err,
                      size_t errlen);

/* The SPEC text of a set state, canonical ("copies=2 labels=ssd mode=strict
 * after=1d"); options at their default are left out. Returns the length or
 * -ERANGE when len is short (-EINVAL for an unset state). */
int cn_cls_spec_format(const struct cn_cls_state *s, int state, char *buf, size_t len);

/* A class name is valid: 1..63 bytes of [A-Za-z0-9_.+-], first not '-'. */
int cn_cls_name_ok(const char *name);

/*
 * The state a chunk of this class is kept in when the class leaves it
 * unset: keep falls back to create, archive to none (no archive), trash to
 * keep. Returns the index of the state that applies (st itself if set),
 * or -1 for an unset archive.
 */
int cn_cls_effective(const struct cn_cls *c, int state);

/* The built-in classes: 2cp (copies=2), 3cp (copies=3), ec4+2 (create and
 * keep copies=2, archive ec=4+2 after 24 h), ec8+3 (create and keep
 * copies=2, archive ec=8+3 after 24 h). Fills out[0..min(max, 4)) and
 * returns 4. */
size_t cn_cls_builtins(struct cn_cls *out, size_t max);

/* Stored form: version u8 (1), builtin u8, name len u8 + bytes, then per
 * state: kind u8, k u8, m u8, mode u8, compress u8, after_s u32 LE, labels
 * len u8 + bytes. Returns the length (<= CN_CLS_REC_MAX). */
size_t cn_cls_encode(const struct cn_cls *c, uint8_t *buf);
/* Bounds-checked: 0 or -EINVAL (any field out of range, labels that do
 * not parse, trailing bytes). Only what cn_cls_encode writes is taken:
 * unset states all zero, labels canonical and fitting the layout, after_s
 * at most 10 years. out->id is not stored: it is set to 0 and the caller
 * sets it from the key. out is left alone on error. */
int cn_cls_decode(const uint8_t *buf, size_t len, struct cn_cls *out);

/* ---- label expressions ------------------------------------------------- */

#define CN_LEXPR_MAX_NODES 128u

struct cn_lexpr_node {
    uint8_t op;   /* CN_LX_* */
    uint8_t len;  /* label length (LABEL) */
    uint16_t off; /* label offset into text (LABEL) */
};
enum { CN_LX_LABEL = 1, CN_LX_ANY, CN_LX_NOT, CN_LX_AND, CN_LX_OR };

/* A compiled expression list: per part, a postfix program over `text`. */
struct cn_lexpr {
    char text[CN_CLS_LABELS_MAX + 1];     /* canonical: blanks removed, "*" alone is "" */
    uint8_t nparts;                       /* list elements; 1 when no comma */
    uint16_t start[CN_CLS_MAX_PARTS + 1]; /* part i's nodes: [start[i], start[i+1]) */
    uint16_t nnodes;
    struct cn_lexpr_node node[CN_LEXPR_MAX_NODES];
};

/* Compiles text ("" or "*": anything). 0 or -EINVAL naming the column
 * (then nparts is 0 and nothing matches). */
int cn_lexpr_parse(const char *text, struct cn_lexpr *out, char *err, size_t errlen);
/* 1 if the label set `labels` ("ssd,zone=a"; NULL or "" is the empty set;
 * blanks around a label are ignored)
 * satisfies the expression of `part` (the only one when nparts is 1;
 * parts past the list use the last element). */
int cn_lexpr_match(const struct cn_lexpr *e, unsigned part, const char *labels);
/* 1 if the label set contains `label` exactly. */
int cn_labels_have(const char *labels, const char *label);
/* Copies the value of the first zone=NAME label into buf ("" when none;
 * cut to len - 1 bytes); returns the bytes copied. */
size_t cn_labels_zone(const char *labels, char *buf, size_t len);

/* Durations: "120" (seconds), "30s", "15m", "24h", "7d"; 0 < value <= 10 years.
 * 0 or -EINVAL. */
int cn_dur_parse(const char *s, uint32_t *secs);
/* "1d", "24h"... the shortest exact form; returns buf. */
char *cn_dur_str(uint32_t secs, char *buf, size_t len);

#endif
