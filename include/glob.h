/*
 * Glob matching with Redis's rules (stringmatchlen): '*', '?', '[...]' with ranges and '^'
 * negation, and '\' escapes. Iterative with one backtrack point, so it runs in
 * O(pattern * text) without recursion.
 */
#ifndef KV_GLOB_H
#define KV_GLOB_H

#include <stdbool.h>

#include "slice.h"

bool glob_match(struct slice pattern, struct slice text, bool nocase);

/* Whether a pattern is a lone "*", which KEYS and the SCAN family take as "everything" (the
 * empty key included) without matching. */
bool glob_is_all(struct slice pattern);

#endif
