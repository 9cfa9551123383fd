/*
 * LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN], as Redis 7.0's lcsCommand: the
 * longest common subsequence of two strings (an absent key is empty), by the classic table
 * of LCS lengths of every pair of prefixes, then a walk back from its far corner that
 * spells the subsequence and finds its matching ranges (last first, as Redis emits them).
 *
 * Memory: the table is (len1 + 1) x (len2 + 1) 32-bit lengths, taken from the heap for the
 * command and given back before it ends; past proto-max-bulk-len it is refused with Redis's
 * error, and a heap without room for it answers Redis's "failed allocating" error. The
 * subsequence's bytes take a second allocation of its length. The work is bounded by the
 * table's cells.
 */
#include "cmd_handlers.h"

#include <string.h>

#include "number.h"
#include "store_string.h"

/* What the walk back does with the ranges it finds. */
struct lcs_walk {
    const uint8_t *a;
    const uint8_t *b;
    uint32_t a_length;
    uint32_t b_length;
    const uint32_t *table;   /* (a_length + 1) x (b_length + 1), row by row */
    uint8_t *result;         /* the subsequence's bytes, when spelled */
    int64_t match_length_min;
    bool with_match_length;
    struct reply *reply;     /* NULL: count the ranges only */
    uint32_t range_count;    /* ranges emitted */
};

static uint32_t lcs_cell(const struct lcs_walk *walk, uint32_t i, uint32_t j)
{
    KV_ASSERT(i <= walk->a_length && j <= walk->b_length);
    return walk->table[(uint64_t)i * (walk->b_length + 1u) + j];
}

/* Fills the table: cell (i, j) is the LCS length of a[0..i) and b[0..j). Bounded by its
 * cells. */
static void lcs_fill(const struct lcs_walk *walk, uint32_t *table)
{
    uint64_t row_cells = (uint64_t)walk->b_length + 1u;
    /* Bounded by the rows, each by its cells. */
    for (uint32_t i = 0; i <= walk->a_length; i++) {
        for (uint32_t j = 0; j <= walk->b_length; j++) {
            uint32_t value = 0;
            if (i > 0 && j > 0) {
                if (walk->a[i - 1] == walk->b[j - 1]) {
                    value = table[(uint64_t)(i - 1) * row_cells + (j - 1)] + 1u;
                } else {
                    uint32_t up = table[(uint64_t)(i - 1) * row_cells + j];
                    uint32_t left = table[(uint64_t)i * row_cells + (j - 1)];
                    value = up > left ? up : left;
                }
            }
            table[(uint64_t)i * row_cells + j] = value;
        }
    }
    KV_ASSERT(table[(uint64_t)walk->a_length * row_cells + walk->b_length] <=
              (walk->a_length < walk->b_length ? walk->a_length : walk->b_length));
}

/* Redis's walk back from the far corner: spells the subsequence (when result is set) and
 * emits each range of consecutive matches long enough (to the reply, or only counts them).
 * Bounded by a_length + b_length steps: each moves i, j or both toward 0. */
static void lcs_walk_back(struct lcs_walk *walk)
{
    uint32_t i = walk->a_length;
    uint32_t j = walk->b_length;
    uint32_t index = lcs_cell(walk, i, j);
    uint32_t a_start = walk->a_length; /* a_length: no range under way */
    uint32_t a_end = 0;
    uint32_t b_start = 0;
    uint32_t b_end = 0;
    walk->range_count = 0;
    while (i > 0 && j > 0) {
        bool emit = false;
        if (walk->a[i - 1] == walk->b[j - 1]) {
            if (walk->result != NULL) {
                walk->result[index - 1] = walk->a[i - 1];
            }
            if (a_start == walk->a_length) {
                a_start = i - 1;
                a_end = i - 1;
                b_start = j - 1;
                b_end = j - 1;
            } else if (a_start == i && b_start == j) {
                a_start--;
                b_start--;
            } else {
                emit = true;
            }
            if (a_start == 0 || b_start == 0) {
                emit = true;
            }
            index--;
            i--;
            j--;
        } else {
            if (lcs_cell(walk, i - 1, j) > lcs_cell(walk, i, j - 1)) {
                i--;
            } else {
                j--;
            }
            emit = a_start != walk->a_length;
        }
        uint32_t match_length = a_end - a_start + 1u;
        if (emit) {
            if (walk->match_length_min == 0 || match_length >= walk->match_length_min) {
                if (walk->reply != NULL) {
                    reply_array(walk->reply, walk->with_match_length ? 3u : 2u);
                    reply_array(walk->reply, 2);
                    reply_integer(walk->reply, a_start);
                    reply_integer(walk->reply, a_end);
                    reply_array(walk->reply, 2);
                    reply_integer(walk->reply, b_start);
                    reply_integer(walk->reply, b_end);
                    if (walk->with_match_length) {
                        reply_integer(walk->reply, match_length);
                    }
                }
                walk->range_count++;
            }
            a_start = walk->a_length;
        }
    }
    KV_ASSERT(walk->result == NULL || index == 0);
}

/* A key's string as lookupKeyRead finds it (an absent key is empty); false when it holds
 * another type. */
static bool lcs_read(struct cmd_context *context, struct slice key, struct slice *value)
{
    struct store_found found;
    *value = (struct slice){.bytes = NULL, .length = 0};
    if (!cmd_read_any(context, key, &found)) {
        return true;
    }
    if (found.type != STORE_TYPE_STRING) {
        return false;
    }
    *value = store_string_value(context->store, found.key_ref);
    return true;
}

/* The options after the keys; false after answering an error. */
static bool lcs_options(struct cmd_context *context, const struct slice *args,
                        uint32_t arg_count, struct lcs_walk *walk, bool *length_only,
                        bool *indexes)
{
    /* Bounded by the arguments: each step consumes at least one. */
    for (uint32_t index = 3; index < arg_count; index++) {
        bool more = index + 1 < arg_count;
        if (cmd_arg_is(args[index], "idx")) {
            *indexes = true;
        } else if (cmd_arg_is(args[index], "len")) {
            *length_only = true;
        } else if (cmd_arg_is(args[index], "withmatchlen")) {
            walk->with_match_length = true;
        } else if (cmd_arg_is(args[index], "minmatchlen") && more) {
            int64_t minimum = 0;
            if (!number_parse_int64(args[index + 1].bytes, args[index + 1].length, &minimum)) {
                reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
                return false;
            }
            walk->match_length_min = minimum < 0 ? 0 : minimum;
            index++;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
    }
    if (*length_only && *indexes) {
        reply_error(&context->reply, REPLY_ERROR_LCS_LEN_IDX);
        return false;
    }
    KV_ASSERT(walk->match_length_min >= 0);
    return true;
}

static void lcs_answer(struct cmd_context *context, struct lcs_walk *walk, bool length_only,
                       bool indexes)
{
    uint32_t length = lcs_cell(walk, walk->a_length, walk->b_length);
    if (indexes) {
        lcs_walk_back(walk); /* counts the ranges: the array's length comes first */
        uint32_t range_count = walk->range_count;
        reply_map(&context->reply, 2);
        reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)"matches",
                                                   .length = 7});
        reply_array(&context->reply, range_count);
        walk->reply = &context->reply;
        lcs_walk_back(walk);
        KV_ASSERT(walk->range_count == range_count);
        reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)"len",
                                                   .length = 3});
        reply_integer(&context->reply, length);
    } else if (length_only) {
        reply_integer(&context->reply, length);
    } else {
        lcs_walk_back(walk);
        reply_bulk(&context->reply, (struct slice){.bytes = walk->result, .length = length});
    }
}

CMD_HANDLER(cmd_lcs)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    struct slice a;
    struct slice b;
    bool a_string = lcs_read(context, args[1], &a);
    bool b_string = lcs_read(context, args[2], &b);
    if (!a_string || !b_string) {
        reply_error(&context->reply, REPLY_ERROR_LCS_NOT_STRING);
        return;
    }
    struct lcs_walk walk = {.a = a.bytes, .b = b.bytes, .a_length = a.length,
                            .b_length = b.length};
    bool length_only = false;
    bool indexes = false;
    if (!lcs_options(context, args, arg_count, &walk, &length_only, &indexes)) {
        return;
    }
    if (a.length >= UINT32_MAX - 1u || b.length >= UINT32_MAX - 1u) {
        reply_error(&context->reply, REPLY_ERROR_LCS_TOO_LONG);
        return;
    }
    uint64_t table_bytes = ((uint64_t)a.length + 1u) * ((uint64_t)b.length + 1u) *
                           sizeof(uint32_t);
    if (table_bytes > context->config->proto_max_bulk_len) {
        reply_error(&context->reply, REPLY_ERROR_LCS_PROTO_MAX);
        return;
    }
    struct heap *heap = context->store->heap;
    uint32_t *table = heap_alloc(heap, table_bytes);
    if (table == NULL) {
        reply_error(&context->reply, REPLY_ERROR_LCS_NO_MEMORY);
        return;
    }
    walk.table = table;
    lcs_fill(&walk, table);
    uint32_t length = lcs_cell(&walk, walk.a_length, walk.b_length);
    bool spelled = indexes || !length_only;
    if (spelled && length > 0) {
        walk.result = heap_alloc(heap, length);
        if (walk.result == NULL) {
            heap_release(heap, table);
            reply_error(&context->reply, REPLY_ERROR_LCS_NO_MEMORY);
            return;
        }
    }
    lcs_answer(context, &walk, length_only, indexes);
    if (walk.result != NULL) {
        heap_release(heap, walk.result);
    }
    heap_release(heap, table);
    KV_ASSERT(context->reply.total > reply_before);
}

static const struct cmd lcs_cmds[] = {
    {"lcs", -3, 1, 2, 1, 0, cmd_lcs},
};

CMD_FAMILY(cmd_family_lcs, "string", lcs_cmds);
