/*
 * The one place an assertion failure lands: print where and what, then abort so that a
 * core dump holds the state. Uses only async-signal-safe-ish stdio on stderr; never
 * allocates (stderr is unbuffered).
 */
#include "kv_assert.h"

#include <stdio.h>
#include <stdlib.h>

_Noreturn void kv_assert_fail(const char *expression, const char *file, int line)
{
    fprintf(stderr, "kv: assertion failed: %s (%s:%d)\n", expression, file, line);
    abort();
}
