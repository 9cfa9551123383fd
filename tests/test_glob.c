/*
 * Proves glob_match follows Redis's stringmatchlen on the cases CONFIG GET and KEYS rely on:
 * '*', '?', classes with ranges and negation, escapes, case folding, and patterns whose naive
 * recursive matching would be exponential (it must answer quickly and correctly).
 */
#include <string.h>

#include "check.h"
#include "glob.h"

static bool match(const char *pattern, const char *text, bool nocase)
{
    struct slice p = {.bytes = (const uint8_t *)pattern, .length = (uint32_t)strlen(pattern)};
    struct slice t = {.bytes = (const uint8_t *)text, .length = (uint32_t)strlen(text)};
    return glob_match(p, t, nocase);
}

int main(void)
{
    CHECK(!match("*", "", false)); /* Redis's stringmatchlen: only "" matches "" */
    CHECK(match("", "", false));
    CHECK(match("*", "anything", false));
    CHECK(match("", "", false));
    CHECK(!match("", "a", false));
    CHECK(match("key_*", "key_count", false));
    CHECK(!match("key_*", "val_size_max", false));
    CHECK(match("*max", "val_size_max", false));
    CHECK(match("*_*_*", "val_size_max", false));
    CHECK(!match("*_*_*_*", "val_size_max", false));
    CHECK(match("h?llo", "hello", false));
    CHECK(!match("h?llo", "hllo", false));
    CHECK(match("h[ae]llo", "hallo", false));
    CHECK(!match("h[ae]llo", "hillo", false));
    CHECK(match("h[^e]llo", "hallo", false));
    CHECK(!match("h[^e]llo", "hello", false));
    CHECK(match("h[a-b]llo", "hbllo", false));
    CHECK(match("h[b-a]llo", "hallo", false)); /* reversed ranges are swapped */
    CHECK(!match("h[a-b]llo", "hcllo", false));
    CHECK(match("h\\*llo", "h*llo", false));
    CHECK(!match("h\\*llo", "hello", false));
    CHECK(match("PORT", "port", true));
    CHECK(!match("PORT", "port", false));
    CHECK(match("[P]ort", "port", true));
    CHECK(match("a*b*c", "aXXbYYc", false));
    CHECK(!match("a*b*c", "aXXbYY", false));
    CHECK(match("*a", "aaaa", false));
    CHECK(!match("a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false));
    CHECK(match("a*a*a*a*a*a*a*a*", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false));
    return check_exit("test_glob");
}
