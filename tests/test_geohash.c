/*
 * Proves geohash.c computes what Redis 7.0 computes, with constants taken from a real
 * redis-server 7.0.15 and from Redis's documentation: the scores GEOADD gives (Palermo's
 * 3479099956230698, the four corners of the limits: 180/85.05112878 carries a bit past the 52),
 * the positions GEOPOS prints for them (17 decimals), GEOHASH's strings, GEODIST's 166274.1516
 * m from Palermo to Catania, and the decoding of scores no GEOADD gives (negative, fractional,
 * past 2^64) as x86-64's conversions read them. Then properties over seeded random searches
 * (the seed printed on failure): every point inside a radius or box around a random centre has
 * its score inside one of the cells the search walks, so a search cannot miss it; a point's
 * own cell contains its score; distances are symmetric and zero to the point itself.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "geohash.h"

static uint64_t prng_state;

static uint64_t prng_next(void)
{
    prng_state ^= prng_state << 13;
    prng_state ^= prng_state >> 7;
    prng_state ^= prng_state << 17;
    return prng_state;
}

/* A uniform double in [low, high]. */
static double prng_between(double low, double high)
{
    return low + (high - low) * ((double)(prng_next() >> 11) / 9007199254740992.0);
}

/* A coordinate as GEOPOS prints it: "%.17f" without trailing zeros or point. */
static const char *coordinate_text(double value, char text[64])
{
    int length = snprintf(text, 64, "%.17f", value);
    while (length > 0 && text[length - 1] == '0') {
        length--;
    }
    if (length > 0 && text[length - 1] == '.') {
        length--;
    }
    text[length] = '\0';
    return text;
}

/* Decodes a score and compares the printed position with Redis's. */
static void check_position(double score, const char *longitude, const char *latitude)
{
    double x = 0;
    double y = 0;
    char text[64];
    geohash_score_decode(score, &x, &y);
    CHECK(strcmp(coordinate_text(x, text), longitude) == 0);
    CHECK(strcmp(coordinate_text(y, text), latitude) == 0);
}

static void check_text(double score, const char *want)
{
    double x = 0;
    double y = 0;
    char text[11];
    geohash_score_decode(score, &x, &y);
    geohash_text(x, y, text);
    CHECK_BYTES(text, sizeof(text), want, strlen(want));
}

static void known_values(void)
{
    /* Redis's documentation: Sicily's two cities. */
    CHECK(geohash_score_of(13.361389, 38.115556) == 3479099956230698ull);
    CHECK(geohash_score_of(15.087269, 37.502669) == 3479447370796909ull);
    check_position(3479099956230698.0, "13.36138933897018433", "38.11555639549629859");
    check_text(3479099956230698.0, "sqc8b49rny0");
    check_text(3479447370796909.0, "sqdtr74hyu0");
    double palermo[2];
    double catania[2];
    geohash_score_decode(3479099956230698.0, &palermo[0], &palermo[1]);
    geohash_score_decode(3479447370796909.0, &catania[0], &catania[1]);
    double meters = geohash_distance(palermo[0], palermo[1], catania[0], catania[1]);
    CHECK(llrint(meters * 10000.0) == 1662741516ll); /* GEODIST: 166274.1516 */
    /* The limits, as redis-server 7.0.15 scores and prints them. */
    CHECK(geohash_score_of(180, 85.05112878) == 13510798882111488ull); /* bit 53 set */
    CHECK(geohash_score_of(-180, -85.05112878) == 0);
    CHECK(geohash_score_of(0, 0) == 3377699720527872ull);
    CHECK(geohash_score_of(-180, 85.05112878) == 4503599627370496ull);
    CHECK(geohash_score_of(180, -85.05112878) == 9007199254740992ull);
    check_position(13510798882111488.0, "180", "85.0511287799999991");
    check_position(0, "-179.99999731779098511", "-85.05112751263942528");
    check_position(3377699720527872.0, "0.00000268220901489", "0.00000126736058093");
    check_position(9007199254740992.0, "180", "-85.05112751263942528");
    check_text(13510798882111488.0, "bp05b5048p0");
    check_text(0, "00bh0hbj200");
    check_text(3377699720527872.0, "s0000000000");
    /* Scores ZADD can give: -1 is every bit set, 1e20 past 2^64 is 0, 1.5 truncates. */
    CHECK(geohash_score_bits(-1.0) == UINT64_MAX);
    CHECK(geohash_score_bits(1e20) == 0);
    CHECK(geohash_score_bits(INFINITY) == 0);
    CHECK(geohash_score_bits(-INFINITY) == 1ull << 63);
    CHECK(geohash_score_bits(1.5) == 1);
    CHECK(geohash_score_bits(9223372036854775808.0) == 1ull << 63);
    CHECK(geohash_score_integer(-1.5) == -1);
    CHECK(geohash_score_integer(1e19) == INT64_MIN);
    check_position(-1.0, "180", "85.0511287799999991");
    check_position(1e20, "-179.99999731779098511", "-85.05112751263942528");
    check_position(1.5, "-179.99999731779098511", "-85.05112497791824921");
    check_text(1.5, "00bh0hbj210");
    /* GEODIST of the two northern corners: 0.0257 m (they share a cell edge at +-180). */
    double west[2];
    double east[2];
    geohash_score_decode(4503599627370496.0, &west[0], &west[1]);
    geohash_score_decode(13510798882111488.0, &east[0], &east[1]);
    CHECK(llrint(geohash_distance(east[0], east[1], west[0], west[1]) * 10000.0) == 257);
}

/* Whether a score lies in one of the cells a search walks. */
static bool score_in_cells(const struct geohash_search *search, uint64_t score)
{
    for (uint32_t index = 0; index < GEOHASH_SEARCH_CELLS; index++) {
        struct geohash_bits cell = search->cells[index];
        if (cell.bits == 0 && cell.step == 0) {
            continue;
        }
        uint64_t low = geohash_align52(cell);
        cell.bits++;
        if (score >= low && score < geohash_align52(cell)) {
            return true;
        }
    }
    return false;
}

/* Random searches: each point inside the shape is in a walked cell. */
static void searches_cover(void)
{
    static const double units[] = {1, 1000, 0.3048, 1609.34};
    uint32_t inside_count = 0;
    for (uint32_t search_index = 0; search_index < 400; search_index++) {
        struct geohash_shape shape = {
            .kind = (prng_next() & 1) ? GEOHASH_SHAPE_RADIUS : GEOHASH_SHAPE_BOX,
            .longitude = prng_between(-180, 180),
            .latitude = prng_between(-80, 80),
            .conversion = units[prng_next() % 4],
        };
        double meters = pow(10, prng_between(1, 6));
        shape.radius = meters / shape.conversion;
        shape.width = meters / shape.conversion;
        shape.height = prng_between(0.2, 2) * meters / shape.conversion;
        struct geohash_search search;
        geohash_search_cells(&shape, &search);
        CHECK(search.cells[0].step >= 1 && search.cells[0].step <= GEOHASH_STEP_MAX);
        /* Points around the centre, a degree span wide enough to leave the shape. */
        double span = meters / 111000.0 * 1.5 + 1e-6;
        for (uint32_t point_index = 0; point_index < 200; point_index++) {
            double x = shape.longitude + prng_between(-span, span);
            double y = shape.latitude + prng_between(-span, span);
            if (x < GEOHASH_LONG_MIN || x > GEOHASH_LONG_MAX || y < GEOHASH_LAT_MIN ||
                y > GEOHASH_LAT_MAX) {
                continue;
            }
            uint64_t score = geohash_score_of(x, y);
            double decoded[2];
            geohash_score_decode((double)score, &decoded[0], &decoded[1]);
            double distance = -1;
            if (geohash_in_shape(&shape, decoded[0], decoded[1], &distance)) {
                inside_count++;
                CHECK(distance >= 0);
                CHECK(score_in_cells(&search, score));
            }
        }
    }
    CHECK(inside_count > 10000); /* the property was tried on many points */
}

/* A point's own 26-bit cell holds its score; distances are symmetric and zero to itself. */
static void points_and_distances(void)
{
    for (uint32_t index = 0; index < 2000; index++) {
        double x = prng_between(GEOHASH_LONG_MIN, GEOHASH_LONG_MAX);
        double y = prng_between(GEOHASH_LAT_MIN, GEOHASH_LAT_MAX);
        uint64_t score = geohash_score_of(x, y);
        CHECK(score < (1ull << 52) || x == GEOHASH_LONG_MAX || y == GEOHASH_LAT_MAX);
        double decoded[2];
        geohash_score_decode((double)score, &decoded[0], &decoded[1]);
        CHECK(fabs(decoded[0] - x) < 360.0 / (1 << 26) && fabs(decoded[1] - y) < 1e-5);
        CHECK(geohash_score_of(decoded[0], decoded[1]) == score); /* the centre re-encodes */
        double other[2] = {prng_between(-180, 180), prng_between(-85, 85)};
        double there = geohash_distance(x, y, other[0], other[1]);
        double back = geohash_distance(other[0], other[1], x, y);
        CHECK(fabs(there - back) < 1e-6);
        CHECK(there <= 20037509.0); /* half the circumference on Redis's sphere */
        CHECK(geohash_distance(x, y, x, y) == 0);
    }
    /* Antipodes on the equator: half the circumference, pi * 6372797.560856. */
    CHECK(fabs(geohash_distance(0, 0, 180, 0) - M_PI * 6372797.560856) < 1e-3);
}

/* Radius 0 takes the finest cells; the whole earth the coarsest. */
static void step_limits(void)
{
    struct geohash_shape shape = {.kind = GEOHASH_SHAPE_RADIUS, .longitude = 10,
                                  .latitude = 10, .conversion = 1, .radius = 0};
    struct geohash_search search;
    geohash_search_cells(&shape, &search);
    CHECK(search.cells[0].step == GEOHASH_STEP_MAX);
    shape.radius = 5e7;
    geohash_search_cells(&shape, &search);
    CHECK(search.cells[0].step == 1);
    shape.radius = 4.9e-324; /* the smallest double: the estimate's loop runs longest */
    geohash_search_cells(&shape, &search);
    CHECK(search.cells[0].step == GEOHASH_STEP_MAX);
    shape.radius = INFINITY;
    geohash_search_cells(&shape, &search);
    CHECK(search.cells[0].step == 1);
    /* Near a pole the cells widen: 1 km at 84 degrees takes two steps fewer than at 0. */
    shape.radius = 1000;
    shape.latitude = 0;
    geohash_search_cells(&shape, &search);
    uint8_t equator_step = search.cells[0].step;
    shape.latitude = 84;
    geohash_search_cells(&shape, &search);
    CHECK(search.cells[0].step + 2 <= equator_step);
}

int main(void)
{
    uint64_t seed = 0x2545F4914F6CDD1Dull;
    prng_state = seed;
    known_values();
    int failures_before = check_failures;
    searches_cover();
    points_and_distances();
    step_limits();
    if (check_failures != failures_before) {
        fprintf(stderr, "seed %" PRIx64 "\n", seed);
    }
    return check_exit("test_geohash");
}
