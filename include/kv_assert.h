/*
 * Assertions: they catch our own bugs, never client input, full pools or kernel errors.
 * KV_ASSERT stays on in every build; KV_DEBUG_ASSERT (checks that walk memory) only in
 * debug builds. A failed assertion prints file, line and expression and aborts at once,
 * so kv never serves from a state it knows to be wrong.
 */
#ifndef KV_ASSERT_H
#define KV_ASSERT_H

#include <assert.h>

_Noreturn void kv_assert_fail(const char *expression, const char *file, int line);

#define KV_ASSERT(expr) ((expr) ? (void)0 : kv_assert_fail(#expr, __FILE__, __LINE__))

#ifdef KV_DEBUG
#define KV_DEBUG_ASSERT(expr) KV_ASSERT(expr)
#else
#define KV_DEBUG_ASSERT(expr) ((void)0)
#endif

/* Fallible functions are marked so that -Werror catches a dropped result. */
#define KV_MUST_USE __attribute__((warn_unused_result))

#define KV_LIKELY(x) __builtin_expect(!!(x), 1)
#define KV_UNLIKELY(x) __builtin_expect(!!(x), 0)

#endif
