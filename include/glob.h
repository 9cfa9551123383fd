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

#endif
