/*
 * Geo commands: GEOADD (NX, XX, CH), GEODIST, GEOHASH, GEOPOS, GEOSEARCH, GEOSEARCHSTORE,
 * GEORADIUS, GEORADIUSBYMEMBER and their _RO forms, with Redis 7.0's replies, errors and
 * number formats: coordinates with up to 17 decimals (trailing zeros cut), distances with
 * exactly 4. A geo key is a sorted set (store_zset.h) whose scores are 52-bit geohashes
 * (geohash.h), so ZRANGE and ZSCORE read it as Redis's do, and a member ZADD gave any score
 * decodes as Redis decodes it.
 *
 * A search walks the nine geohash cells Redis walks (the centre's and its neighbours, as
 * score ranges of the set, in the same order, skipping a cell equal to the one walked just
 * before), keeps the members inside the shape in a temporary array on the heap (grown by
 * doubling: at most nine entries per member of the set), sorts it by distance when asked
 * (stably, as glibc's qsort that Redis calls is a merge sort), and answers or stores the
 * first COUNT (a COUNT below the points found takes Redis's partial quicksort, so equal
 * distances come out in its order). The array, the sort's scratch and a STORE's copies of
 * the members are released before the command ends; a heap that has no room for them
 * answers OOM. STORE copies the members first, because the destination may be the source.
 *
 * This file does not emit keyspace notifications (see the report of this change for the
 * events Redis sends).
 */
#include "cmd_handlers.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "geohash.h"
#include "heap.h"
#include "notify.h"
#include "number.h"
#include "store_zset.h"

/* Whether an argument read as a C string (up to its first NUL, as Redis's strcasecmp reads
 * it) is `word`, ignoring case. */
static bool geo_word_is(struct slice arg, const char *word)
{
    size_t word_bytes = strlen(word);
    KV_ASSERT(word_bytes > 0);
    const uint8_t *nul = arg.length > 0 ? memchr(arg.bytes, 0, arg.length) : NULL;
    size_t length = nul != NULL ? (size_t)(nul - arg.bytes) : arg.length;
    return length == word_bytes && strncasecmp((const char *)arg.bytes, word, word_bytes) == 0;
}

/* Redis's getDoubleFromObject (number.h). */
static bool geo_double_parse(struct slice arg, double *value)
{
    return number_parse_double(arg.bytes, arg.length, value);
}

/* A longitude and latitude from args[0] and args[1] (extractLongLatOrReply); false after
 * answering the error. */
static bool geo_position_parse(struct cmd_context *context, const struct slice *args,
                               double *longitude, double *latitude)
{
    if (!geo_double_parse(args[0], longitude) || !geo_double_parse(args[1], latitude)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_FLOAT);
        return false;
    }
    if (*longitude < GEOHASH_LONG_MIN || *longitude > GEOHASH_LONG_MAX ||
        *latitude < GEOHASH_LAT_MIN || *latitude > GEOHASH_LAT_MAX) {
        /* Redis prints the pair with "%f,%f"; 1e308 takes about 320 bytes each. */
        char text[720];
        int length = snprintf(text, sizeof(text), "%f,%f", *longitude, *latitude);
        KV_ASSERT(length > 0 && (size_t)length < sizeof(text));
        struct slice pair = {.bytes = (const uint8_t *)text, .length = (uint32_t)length};
        reply_error_format(&context->reply, REPLY_ERROR_GEO_LONLAT_INVALID, &pair);
        return false;
    }
    return true;
}

/* Meters in a unit: m, km, ft, mi (extractUnitOrReply); false after answering the error. */
static bool geo_unit_parse(struct cmd_context *context, struct slice arg, double *meters)
{
    static const struct {
        const char *name;
        double meters;
    } units[] = {{"m", 1}, {"km", 1000}, {"ft", 0.3048}, {"mi", 1609.34}};
    /* Bounded by the four units. */
    for (uint32_t index = 0; index < sizeof(units) / sizeof(units[0]); index++) {
        if (geo_word_is(arg, units[index].name)) {
            *meters = units[index].meters;
            return true;
        }
    }
    reply_error(&context->reply, REPLY_ERROR_GEO_UNIT);
    return false;
}

/* A radius and its unit from args[0] and args[1] (extractDistanceOrReply). */
static bool geo_radius_parse(struct cmd_context *context, const struct slice *args,
                             struct geohash_shape *shape)
{
    double radius = 0;
    if (!geo_double_parse(args[0], &radius)) {
        reply_error(&context->reply, REPLY_ERROR_GEO_RADIUS_NOT_NUMBER);
        return false;
    }
    if (radius < 0) {
        reply_error(&context->reply, REPLY_ERROR_GEO_RADIUS_NEGATIVE);
        return false;
    }
    shape->radius = radius;
    return geo_unit_parse(context, args[1], &shape->conversion);
}

/* A width, a height and their unit from args[0..2] (extractBoxOrReply). */
static bool geo_box_parse(struct cmd_context *context, const struct slice *args,
                          struct geohash_shape *shape)
{
    double width = 0;
    double height = 0;
    if (!geo_double_parse(args[0], &width)) {
        reply_error(&context->reply, REPLY_ERROR_GEO_WIDTH_NOT_NUMBER);
        return false;
    }
    if (!geo_double_parse(args[1], &height)) {
        reply_error(&context->reply, REPLY_ERROR_GEO_HEIGHT_NOT_NUMBER);
        return false;
    }
    if (height < 0 || width < 0) {
        reply_error(&context->reply, REPLY_ERROR_GEO_BOX_NEGATIVE);
        return false;
    }
    shape->width = width;
    shape->height = height;
    return geo_unit_parse(context, args[2], &shape->conversion);
}

/* A member's position; false when it is not in the set. */
static bool geo_member_position(const struct store *store, uint32_t key_ref, struct slice member,
                                double *longitude, double *latitude)
{
    double score = 0;
    if (!store_zset_score(store, key_ref, member, &score)) {
        return false;
    }
    geohash_score_decode(score, longitude, latitude);
    KV_ASSERT(*longitude >= GEOHASH_LONG_MIN && *longitude <= GEOHASH_LONG_MAX);
    return true;
}

/* A distance as Redis's addReplyDoubleDistance: rounded to 4 decimals (llrint of d * 10^4,
 * which on x86-64 gives INT64_MIN past the range), always 4 digits after the point. */
static void reply_distance(struct reply *reply, double distance)
{
    char text[32];
    int length = 0;
    if (distance == 0) {
        length = snprintf(text, sizeof(text), "0.0000");
    } else {
        long long scaled = llrint(distance * 10000.0);
        unsigned long long magnitude = scaled >= 0 ? (unsigned long long)scaled
                                                   : 0ull - (unsigned long long)scaled;
        length = snprintf(text, sizeof(text), "%s%llu.%04llu", scaled < 0 ? "-" : "",
                          magnitude / 10000ull, magnitude % 10000ull);
    }
    KV_ASSERT(length > 0 && (size_t)length < sizeof(text));
    reply_bulk(reply, (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)length});
}

/* A coordinate as Redis's addReplyHumanLongDouble: "%.17f" without trailing zeros (nor a
 * trailing point), "-0" as "0"; a bulk in RESP2, a double in RESP3. */
static void reply_coordinate(struct reply *reply, double value)
{
    char text[64];
    KV_ASSERT(value >= -360.0 && value <= 360.0); /* decoded coordinates, clamped */
    int printed = snprintf(text + 1, sizeof(text) - 3, "%.17f", value);
    KV_ASSERT(printed > 0 && (size_t)printed < sizeof(text) - 3);
    uint32_t length = (uint32_t)printed;
    /* Bounded by the text: a "%.17f" always has a point, which stops the trim. */
    while (text[length] == '0') {
        length--;
    }
    length -= text[length] == '.' ? 1u : 0u;
    if (length == 2 && text[1] == '-' && text[2] == '0') {
        text[1] = '0';
        length = 1;
    }
    if (!reply->resp3) {
        reply_bulk(reply, (struct slice){.bytes = (const uint8_t *)text + 1, .length = length});
        return;
    }
    text[0] = ',';
    text[length + 1] = '\r';
    text[length + 2] = '\n';
    reply_raw(reply, text, length + 3);
}

/* ---- GEOADD, GEODIST, GEOHASH, GEOPOS ---- */

/* A score the GEOADD handler put in an 8-byte slice, as the store reads the pairs. */
static double geo_score_value(struct slice text)
{
    double score = 0;
    KV_ASSERT(text.length == sizeof(score));
    memcpy(&score, text.bytes, sizeof(score));
    return score;
}

/* GEOADD's options (nx, xx, ch) from args[2]; returns the index of the first longitude,
 * with the store's flags and CH; false after answering the error. */
static bool geoadd_parse(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, uint32_t *flags, bool *changed, uint32_t *first)
{
    uint32_t index = 2;
    /* Bounded by the arguments. */
    for (; index < arg_count; index++) {
        if (geo_word_is(args[index], "nx")) {
            *flags |= STORE_ZSET_NX;
        } else if (geo_word_is(args[index], "xx")) {
            *flags |= STORE_ZSET_XX;
        } else if (geo_word_is(args[index], "ch")) {
            *changed = true;
        } else {
            break;
        }
    }
    /* As Redis: a count of arguments not in threes, NX with XX, and (ZADD's check, which
     * GEOADD reaches) no element at all are syntax errors. */
    if ((arg_count - index) % 3 != 0 || index == arg_count ||
        ((*flags & STORE_ZSET_NX) && (*flags & STORE_ZSET_XX))) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return false;
    }
    *first = index;
    KV_ASSERT(*first + 3 <= arg_count);
    return true;
}

/* GEOADD's pairs for the store: score (8 bytes of a double) and member, per element. */
static void geoadd_pairs_fill(const struct slice *elements, uint32_t count, struct slice *pairs,
                              double *scores)
{
    /* Bounded by the elements. */
    for (uint32_t index = 0; index < count; index++) {
        double longitude = 0;
        double latitude = 0;
        bool parsed = geo_double_parse(elements[3 * index], &longitude) &&
                      geo_double_parse(elements[3 * index + 1], &latitude);
        KV_ASSERT(parsed); /* checked before */
        scores[index] = (double)geohash_score_of(longitude, latitude);
        pairs[2 * index] = (struct slice){.bytes = (const uint8_t *)&scores[index],
                                          .length = sizeof(double)};
        pairs[2 * index + 1] = elements[3 * index + 2];
    }
}

CMD_HANDLER(cmd_geoadd)
{
    KV_ASSERT(arg_count >= 5);
    uint32_t flags = 0;
    bool changed = false;
    uint32_t first = 0;
    if (!geoadd_parse(context, args, arg_count, &flags, &changed, &first)) {
        return;
    }
    uint32_t count = (arg_count - first) / 3;
    /* Bounded by the elements: every position before the key, as Redis checks them. */
    for (uint32_t index = 0; index < count; index++) {
        double longitude = 0;
        double latitude = 0;
        if (!geo_position_parse(context, args + first + 3 * index, &longitude, &latitude)) {
            return;
        }
    }
    struct store_found found;
    if (store_find_typed(context->store, args[1], STORE_TYPE_ZSET, &found) == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    struct heap *heap = context->store->heap;
    uint64_t pair_bytes = (uint64_t)count * (2 * sizeof(struct slice));
    uint8_t *block = heap_alloc(heap, pair_bytes + (uint64_t)count * sizeof(double));
    if (block == NULL) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    struct slice *pairs = (struct slice *)block;
    double *scores = (double *)(block + pair_bytes);
    geoadd_pairs_fill(args + first, count, pairs, scores);
    const struct store_zset_pairs zset_pairs = {
        .args = pairs, .count = count, .score = geo_score_value};
    struct store_zset_result result;
    enum store_status status =
        store_zset_add(context->store, &found, args[1], flags, &zset_pairs, &result);
    heap_release(heap, block);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    KV_ASSERT(result.added <= count);
    reply_integer(&context->reply, (int64_t)result.added + (changed ? result.changed : 0));
    if (result.added + result.changed > 0) {
        notify_event(NOTIFY_ZSET, "zadd", args[1]); /* Redis's GEOADD is its ZADD */
    }
}

CMD_HANDLER(cmd_geodist)
{
    KV_ASSERT(arg_count >= 4);
    double meters = 1;
    if (arg_count == 5 && !geo_unit_parse(context, args[4], &meters)) {
        return;
    }
    if (arg_count > 5) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_ZSET, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    double position[4];
    if (status != STORE_OK ||
        !geo_member_position(context->store, found.key_ref, args[2], &position[0],
                             &position[1]) ||
        !geo_member_position(context->store, found.key_ref, args[3], &position[2],
                             &position[3])) {
        reply_null(&context->reply);
        return;
    }
    double distance = geohash_distance(position[0], position[1], position[2], position[3]);
    reply_distance(&context->reply, distance / meters);
}

CMD_HANDLER(cmd_geohash)
{
    KV_ASSERT(arg_count >= 2);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_ZSET, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    reply_array(&context->reply, arg_count - 2);
    /* Bounded by the members named. */
    for (uint32_t index = 2; index < arg_count; index++) {
        double longitude = 0;
        double latitude = 0;
        if (status != STORE_OK || !geo_member_position(context->store, found.key_ref,
                                                       args[index], &longitude, &latitude)) {
            reply_null(&context->reply);
            continue;
        }
        char text[11];
        geohash_text(longitude, latitude, text);
        reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)text,
                                                   .length = sizeof(text)});
    }
}

CMD_HANDLER(cmd_geopos)
{
    KV_ASSERT(arg_count >= 2);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_ZSET, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    reply_array(&context->reply, arg_count - 2);
    /* Bounded by the members named. */
    for (uint32_t index = 2; index < arg_count; index++) {
        double longitude = 0;
        double latitude = 0;
        if (status != STORE_OK || !geo_member_position(context->store, found.key_ref,
                                                       args[index], &longitude, &latitude)) {
            reply_null_array(&context->reply);
            continue;
        }
        reply_array(&context->reply, 2);
        reply_coordinate(&context->reply, longitude);
        reply_coordinate(&context->reply, latitude);
    }
}

/* ---- Searches ---- */

/* Which command a search is (Redis's georadiusGeneric flags). */
enum geo_variant {
    GEO_FROM_POSITION = 1u << 0, /* GEORADIUS: longitude latitude radius unit */
    GEO_FROM_MEMBER = 1u << 1,   /* GEORADIUSBYMEMBER: member radius unit */
    GEO_NO_STORE = 1u << 2,      /* the _RO forms: no STORE or STOREDIST */
    GEO_SEARCH = 1u << 3,        /* GEOSEARCH's FROM... and BY... options */
    GEO_SEARCH_STORE = 1u << 4,  /* GEOSEARCHSTORE: args[1] is the destination */
};

enum geo_sort { GEO_SORT_NONE, GEO_SORT_ASC, GEO_SORT_DESC };

/* A search as its arguments ask for it. */
struct geo_request {
    uint32_t variant;            /* enum geo_variant */
    struct geohash_shape shape;  /* centre, shape and unit */
    const struct slice *store;   /* the destination key; NULL: answer the points */
    bool store_distance;         /* STOREDIST: distances as the scores */
    bool with_distance;
    bool with_hash;
    bool with_coordinates;
    bool from_member;
    bool from_position;
    bool by_radius;
    bool by_box;
    bool any;                    /* stop at `count` points found */
    uint8_t sort;                /* enum geo_sort */
    int64_t count;               /* at most this many points; 0: all */
};

/* One point a search found. */
struct geo_point {
    struct slice member;   /* in the set (or, for a STORE, in the command's copy) */
    double longitude;
    double latitude;
    double distance;       /* meters; in the request's unit once answered */
    double score;          /* the member's score */
};

/* The points found, in a heap array grown by doubling. */
struct geo_points {
    struct heap *heap;
    struct geo_point *points; /* NULL until the first point */
    uint64_t count;
    uint64_t capacity;
    bool failed;              /* the heap had no room: the command answers OOM */
};

static bool geo_points_append(struct geo_points *found, const struct geo_point *point)
{
    KV_ASSERT(found->count <= found->capacity);
    if (found->count == found->capacity) {
        uint64_t capacity = found->capacity == 0 ? 16 : found->capacity * 2;
        uint64_t bytes = capacity * sizeof(struct geo_point);
        void *grown = found->points == NULL ? heap_alloc(found->heap, bytes)
                                            : heap_resize(found->heap, found->points, bytes);
        if (grown == NULL) {
            found->failed = true;
            return false;
        }
        found->points = grown;
        found->capacity = capacity;
    }
    found->points[found->count++] = *point;
    return true;
}

/* The members of one cell (a score range of the set) inside the shape, walked up from the
 * cell's lowest score, stopping once `limit` points are found (0: no limit). */
static void geo_cell_collect(const struct store *store, uint32_t key_ref,
                             const struct geohash_shape *shape, struct geohash_bits cell,
                             uint64_t limit, struct geo_points *found)
{
    double min = (double)geohash_align52(cell);
    cell.bits++;
    double max = (double)geohash_align52(cell);
    KV_ASSERT(min < max);
    uint32_t first = store_zset_count_below(store, key_ref, min, false);
    uint32_t end = store_zset_count_below(store, key_ref, max, false);
    if (first >= end) {
        return;
    }
    struct store_zset_walk walk;
    store_zset_walk_start(store, key_ref, first, false, &walk);
    /* Bounded by the members in the range, end - first. */
    for (uint32_t rank = first; rank < end; rank++) {
        struct geo_point point = {.distance = 0};
        bool more = store_zset_walk_next(&walk, &point.member, &point.score);
        KV_ASSERT(more);
        geohash_score_decode(point.score, &point.longitude, &point.latitude);
        if (geohash_in_shape(shape, point.longitude, point.latitude, &point.distance) &&
            !geo_points_append(found, &point)) {
            return;
        }
        if (found->count > 0 && limit > 0 && found->count >= limit) {
            return;
        }
    }
}

/* Every cell of the search in Redis's order (membersOfAllNeighbors): dropped cells and a
 * cell equal to the last one walked after the centre's are skipped. */
static void geo_collect(const struct store *store, uint32_t key_ref,
                        const struct geohash_shape *shape, uint64_t limit,
                        struct geo_points *found)
{
    struct geohash_search search;
    geohash_search_cells(shape, &search);
    uint32_t last = 0; /* the last cell walked; 0 (the centre's) never counts as a repeat */
    /* Bounded by the nine cells. */
    for (uint32_t index = 0; index < GEOHASH_SEARCH_CELLS && !found->failed; index++) {
        struct geohash_bits cell = search.cells[index];
        if (cell.bits == 0 && cell.step == 0) {
            continue;
        }
        if (last != 0 && cell.bits == search.cells[last].bits &&
            cell.step == search.cells[last].step) {
            continue;
        }
        if (found->count > 0 && limit > 0 && found->count >= limit) {
            break;
        }
        geo_cell_collect(store, key_ref, shape, cell, limit, found);
        last = index;
    }
    KV_ASSERT(found->failed || found->count <= found->capacity);
}

/* Redis's comparators (sort_gp_asc, sort_gp_desc): 1, 0 or -1 by distance. */
static int geo_compare(const struct geo_point *left, const struct geo_point *right,
                       bool descending)
{
    int order = left->distance > right->distance ? 1
                : left->distance == right->distance ? 0
                                                    : -1;
    return descending ? -order : order;
}

/* Sorts all the points by distance as Redis's qsort does: glibc's qsort is a stable merge
 * sort (it takes the left run's point while compare(left, right) <= 0). A bottom-up merge
 * with a scratch array of as many points: log2(count) passes of count moves. False when the
 * heap has no room for the scratch. */
static bool geo_points_sort(struct geo_points *found, bool descending)
{
    uint64_t count = found->count;
    if (count < 2) {
        return true;
    }
    struct geo_point *scratch = heap_alloc(found->heap, count * sizeof(struct geo_point));
    if (scratch == NULL) {
        return false;
    }
    struct geo_point *from = found->points;
    struct geo_point *to = scratch;
    /* Bounded: the width doubles up to count. */
    for (uint64_t width = 1; width < count; width *= 2) {
        /* Bounded by count: each pass merges runs of `width` pairwise. */
        for (uint64_t start = 0; start < count; start += 2 * width) {
            uint64_t middle = start + width < count ? start + width : count;
            uint64_t end = start + 2 * width < count ? start + 2 * width : count;
            uint64_t left = start;
            uint64_t right = middle;
            /* Bounded by end - start: each step moves one point. */
            for (uint64_t out = start; out < end; out++) {
                bool take_right =
                    left >= middle ||
                    (right < end && geo_compare(&from[left], &from[right], descending) > 0);
                to[out] = take_right ? from[right++] : from[left++];
            }
        }
        struct geo_point *swap = from;
        from = to;
        to = swap;
    }
    if (from != found->points) {
        memcpy(found->points, from, count * sizeof(struct geo_point));
    }
    heap_release(found->heap, scratch);
    return true;
}

/* ---- Redis's pqsort (Bentley and McIlroy's quicksort that skips the partitions wholly
 * past the ranks wanted), for a COUNT below the points found: equal distances end up in its
 * order, which no stable sort gives. Indexes instead of pointers, a stack instead of its
 * recursion. ---- */

struct geo_sorter {
    struct geo_point *points;
    bool descending;
};

static int sorter_compare(const struct geo_sorter *sorter, int64_t left, int64_t right)
{
    return geo_compare(&sorter->points[left], &sorter->points[right], sorter->descending);
}

static void sorter_swap(const struct geo_sorter *sorter, int64_t left, int64_t right)
{
    struct geo_point point = sorter->points[left];
    sorter->points[left] = sorter->points[right];
    sorter->points[right] = point;
}

/* Swaps the runs of `count` points at left and right, point by point. */
static void sorter_swap_runs(const struct geo_sorter *sorter, int64_t left, int64_t right,
                             int64_t count)
{
    /* Bounded by count. */
    for (int64_t index = 0; index < count; index++) {
        sorter_swap(sorter, left + index, right + index);
    }
}

/* The median of three points, as pqsort's med3 picks it. */
static int64_t sorter_median(const struct geo_sorter *sorter, int64_t a, int64_t b, int64_t c)
{
    if (sorter_compare(sorter, a, b) < 0) {
        return sorter_compare(sorter, b, c) < 0 ? b : (sorter_compare(sorter, a, c) < 0 ? c : a);
    }
    return sorter_compare(sorter, b, c) > 0 ? b : (sorter_compare(sorter, a, c) < 0 ? a : c);
}

/* Insertion sort of a run under 7 points. */
static void sorter_insertion(const struct geo_sorter *sorter, int64_t first, int64_t count)
{
    /* Bounded by count squared, count under 7. */
    for (int64_t middle = first + 1; middle < first + count; middle++) {
        for (int64_t at = middle; at > first && sorter_compare(sorter, at - 1, at) > 0; at--) {
            sorter_swap(sorter, at, at - 1);
        }
    }
}

/* The pivot pqsort picks for a run of 7 or more: the middle, the median of three, or the
 * median of three medians past 40. */
static int64_t sorter_pivot(const struct geo_sorter *sorter, int64_t first, int64_t count)
{
    int64_t middle = first + count / 2;
    if (count > 7) {
        int64_t low = first;
        int64_t high = first + count - 1;
        if (count > 40) {
            int64_t step = count / 8;
            low = sorter_median(sorter, low, low + step, low + 2 * step);
            middle = sorter_median(sorter, middle - step, middle, middle + step);
            high = sorter_median(sorter, high - 2 * step, high - step, high);
        }
        middle = sorter_median(sorter, low, middle, high);
    }
    return middle;
}

/* One partition of a run of 7 or more around its pivot, equal points gathered at both ends
 * first and then swapped to the middle: the runs below and above the pivot's, as
 * (first, count) pairs. */
static void sorter_partition(const struct geo_sorter *sorter, int64_t first, int64_t count,
                             int64_t below[2], int64_t above[2])
{
    sorter_swap(sorter, first, sorter_pivot(sorter, first, count));
    int64_t pa = first + 1;
    int64_t pb = first + 1;
    int64_t pc = first + count - 1;
    int64_t pd = first + count - 1;
    /* Bounded: pb rises and pc falls every pass until they cross. */
    for (;;) {
        int result = 0;
        while (pb <= pc && (result = sorter_compare(sorter, pb, first)) <= 0) {
            if (result == 0) {
                sorter_swap(sorter, pa++, pb);
            }
            pb++;
        }
        while (pb <= pc && (result = sorter_compare(sorter, pc, first)) >= 0) {
            if (result == 0) {
                sorter_swap(sorter, pc, pd--);
            }
            pc--;
        }
        if (pb > pc) {
            break;
        }
        sorter_swap(sorter, pb++, pc--);
    }
    int64_t end = first + count;
    int64_t run = pa - first < pb - pa ? pa - first : pb - pa;
    sorter_swap_runs(sorter, first, pb - run, run);
    run = pd - pc < end - pd - 1 ? pd - pc : end - pd - 1;
    sorter_swap_runs(sorter, pb, end - run, run);
    below[0] = first;
    below[1] = pb - pa;
    above[0] = end - (pd - pc);
    above[1] = pd - pc;
    KV_ASSERT(below[1] + above[1] < count);
}

/* Sorts so that ranks 0..last hold what a full sort puts there, as pqsort(0, last) does. */
static void geo_points_partial_sort(struct geo_points *found, uint64_t last, bool descending)
{
    KV_ASSERT(last < found->count);
    const struct geo_sorter sorter = {.points = found->points, .descending = descending};
    /* Runs still to sort: the larger part of each split waits here while the smaller goes
     * on, so there are at most log2(count) of them. */
    int64_t stack[64][2];
    uint32_t depth = 0;
    int64_t first = 0;
    int64_t count = (int64_t)found->count;
    /* Bounded: every pass sorts a run or splits it into smaller ones. */
    for (;;) {
        int64_t parts[2][2] = {{0, 0}, {0, 0}};
        if (count < 7) {
            sorter_insertion(&sorter, first, count);
        } else {
            sorter_partition(&sorter, first, count, parts[0], parts[1]);
        }
        /* pqsort's test: a run of 2 or more starting at or before `last`. */
        bool keep_below = parts[0][1] > 1 && parts[0][0] <= (int64_t)last;
        bool keep_above = parts[1][1] > 1 && parts[1][0] <= (int64_t)last;
        if (keep_below && keep_above) {
            uint32_t larger = parts[0][1] >= parts[1][1] ? 0 : 1;
            KV_ASSERT(depth < 64);
            stack[depth][0] = parts[larger][0];
            stack[depth][1] = parts[larger][1];
            depth++;
            first = parts[1 - larger][0];
            count = parts[1 - larger][1];
        } else if (keep_below || keep_above) {
            first = parts[keep_below ? 0 : 1][0];
            count = parts[keep_below ? 0 : 1][1];
        } else if (depth > 0) {
            depth--;
            first = stack[depth][0];
            count = stack[depth][1];
        } else {
            break;
        }
    }
}

/* Answers the first `returned` points with the fields asked for. */
static void geo_reply_points(struct cmd_context *context, const struct geo_request *request,
                             struct geo_points *found, uint64_t returned)
{
    KV_ASSERT(returned <= found->count);
    uint32_t fields = (request->with_distance ? 1u : 0u) + (request->with_hash ? 1u : 0u) +
                      (request->with_coordinates ? 1u : 0u);
    reply_array(&context->reply, returned);
    /* Bounded by the points answered. */
    for (uint64_t index = 0; index < returned; index++) {
        struct geo_point *point = &found->points[index];
        point->distance /= request->shape.conversion;
        if (fields > 0) {
            reply_array(&context->reply, fields + 1);
        }
        reply_bulk(&context->reply, point->member);
        if (request->with_distance) {
            reply_distance(&context->reply, point->distance);
        }
        if (request->with_hash) {
            reply_integer(&context->reply, geohash_score_integer(point->score));
        }
        if (request->with_coordinates) {
            reply_array(&context->reply, 2);
            reply_coordinate(&context->reply, point->longitude);
            reply_coordinate(&context->reply, point->latitude);
        }
    }
}

/* Removes the destination of a STORE when it exists; returns whether it did. `deleted`: the
 * removal is the command's outcome (an empty result, or no source), which Redis announces
 * as "del"; a replacement is not announced. */
static bool geo_store_clear(struct cmd_context *context, struct slice key, bool deleted)
{
    struct store_found target;
    (void)store_find_typed(context->store, key, STORE_TYPE_ANY, &target);
    bool existed = target.exists;
    if (existed) {
        store_remove(context->store, &target);
    }
    KV_ASSERT(!store_peek(context->store, key, &(uint32_t){0}));
    if (existed && deleted) {
        notify_event(NOTIFY_GENERIC, "del", key);
    }
    return existed;
}

/* The first `returned` points as a new sorted set at the destination, replacing what was
 * there: scores the geohashes, or the distances in the request's unit with STOREDIST. The
 * members are copied first (the destination may be the source); with the copies taken the
 * old key goes, then the store adds the set (its caps and the budget checked there). */
static void geo_store_points(struct cmd_context *context, const struct geo_request *request,
                             struct geo_points *found, uint64_t returned)
{
    KV_ASSERT(returned > 0 && returned <= found->count);
    uint64_t member_bytes = 0;
    /* Bounded by the points stored. */
    for (uint64_t index = 0; index < returned; index++) {
        member_bytes += found->points[index].member.length;
    }
    uint64_t pair_bytes = returned * 2 * sizeof(struct slice);
    uint64_t score_bytes = returned * sizeof(double);
    uint8_t *block = heap_alloc(found->heap, pair_bytes + score_bytes + member_bytes + 1);
    if (block == NULL) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    struct slice *pairs = (struct slice *)block;
    double *scores = (double *)(block + pair_bytes);
    uint8_t *copies = block + pair_bytes + score_bytes;
    /* Bounded by the points stored. */
    for (uint64_t index = 0; index < returned; index++) {
        struct geo_point *point = &found->points[index];
        point->distance /= request->shape.conversion;
        scores[index] = request->store_distance ? point->distance : point->score;
        if (point->member.length > 0) {
            memcpy(copies, point->member.bytes, point->member.length);
        }
        pairs[2 * index] = (struct slice){.bytes = (const uint8_t *)&scores[index],
                                          .length = sizeof(double)};
        pairs[2 * index + 1] = (struct slice){.bytes = copies, .length = point->member.length};
        copies += point->member.length;
    }
    /* Redis's setKey replaces a destination without a "new" event; the add here after the
     * removal would announce one. */
    bool replaced = geo_store_clear(context, *request->store, false);
    struct store_found target;
    (void)store_find_typed(context->store, *request->store, STORE_TYPE_ZSET, &target);
    KV_ASSERT(!target.exists);
    const struct store_zset_pairs zset_pairs = {
        .args = pairs, .count = (uint32_t)returned, .score = geo_score_value};
    struct store_zset_result result;
    if (replaced) {
        notify_new_mute(true);
    }
    enum store_status status =
        store_zset_add(context->store, &target, *request->store, 0, &zset_pairs, &result);
    if (replaced) {
        notify_new_mute(false);
    }
    heap_release(found->heap, block);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    notify_event(NOTIFY_ZSET,
                 (request->variant & GEO_SEARCH) ? "geosearchstore" : "georadiusstore",
                 *request->store);
    reply_integer(&context->reply, (int64_t)returned);
}

/* GEOSEARCH's FROMMEMBER: the member's position, unless the key is missing (then the
 * parse goes on and the command answers empty); false after answering the error. */
static bool geo_from_member(struct cmd_context *context, const struct store_found *source,
                            bool exists, struct slice member, struct geo_request *request)
{
    if (exists && !geo_member_position(context->store, source->key_ref, member,
                                       &request->shape.longitude, &request->shape.latitude)) {
        reply_error(&context->reply, REPLY_ERROR_GEO_MEMBER_MISSING);
        return false;
    }
    request->from_member = true;
    return true;
}

/* The option at args[index] and its values, as georadiusGeneric's chain tests them in
 * order; returns the arguments taken (at least 1), or 0 after answering the error. */
static uint32_t geo_option_parse(struct cmd_context *context, const struct slice *args,
                                 uint32_t arg_count, uint32_t index,
                                 const struct store_found *source, bool exists,
                                 struct geo_request *request)
{
    struct slice arg = args[index];
    uint32_t left = arg_count - index - 1; /* values after the option */
    bool search = request->variant & GEO_SEARCH;
    bool store_allowed = !(request->variant & (GEO_NO_STORE | GEO_SEARCH));
    bool flag = true;
    if (geo_word_is(arg, "withdist")) {
        request->with_distance = true;
    } else if (geo_word_is(arg, "withhash")) {
        request->with_hash = true;
    } else if (geo_word_is(arg, "withcoord")) {
        request->with_coordinates = true;
    } else if (geo_word_is(arg, "any")) {
        request->any = true;
    } else if (geo_word_is(arg, "asc")) {
        request->sort = GEO_SORT_ASC;
    } else if (geo_word_is(arg, "desc")) {
        request->sort = GEO_SORT_DESC;
    } else {
        flag = false;
    }
    if (flag) {
        return 1;
    }
    if (geo_word_is(arg, "count") && left >= 1) {
        if (!number_parse_int64(args[index + 1].bytes, args[index + 1].length,
                                &request->count)) {
            reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
            return 0;
        }
        if (request->count <= 0) {
            /* The streams' line: Redis's text is the same. */
            reply_error(&context->reply, REPLY_ERROR_STREAM_COUNT_POSITIVE);
            return 0;
        }
        return 2;
    }
    if ((geo_word_is(arg, "store") || geo_word_is(arg, "storedist")) && left >= 1 &&
        store_allowed) {
        request->store = &args[index + 1];
        request->store_distance = geo_word_is(arg, "storedist");
        return 2;
    }
    if (geo_word_is(arg, "storedist") && (request->variant & GEO_SEARCH_STORE)) {
        request->store_distance = true;
        return 1;
    }
    if (geo_word_is(arg, "frommember") && left >= 1 && search && !request->from_position) {
        return geo_from_member(context, source, exists, args[index + 1], request) ? 2 : 0;
    }
    if (geo_word_is(arg, "fromlonlat") && left >= 2 && search && !request->from_member) {
        request->from_position = true;
        return geo_position_parse(context, args + index + 1, &request->shape.longitude,
                                  &request->shape.latitude)
                   ? 3
                   : 0;
    }
    if (geo_word_is(arg, "byradius") && left >= 2 && search && !request->by_box) {
        request->shape.kind = GEOHASH_SHAPE_RADIUS;
        request->by_radius = true;
        return geo_radius_parse(context, args + index + 1, &request->shape) ? 3 : 0;
    }
    if (geo_word_is(arg, "bybox") && left >= 3 && search && !request->by_radius) {
        request->shape.kind = GEOHASH_SHAPE_BOX;
        request->by_box = true;
        return geo_box_parse(context, args + index + 1, &request->shape) ? 4 : 0;
    }
    reply_error(&context->reply, REPLY_ERROR_SYNTAX);
    return 0;
}

/* The checks after the options, in Redis's order; false after answering the error. */
static bool geo_request_check(struct cmd_context *context, const struct slice *args,
                              const struct geo_request *request)
{
    enum reply_error error = REPLY_ERROR_NONE;
    bool search = request->variant & GEO_SEARCH;
    if (request->store != NULL &&
        (request->with_distance || request->with_hash || request->with_coordinates)) {
        error = (request->variant & GEO_SEARCH_STORE) ? REPLY_ERROR_GEO_SEARCHSTORE_WITH
                                                      : REPLY_ERROR_GEO_STORE_WITH;
    } else if (search && !(request->from_member || request->from_position)) {
        reply_error_format(&context->reply, REPLY_ERROR_GEO_FROM_ONE, &args[0]);
        return false;
    } else if (search && !(request->by_radius || request->by_box)) {
        reply_error_format(&context->reply, REPLY_ERROR_GEO_BY_ONE, &args[0]);
        return false;
    } else if (request->any && request->count == 0) {
        error = REPLY_ERROR_GEO_ANY_COUNT;
    }
    if (error != REPLY_ERROR_NONE) {
        reply_error(&context->reply, error);
        return false;
    }
    return true;
}

/* The fixed arguments of GEORADIUS and GEORADIUSBYMEMBER (centre, radius, unit); returns
 * where the options start, or 0 after answering the error. */
static uint32_t geo_fixed_parse(struct cmd_context *context, const struct slice *args,
                                const struct store_found *source, bool exists,
                                struct geo_request *request)
{
    struct geohash_shape *shape = &request->shape;
    if (request->variant & GEO_FROM_POSITION) {
        shape->kind = GEOHASH_SHAPE_RADIUS;
        bool parsed = geo_position_parse(context, args + 2, &shape->longitude,
                                         &shape->latitude) &&
                      geo_radius_parse(context, args + 4, shape);
        return parsed ? 6 : 0;
    }
    if (request->variant & GEO_FROM_MEMBER) {
        /* A missing key: the options are still parsed, for the reply's kind. */
        if (!exists) {
            return 5;
        }
        shape->kind = GEOHASH_SHAPE_RADIUS;
        if (!geo_member_position(context->store, source->key_ref, args[2], &shape->longitude,
                                 &shape->latitude)) {
            reply_error(&context->reply, REPLY_ERROR_GEO_MEMBER_MISSING);
            return 0;
        }
        return geo_radius_parse(context, args + 3, shape) ? 5 : 0;
    }
    KV_ASSERT(request->variant & GEO_SEARCH);
    if (request->variant & GEO_SEARCH_STORE) {
        request->store = &args[1];
        return 3;
    }
    return 2;
}

/* Parses a whole search; false after answering the error. */
static bool geo_request_parse(struct cmd_context *context, const struct slice *args,
                              uint32_t arg_count, const struct store_found *source, bool exists,
                              struct geo_request *request)
{
    uint32_t index = geo_fixed_parse(context, args, source, exists, request);
    if (index == 0) {
        return false;
    }
    /* Bounded by the arguments: each option takes at least one. */
    while (index < arg_count) {
        uint32_t taken = geo_option_parse(context, args, arg_count, index, source, exists,
                                          request);
        if (taken == 0) {
            return false;
        }
        index += taken;
    }
    KV_ASSERT(index == arg_count);
    return geo_request_check(context, args, request);
}

/* Collects, sorts and answers (or stores) the points of a parsed search over an existing
 * set. */
static void geo_search_run(struct cmd_context *context, uint32_t key_ref,
                           struct geo_request *request)
{
    /* COUNT without an order takes the nearest, unless ANY asked for the first found. */
    if (request->count != 0 && request->sort == GEO_SORT_NONE && !request->any) {
        request->sort = GEO_SORT_ASC;
    }
    struct geo_points found = {.heap = context->store->heap};
    geo_collect(context->store, key_ref, &request->shape,
                request->any ? (uint64_t)request->count : 0, &found);
    uint64_t returned = (request->count == 0 || found.count < (uint64_t)request->count)
                            ? found.count
                            : (uint64_t)request->count;
    bool descending = request->sort == GEO_SORT_DESC;
    bool sorted = !found.failed;
    /* As Redis: qsort when every point is answered, pqsort of the first COUNT otherwise. */
    if (sorted && request->sort != GEO_SORT_NONE && returned == found.count) {
        sorted = geo_points_sort(&found, descending);
    } else if (sorted && request->sort != GEO_SORT_NONE) {
        geo_points_partial_sort(&found, returned - 1, descending);
    }
    if (!sorted) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
    } else if (request->store == NULL) {
        geo_reply_points(context, request, &found, returned);
    } else if (returned == 0) {
        (void)geo_store_clear(context, *request->store, true);
        reply_integer(&context->reply, 0);
    } else {
        geo_store_points(context, request, &found, returned);
    }
    if (found.points != NULL) {
        heap_release(found.heap, found.points);
    }
}

/* Redis's georadiusGeneric: the source set, the arguments, then the search. */
static void geo_search(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                       uint32_t source_index, uint32_t variant)
{
    KV_ASSERT(source_index < arg_count);
    struct store_found source;
    enum store_status status = cmd_read(context, args[source_index], STORE_TYPE_ZSET, &source);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    bool exists = status == STORE_OK;
    struct geo_request request = {.variant = variant, .sort = GEO_SORT_NONE};
    if (!geo_request_parse(context, args, arg_count, &source, exists, &request)) {
        return;
    }
    if (!exists) {
        if (request.store != NULL) {
            (void)geo_store_clear(context, *request.store, true);
            reply_integer(&context->reply, 0);
        } else {
            reply_array(&context->reply, 0);
        }
        return;
    }
    KV_ASSERT(request.shape.kind == GEOHASH_SHAPE_RADIUS ||
              request.shape.kind == GEOHASH_SHAPE_BOX);
    geo_search_run(context, source.key_ref, &request);
}

CMD_HANDLER(cmd_georadius)
{
    KV_ASSERT(arg_count >= 6);
    geo_search(context, args, arg_count, 1, GEO_FROM_POSITION);
}

CMD_HANDLER(cmd_georadius_ro)
{
    KV_ASSERT(arg_count >= 6);
    geo_search(context, args, arg_count, 1, GEO_FROM_POSITION | GEO_NO_STORE);
}

CMD_HANDLER(cmd_georadiusbymember)
{
    KV_ASSERT(arg_count >= 5);
    geo_search(context, args, arg_count, 1, GEO_FROM_MEMBER);
}

CMD_HANDLER(cmd_georadiusbymember_ro)
{
    KV_ASSERT(arg_count >= 5);
    geo_search(context, args, arg_count, 1, GEO_FROM_MEMBER | GEO_NO_STORE);
}

CMD_HANDLER(cmd_geosearch)
{
    KV_ASSERT(arg_count >= 7);
    geo_search(context, args, arg_count, 1, GEO_SEARCH);
}

CMD_HANDLER(cmd_geosearchstore)
{
    KV_ASSERT(arg_count >= 8);
    geo_search(context, args, arg_count, 2, GEO_SEARCH | GEO_SEARCH_STORE);
}

static const struct cmd geo_cmds[] = {
    {"geoadd", -5, 1, 1, 1, CMD_FLAG_WRITE, cmd_geoadd},
    {"geodist", -4, 1, 1, 1, 0, cmd_geodist},
    {"geohash", -2, 1, 1, 1, 0, cmd_geohash},
    {"geopos", -2, 1, 1, 1, 0, cmd_geopos},
    {"georadius", -6, 1, 1, 1, CMD_FLAG_WRITE, cmd_georadius},
    {"georadius_ro", -6, 1, 1, 1, 0, cmd_georadius_ro},
    {"georadiusbymember", -5, 1, 1, 1, CMD_FLAG_WRITE, cmd_georadiusbymember},
    {"georadiusbymember_ro", -5, 1, 1, 1, 0, cmd_georadiusbymember_ro},
    {"geosearch", -7, 1, 1, 1, 0, cmd_geosearch},
    {"geosearchstore", -8, 1, 2, 1, CMD_FLAG_WRITE, cmd_geosearchstore},
};

CMD_FAMILY(cmd_family_geo, "geo", geo_cmds);
