/*
 * Redis-style glob matching. A '*' records a backtrack point (pattern position after it and
 * the text position it currently covers up to); on a mismatch the star swallows one more
 * byte and matching resumes. One backtrack point suffices for globs, since a later star
 * subsumes an earlier one. Pure; bounded by pattern.length * (text.length + 1) steps.
 */
#include "glob.h"

#include <ctype.h>
#include <stdint.h>

static uint8_t fold(uint8_t byte, bool nocase)
{
    return nocase ? (uint8_t)tolower(byte) : byte;
}

/*
 * Matches one "[...]" class at pattern[*at] == '[' against `byte`; leaves *at on the closing
 * bracket (or the pattern end, as Redis treats an unclosed class).
 */
static bool class_match(struct slice pattern, uint32_t *at, uint8_t byte, bool nocase)
{
    uint32_t index = *at + 1;
    bool negate = index < pattern.length && pattern.bytes[index] == '^';
    if (negate) {
        index++;
    }
    bool matched = false;
    for (; index < pattern.length && pattern.bytes[index] != ']'; index++) {
        uint8_t first = pattern.bytes[index];
        if (first == '\\' && index + 1 < pattern.length) {
            index++;
            matched |= fold(pattern.bytes[index], nocase) == fold(byte, nocase);
        } else if (index + 2 < pattern.length && pattern.bytes[index + 1] == '-') {
            uint8_t low = fold(first, nocase);
            uint8_t high = fold(pattern.bytes[index + 2], nocase);
            if (low > high) {
                uint8_t swap = low;
                low = high;
                high = swap;
            }
            uint8_t folded = fold(byte, nocase);
            matched |= folded >= low && folded <= high;
            index += 2;
        } else {
            matched |= fold(first, nocase) == fold(byte, nocase);
        }
    }
    if (index >= pattern.length) {
        index = pattern.length - 1; /* Unclosed: Redis stops at the end of the pattern. */
    }
    *at = index;
    return negate ? !matched : matched;
}

bool glob_is_all(struct slice pattern)
{
    return pattern.length == 1 && pattern.bytes[0] == '*';
}

bool glob_match(struct slice pattern, struct slice text, bool nocase)
{
    /* As Redis's stringmatchlen: an empty text matches only an empty pattern ("*" too
     * fails; KEYS and SCAN treat a lone "*" as "everything" before matching). */
    if (text.length == 0) {
        return pattern.length == 0;
    }
    uint32_t p = 0;
    uint32_t t = 0;
    uint32_t star_p = UINT32_MAX; /* pattern position after the last '*' */
    uint32_t star_t = 0;          /* text position that star covers up to */
    /* Each pass advances t, or p, or backtracks with star_t advanced: bounded. */
    while (t < text.length || p < pattern.length) {
        if (p < pattern.length) {
            uint8_t symbol = pattern.bytes[p];
            if (symbol == '*') {
                star_p = ++p;
                star_t = t;
                continue;
            }
            if (t < text.length) {
                bool ok = false;
                uint32_t next = p;
                if (symbol == '?') {
                    ok = true;
                } else if (symbol == '[') {
                    ok = class_match(pattern, &next, text.bytes[t], nocase);
                } else if (symbol == '\\' && p + 1 < pattern.length) {
                    next = p + 1;
                    ok = fold(pattern.bytes[next], nocase) == fold(text.bytes[t], nocase);
                } else {
                    ok = fold(symbol, nocase) == fold(text.bytes[t], nocase);
                }
                if (ok) {
                    p = next + 1;
                    t++;
                    continue;
                }
            }
        }
        if (star_p == UINT32_MAX || star_t >= text.length) {
            return false;
        }
        p = star_p;
        t = ++star_t;
    }
    return true;
}
