/*
 * banned.h - turn unsafe libc string functions into build errors.
 *
 * Included last by every project source file (via the compiler's -include
 * flag set in CMakeLists.txt). Use snprintf / memcpy with explicit lengths.
 */
#ifndef CN_BANNED_H
#define CN_BANNED_H

#define CN_BANNED(func) sorry_##func##_is_banned_in_cairn

#undef strcpy
#define strcpy(x, y) CN_BANNED(strcpy)
#undef strcat
#define strcat(x, y) CN_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) CN_BANNED(strncpy)
#undef sprintf
#define sprintf(...) CN_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) CN_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) CN_BANNED(strtok)
#undef gets
#define gets(x) CN_BANNED(gets)

#endif
