/*
 * Geohashes as Redis 7.0 computes them for its geo commands: a longitude and latitude become
 * two 26-bit cell numbers interleaved into a 52-bit integer, the score of a geo member in its
 * sorted set. Decoding gives the cell's centre; a search finds the cell size that covers a
 * radius or a box, the cell of the centre and its eight neighbours (the sorted-set score
 * ranges to walk), and tests each candidate against the shape by great-circle distance.
 *
 * Every computation follows Redis's arithmetic step by step (the same operations in the same
 * order, in double precision, with libm's sin, cos, asin and sqrt), because the replies
 * print coordinates with 17 decimals and distances with 4: a different rounding anywhere
 * would show. A leaf: no state, no allocation, no I/O; loops are bounded by constants.
 */
#ifndef KV_GEOHASH_H
#define KV_GEOHASH_H

#include <stdbool.h>
#include <stdint.h>

/* The cell number's bits per coordinate: 26 each, 52 in all (a double holds them exactly). */
#define GEOHASH_STEP_MAX 26u

/* The coordinates a point may have (EPSG:900913, as Redis: no poles). */
#define GEOHASH_LONG_MIN (-180.0)
#define GEOHASH_LONG_MAX 180.0
#define GEOHASH_LAT_MIN (-85.05112878)
#define GEOHASH_LAT_MAX 85.05112878

/* A cell: `step` bits of each coordinate interleaved (latitude in the even bits). Bits and
 * step both 0 mark a neighbour dropped from a search. */
struct geohash_bits {
    uint64_t bits; /* 2 * step bits (a coordinate at its range's maximum carries one more) */
    uint8_t step;  /* bits per coordinate, 1..32 */
};

struct geohash_range {
    double min; /* degrees */
    double max; /* degrees */
};

/* A cell's extent. */
struct geohash_area {
    struct geohash_range longitude;
    struct geohash_range latitude;
};

enum geohash_shape_kind {
    GEOHASH_SHAPE_RADIUS = 1, /* BYRADIUS and GEORADIUS */
    GEOHASH_SHAPE_BOX = 2,    /* BYBOX */
};

/* A search: its centre, its shape in the request's unit, and the unit in meters. */
struct geohash_shape {
    uint8_t kind;       /* enum geohash_shape_kind */
    double longitude;   /* the centre, degrees */
    double latitude;
    double conversion;  /* meters per unit: 1, 1000, 0.3048 or 1609.34 */
    double radius;      /* GEOHASH_SHAPE_RADIUS, in units */
    double width;       /* GEOHASH_SHAPE_BOX, in units */
    double height;
};

/* Cells a search walks, in Redis's order: the centre's cell, then north, south, east, west,
 * north-east, north-west, south-east, south-west; a dropped one has bits and step 0. */
#define GEOHASH_SEARCH_CELLS 9u

struct geohash_search {
    struct geohash_bits cells[GEOHASH_SEARCH_CELLS];
};

/* Encodes a point at `step` bits per coordinate within the ranges given (Redis's
 * geohashEncode); false when it lies outside the point limits or the ranges. */
bool geohash_encode(struct geohash_range longitude_range, struct geohash_range latitude_range,
                    double longitude, double latitude, uint8_t step, struct geohash_bits *hash);

/* The 52-bit score of a point inside the limits (GEOADD). */
uint64_t geohash_score_of(double longitude, double latitude);

/* A cell's bits shifted to 52 bits: the lowest score inside it. */
uint64_t geohash_align52(struct geohash_bits hash);

/* A score as the integer C's (uint64_t) conversion gives on x86-64, as Redis's decode reads
 * any score (a member ZADD gave a score that no GEOADD would). */
uint64_t geohash_score_bits(double score);

/* The integer C's (long long) conversion gives on x86-64 (WITHHASH's number). */
int64_t geohash_score_integer(double score);

/* The centre of the 52-bit cell of a score, clamped to the limits (decodeGeohash). */
void geohash_score_decode(double score, double *longitude, double *latitude);

/* GEOHASH's 11 characters: the point re-encoded over latitudes -90..90, base 32, the last
 * character '0'. */
void geohash_text(double longitude, double latitude, char text[11]);

/* Great-circle distance in meters on Redis's earth (radius 6372797.560856 m). */
double geohash_distance(double longitude_1, double latitude_1, double longitude_2,
                        double latitude_2);

/* The cells a search walks for its shape (geohashCalculateAreasByShapeWGS84). */
void geohash_search_cells(const struct geohash_shape *shape, struct geohash_search *search);

/* Whether the point is inside the shape; then *distance is its distance from the centre in
 * meters. */
bool geohash_in_shape(const struct geohash_shape *shape, double longitude, double latitude,
                      double *distance);

#endif
