/*
 * Geohash encoding, decoding, neighbours, search cells and distances, computed as Redis 7.0's
 * geohash.c and geohash_helper.c compute them (see geohash.h): the same double operations in
 * the same order, so that coordinates, distances and the cells a search walks come out bit
 * for bit as Redis's do. Interleaving spreads each coordinate's bits with five mask steps;
 * a neighbour is the cell number plus or minus one in one coordinate's bits, wrapping.
 *
 * Invariants: steps are 1..32 wherever bits are shifted by them; no loop runs longer than a
 * constant (the step estimate doubles a positive radius at most about 1100 times before it
 * reaches the earth's size: the smallest positive double is 2^-1074). No state, no memory.
 */
#include "geohash.h"

#include <math.h>
#include <stddef.h>

#include "kv_assert.h"

/* Redis's constants: degrees to radians as M_PI / 180, the earth's quadratic mean radius
 * for WGS-84, and the Mercator half-width the step estimate compares with. */
#define GEOHASH_RAD_PER_DEG (M_PI / 180.0)
#define GEOHASH_EARTH_RADIUS_METERS 6372797.560856
#define GEOHASH_MERCATOR_MAX 20037726.37

static_assert(2u * GEOHASH_STEP_MAX == 52u, "a geo score has 52 bits");

static double deg_to_rad(double degrees)
{
    return degrees * GEOHASH_RAD_PER_DEG;
}

static double rad_to_deg(double radians)
{
    return radians / GEOHASH_RAD_PER_DEG;
}

/* The 32 bits of `value` moved to the even bit positions of a 64-bit word. */
static uint64_t spread_bits(uint32_t value)
{
    uint64_t word = value;
    word = (word | (word << 16)) & 0x0000FFFF0000FFFFull;
    word = (word | (word << 8)) & 0x00FF00FF00FF00FFull;
    word = (word | (word << 4)) & 0x0F0F0F0F0F0F0F0Full;
    word = (word | (word << 2)) & 0x3333333333333333ull;
    word = (word | (word << 1)) & 0x5555555555555555ull;
    KV_ASSERT((word & 0xAAAAAAAAAAAAAAAAull) == 0);
    return word;
}

/* The even bits of `word` gathered into 32 bits: spread_bits undone. */
static uint32_t gather_bits(uint64_t word)
{
    word &= 0x5555555555555555ull;
    word = (word | (word >> 1)) & 0x3333333333333333ull;
    word = (word | (word >> 2)) & 0x0F0F0F0F0F0F0F0Full;
    word = (word | (word >> 4)) & 0x00FF00FF00FF00FFull;
    word = (word | (word >> 8)) & 0x0000FFFF0000FFFFull;
    word = (word | (word >> 16)) & 0x00000000FFFFFFFFull;
    KV_ASSERT(word <= UINT32_MAX);
    return (uint32_t)word;
}

static bool range_is_zero(struct geohash_range range)
{
    return range.min == 0 && range.max == 0;
}

bool geohash_encode(struct geohash_range longitude_range, struct geohash_range latitude_range,
                    double longitude, double latitude, uint8_t step, struct geohash_bits *hash)
{
    *hash = (struct geohash_bits){0};
    if (step > 32 || step == 0 || range_is_zero(latitude_range) ||
        range_is_zero(longitude_range)) {
        return false;
    }
    if (longitude > GEOHASH_LONG_MAX || longitude < GEOHASH_LONG_MIN ||
        latitude > GEOHASH_LAT_MAX || latitude < GEOHASH_LAT_MIN) {
        return false;
    }
    hash->step = step;
    if (latitude < latitude_range.min || latitude > latitude_range.max ||
        longitude < longitude_range.min || longitude > longitude_range.max) {
        return false;
    }
    double latitude_offset =
        (latitude - latitude_range.min) / (latitude_range.max - latitude_range.min);
    double longitude_offset =
        (longitude - longitude_range.min) / (longitude_range.max - longitude_range.min);
    latitude_offset *= (double)(1ull << step);
    longitude_offset *= (double)(1ull << step);
    /* Offsets are in [0, 2^step]: the conversion truncates, as Redis's uint32_t parameters
     * do (a coordinate at its range's maximum gives 2^step, one bit past the cell). */
    KV_ASSERT(latitude_offset >= 0 && latitude_offset <= 4294967295.0);
    KV_ASSERT(longitude_offset >= 0 && longitude_offset <= 4294967295.0);
    hash->bits = spread_bits((uint32_t)latitude_offset) |
                 (spread_bits((uint32_t)longitude_offset) << 1);
    return true;
}

static const struct geohash_range geohash_longitude_range = {GEOHASH_LONG_MIN, GEOHASH_LONG_MAX};
static const struct geohash_range geohash_latitude_range = {GEOHASH_LAT_MIN, GEOHASH_LAT_MAX};

uint64_t geohash_align52(struct geohash_bits hash)
{
    KV_ASSERT(hash.step <= GEOHASH_STEP_MAX);
    return hash.bits << (52u - 2u * hash.step);
}

uint64_t geohash_score_of(double longitude, double latitude)
{
    struct geohash_bits hash;
    bool encoded = geohash_encode(geohash_longitude_range, geohash_latitude_range, longitude,
                                  latitude, GEOHASH_STEP_MAX, &hash);
    KV_ASSERT(encoded); /* the caller checked the limits */
    return geohash_align52(hash);
}

/* 2^63 and 2^64 as doubles: where x86-64's conversions change their rule. */
#define GEOHASH_TWO_63 9223372036854775808.0
#define GEOHASH_TWO_64 18446744073709551616.0

int64_t geohash_score_integer(double score)
{
    /* cvttsd2si: truncation when the result fits, else the "integer indefinite" INT64_MIN
     * (NaN and infinities included). Below 2^63 in magnitude a whole double fits. */
    if (!(score >= -GEOHASH_TWO_63 && score < GEOHASH_TWO_63)) {
        return INT64_MIN;
    }
    int64_t value = (int64_t)score;
    KV_ASSERT((double)value == trunc(score));
    return value;
}

uint64_t geohash_score_bits(double score)
{
    /* GCC's double to uint64_t on x86-64: below 2^63 (NaN too: the compare fails) the
     * signed conversion; from 2^63 the signed conversion of score - 2^63 with the top bit
     * flipped, so 2^64 and up (and +inf) give 0. */
    if (!(score >= GEOHASH_TWO_63)) {
        return (uint64_t)geohash_score_integer(score);
    }
    if (score >= GEOHASH_TWO_64) {
        return 0;
    }
    uint64_t low = (uint64_t)(score - GEOHASH_TWO_63);
    KV_ASSERT(low < (1ull << 63));
    return low ^ (1ull << 63);
}

/* The cell's extent over the ranges given (geohashDecode); false for a dropped cell. */
static bool geohash_decode(struct geohash_range longitude_range,
                           struct geohash_range latitude_range, struct geohash_bits hash,
                           struct geohash_area *area)
{
    *area = (struct geohash_area){{0, 0}, {0, 0}};
    if ((hash.bits == 0 && hash.step == 0) || range_is_zero(latitude_range) ||
        range_is_zero(longitude_range)) {
        return false;
    }
    KV_ASSERT(hash.step <= 32);
    uint32_t latitude_cell = gather_bits(hash.bits);
    uint32_t longitude_cell = gather_bits(hash.bits >> 1);
    double latitude_scale = latitude_range.max - latitude_range.min;
    double longitude_scale = longitude_range.max - longitude_range.min;
    double cells = (double)(1ull << hash.step);
    /* "+ 1" in 32 bits, wrapping as Redis's does for a score with every bit set. */
    uint32_t latitude_next = latitude_cell + 1u;
    uint32_t longitude_next = longitude_cell + 1u;
    area->latitude.min = latitude_range.min + (latitude_cell * 1.0 / cells) * latitude_scale;
    area->latitude.max = latitude_range.min + (latitude_next * 1.0 / cells) * latitude_scale;
    area->longitude.min = longitude_range.min + (longitude_cell * 1.0 / cells) * longitude_scale;
    area->longitude.max = longitude_range.min + (longitude_next * 1.0 / cells) * longitude_scale;
    return true;
}

void geohash_score_decode(double score, double *longitude, double *latitude)
{
    struct geohash_bits hash = {.bits = geohash_score_bits(score), .step = GEOHASH_STEP_MAX};
    struct geohash_area area;
    bool decoded = geohash_decode(geohash_longitude_range, geohash_latitude_range, hash, &area);
    KV_ASSERT(decoded); /* step 26 is never a dropped cell */
    double x = (area.longitude.min + area.longitude.max) / 2;
    x = x > GEOHASH_LONG_MAX ? GEOHASH_LONG_MAX : x;
    x = x < GEOHASH_LONG_MIN ? GEOHASH_LONG_MIN : x;
    double y = (area.latitude.min + area.latitude.max) / 2;
    y = y > GEOHASH_LAT_MAX ? GEOHASH_LAT_MAX : y;
    y = y < GEOHASH_LAT_MIN ? GEOHASH_LAT_MIN : y;
    *longitude = x;
    *latitude = y;
}

void geohash_text(double longitude, double latitude, char text[11])
{
    static const char alphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";
    const struct geohash_range longitude_range = {-180, 180};
    const struct geohash_range latitude_range = {-90, 90};
    struct geohash_bits hash;
    bool encoded = geohash_encode(longitude_range, latitude_range, longitude, latitude,
                                  GEOHASH_STEP_MAX, &hash);
    KV_ASSERT(encoded); /* a decoded point is inside the limits */
    /* Ten characters of 5 bits take 50 of the 52; the 11th is '0', as Redis writes it. */
    for (uint32_t index = 0; index < 10; index++) {
        text[index] = alphabet[(hash.bits >> (52u - (index + 1u) * 5u)) & 0x1fu];
    }
    text[10] = alphabet[0];
}

/* Moves a cell one step east (+1) or west (-1) in its longitude bits (the odd ones). */
static void cell_move_x(struct geohash_bits *hash, int direction)
{
    KV_ASSERT(hash->step >= 1 && hash->step <= 32);
    uint64_t x = hash->bits & 0xAAAAAAAAAAAAAAAAull;
    uint64_t y = hash->bits & 0x5555555555555555ull;
    /* Setting the other coordinate's bits makes the carry (or borrow) pass through them. */
    uint64_t fill = 0x5555555555555555ull >> (64u - hash->step * 2u);
    if (direction > 0) {
        x = x + (fill + 1);
    } else {
        x = (x | fill) - (fill + 1);
    }
    x &= 0xAAAAAAAAAAAAAAAAull >> (64u - hash->step * 2u);
    hash->bits = x | y;
}

/* Moves a cell one step north (+1) or south (-1) in its latitude bits (the even ones). */
static void cell_move_y(struct geohash_bits *hash, int direction)
{
    KV_ASSERT(hash->step >= 1 && hash->step <= 32);
    uint64_t x = hash->bits & 0xAAAAAAAAAAAAAAAAull;
    uint64_t y = hash->bits & 0x5555555555555555ull;
    uint64_t fill = 0xAAAAAAAAAAAAAAAAull >> (64u - hash->step * 2u);
    if (direction > 0) {
        y = y + (fill + 1);
    } else {
        y = (y | fill) - (fill + 1);
    }
    y &= 0x5555555555555555ull >> (64u - hash->step * 2u);
    hash->bits = x | y;
}

/* The moves to each search cell after the centre, in geohash_search's order. */
static const int8_t search_moves[GEOHASH_SEARCH_CELLS][2] = {
    {0, 0}, {0, 1}, {0, -1}, {1, 0}, {-1, 0}, {1, 1}, {-1, 1}, {1, -1}, {-1, -1}};

/* Indexes of the neighbours in geohash_search. */
enum { CELL_N = 1, CELL_S = 2, CELL_E = 3, CELL_W = 4, CELL_NE = 5, CELL_NW = 6, CELL_SE = 7,
       CELL_SW = 8 };

static void cells_around(struct geohash_bits hash, struct geohash_search *search)
{
    /* Bounded by the nine cells. */
    for (uint32_t index = 0; index < GEOHASH_SEARCH_CELLS; index++) {
        search->cells[index] = hash;
        if (search_moves[index][0] != 0) {
            cell_move_x(&search->cells[index], search_moves[index][0]);
        }
        if (search_moves[index][1] != 0) {
            cell_move_y(&search->cells[index], search_moves[index][1]);
        }
    }
    KV_ASSERT(search->cells[0].bits == hash.bits);
}

/* Redis's geohashEstimateStepsByRadius: the largest cell the radius fits, wider near the
 * poles. */
static uint8_t steps_for_radius(double radius_meters, double latitude)
{
    if (radius_meters == 0) {
        return GEOHASH_STEP_MAX;
    }
    int step = 1;
    /* Bounded: a positive radius at least 2^-1074 doubles past the limit in about 1100
     * passes; a negative or NaN one never enters. */
    while (radius_meters < GEOHASH_MERCATOR_MAX) {
        radius_meters *= 2;
        step++;
        KV_ASSERT(step < 1200);
    }
    step -= 2;
    if (latitude > 66 || latitude < -66) {
        step--;
        if (latitude > 80 || latitude < -80) {
            step--;
        }
    }
    step = step < 1 ? 1 : step;
    step = step > (int)GEOHASH_STEP_MAX ? (int)GEOHASH_STEP_MAX : step;
    return (uint8_t)step;
}

/* The bounding box of the shape: min longitude, min latitude, max longitude, max latitude
 * (geohashBoundingBox). */
static void shape_bounds(const struct geohash_shape *shape, double bounds[4])
{
    bool radius = shape->kind == GEOHASH_SHAPE_RADIUS;
    double height = shape->conversion * (radius ? shape->radius : shape->height / 2);
    double width = shape->conversion * (radius ? shape->radius : shape->width / 2);
    const double latitude_delta = rad_to_deg(height / GEOHASH_EARTH_RADIUS_METERS);
    const double longitude_delta_top = rad_to_deg(
        width / GEOHASH_EARTH_RADIUS_METERS / cos(deg_to_rad(shape->latitude + latitude_delta)));
    const double longitude_delta_bottom = rad_to_deg(
        width / GEOHASH_EARTH_RADIUS_METERS / cos(deg_to_rad(shape->latitude - latitude_delta)));
    /* In the southern hemisphere the bottom edge is the wider one. */
    bool southern = shape->latitude < 0;
    bounds[0] = southern ? shape->longitude - longitude_delta_bottom
                         : shape->longitude - longitude_delta_top;
    bounds[2] = southern ? shape->longitude + longitude_delta_bottom
                         : shape->longitude + longitude_delta_top;
    bounds[1] = shape->latitude - latitude_delta;
    bounds[3] = shape->latitude + latitude_delta;
}

/* Zeroes the cells of `indexes` (three of them): a side the search need not walk. */
static void cells_drop(struct geohash_search *search, const uint32_t indexes[3])
{
    for (uint32_t index = 0; index < 3; index++) {
        KV_ASSERT(indexes[index] > 0 && indexes[index] < GEOHASH_SEARCH_CELLS);
        search->cells[indexes[index]] = (struct geohash_bits){0};
    }
}

/* The centre's cell at `step` and its neighbours, and the centre cell's extent. */
static void cells_at_step(const struct geohash_shape *shape, uint8_t step,
                          struct geohash_search *search, struct geohash_area *area)
{
    struct geohash_bits hash;
    bool encoded = geohash_encode(geohash_longitude_range, geohash_latitude_range,
                                  shape->longitude, shape->latitude, step, &hash);
    KV_ASSERT(encoded); /* the centre was checked or decoded inside the limits */
    cells_around(hash, search);
    bool decoded = geohash_decode(geohash_longitude_range, geohash_latitude_range, hash, area);
    KV_ASSERT(decoded);
}

/* Whether a neighbour cell leaves part of the bounding box uncovered, so the step must be
 * one larger. */
static bool step_too_fine(const struct geohash_search *search, const double bounds[4])
{
    struct geohash_area north;
    struct geohash_area south;
    struct geohash_area east;
    struct geohash_area west;
    (void)geohash_decode(geohash_longitude_range, geohash_latitude_range,
                         search->cells[CELL_N], &north);
    (void)geohash_decode(geohash_longitude_range, geohash_latitude_range,
                         search->cells[CELL_S], &south);
    (void)geohash_decode(geohash_longitude_range, geohash_latitude_range,
                         search->cells[CELL_E], &east);
    (void)geohash_decode(geohash_longitude_range, geohash_latitude_range,
                         search->cells[CELL_W], &west);
    return north.latitude.max < bounds[3] || south.latitude.min > bounds[1] ||
           east.longitude.max < bounds[2] || west.longitude.min > bounds[0];
}

void geohash_search_cells(const struct geohash_shape *shape, struct geohash_search *search)
{
    KV_ASSERT(shape->kind == GEOHASH_SHAPE_RADIUS || shape->kind == GEOHASH_SHAPE_BOX);
    double bounds[4];
    shape_bounds(shape, bounds);
    double radius_meters =
        shape->kind == GEOHASH_SHAPE_RADIUS
            ? shape->radius
            : sqrt((shape->width / 2) * (shape->width / 2) +
                   (shape->height / 2) * (shape->height / 2));
    radius_meters *= shape->conversion;
    uint8_t step = steps_for_radius(radius_meters, shape->latitude);
    struct geohash_area area;
    cells_at_step(shape, step, search, &area);
    if (step > 1 && step_too_fine(search, bounds)) {
        step--;
        cells_at_step(shape, step, search, &area);
    }
    /* Neighbours wholly outside the bounding box are not walked. */
    if (step >= 2) {
        static const uint32_t south[3] = {CELL_S, CELL_SW, CELL_SE};
        static const uint32_t north[3] = {CELL_N, CELL_NE, CELL_NW};
        static const uint32_t west[3] = {CELL_W, CELL_SW, CELL_NW};
        static const uint32_t east[3] = {CELL_E, CELL_SE, CELL_NE};
        if (area.latitude.min < bounds[1]) {
            cells_drop(search, south);
        }
        if (area.latitude.max > bounds[3]) {
            cells_drop(search, north);
        }
        if (area.longitude.min < bounds[0]) {
            cells_drop(search, west);
        }
        if (area.longitude.max > bounds[2]) {
            cells_drop(search, east);
        }
    }
    KV_ASSERT(search->cells[0].step == step);
}

/* Distance along a meridian (geohashGetLatDistance). */
static double latitude_distance(double latitude_1, double latitude_2)
{
    return GEOHASH_EARTH_RADIUS_METERS * fabs(deg_to_rad(latitude_2) - deg_to_rad(latitude_1));
}

double geohash_distance(double longitude_1, double latitude_1, double longitude_2,
                        double latitude_2)
{
    double longitude_1_rad = deg_to_rad(longitude_1);
    double longitude_2_rad = deg_to_rad(longitude_2);
    double v = sin((longitude_2_rad - longitude_1_rad) / 2);
    /* The same longitude: the distance along the meridian, as Redis shortcuts it. */
    if (v == 0.0) {
        return latitude_distance(latitude_1, latitude_2);
    }
    double latitude_1_rad = deg_to_rad(latitude_1);
    double latitude_2_rad = deg_to_rad(latitude_2);
    double u = sin((latitude_2_rad - latitude_1_rad) / 2);
    double a = u * u + cos(latitude_1_rad) * cos(latitude_2_rad) * v * v;
    return 2.0 * GEOHASH_EARTH_RADIUS_METERS * asin(sqrt(a));
}

bool geohash_in_shape(const struct geohash_shape *shape, double longitude, double latitude,
                      double *distance)
{
    KV_ASSERT(shape->kind == GEOHASH_SHAPE_RADIUS || shape->kind == GEOHASH_SHAPE_BOX);
    if (shape->kind == GEOHASH_SHAPE_RADIUS) {
        *distance = geohash_distance(shape->longitude, shape->latitude, longitude, latitude);
        return !(*distance > shape->radius * shape->conversion);
    }
    double width_meters = shape->width * shape->conversion;
    double height_meters = shape->height * shape->conversion;
    /* The latitude test first: it is the cheaper one. */
    if (latitude_distance(latitude, shape->latitude) > height_meters / 2) {
        return false;
    }
    if (geohash_distance(longitude, latitude, shape->longitude, latitude) > width_meters / 2) {
        return false;
    }
    *distance = geohash_distance(shape->longitude, shape->latitude, longitude, latitude);
    return true;
}
