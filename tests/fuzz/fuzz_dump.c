/*
 * fuzz_dump.c - libFuzzer target for the metadata dump reader
 * (master/dump.c): the zstd layer, the line splitter, the JSON-lines
 * parser and every record builder, with nothing written anywhere.
 *
 * An input starting with the zstd magic goes through the compressed path,
 * anything else is read as the decompressed text. Properties checked beyond
 * "no crash, no overread" (ASan): the result is 0 or one of the reader's
 * codes, a failure always comes with a message, and a dump that checks
 * reports at least its superblock and root records.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t zmagic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    struct dump_stats st;
    char err[512];
    int compressed = size >= 4 && memcmp(data, zmagic, 4) == 0;
    /* an exact-size copy, so any read past the end hits ASan's redzone */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    err[0] = '\0';
    int rc = dump_check_buf(copy, size, compressed, &st, err, sizeof(err));
    switch (rc) {
    case 0:
        if (st.supers != 1 || st.inodes < 1 || st.records < 2)
            abort();
        break;
    case DUMP_ENOTDUMP:
    case DUMP_EVERSION:
    case DUMP_EBAD:
    case -ENOMEM:
        if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
            abort();
        break;
    default:
        abort();
    }
    free(copy);
    return 0;
}
