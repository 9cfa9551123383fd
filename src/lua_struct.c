/*
 * The "struct" library Redis 7.0 gives scripts (Roberto Ierusalimschy's struct, as Redis
 * ships it): struct.pack(fmt, ...), struct.unpack(fmt, data [, pos]) and struct.size(fmt).
 * A format is a string of options, read left to right:
 *   "<" ">" little / big endian; "!n" align to n (a power of 2, default 8); " " nothing;
 *   "b" "B" "h" "H" "l" "L" "T" "i[n]" "I[n]" integers of 1, 2, 8, 8, n (default 4, at
 *   most 32) bytes, lower case signed; "f" "d" float, double; "x" one zero byte;
 *   "c[n]" n characters (c0: the string's own length, or on unpack the number before it);
 *   "s" a zero-terminated string.
 * Integers travel through a 64-bit long as in Redis's build: bytes past the eighth are zero
 * on pack and ignored on unpack, and the sign mask of a wide signed field is shifted as
 * x86-64 shifts (the count taken modulo 64), so answers match Redis's byte for byte.
 *
 * Invariants: each loop consumes at least one format character per pass, so it is bounded
 * by the format's length; pack builds its string in a luaL_Buffer (Lua's allocator only).
 */
#include "lua_libs.h"

#include <ctype.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kv_assert.h"

/* The widest integer option ("i32"). */
#define STRUCT_INT_BYTES_MAX 32
/* "!" without a number: the strictest alignment of a double (8 on x86-64). */
#define STRUCT_ALIGN_DEFAULT 8

static_assert(sizeof(long) == 8, "struct's integers are a 64-bit long, as in Redis's build");

enum struct_endian { STRUCT_BIG, STRUCT_LITTLE };

struct struct_header {
    enum struct_endian endian;
    size_t align_max; /* "!n": no field aligns to more than this */
};

static void struct_header_init(struct struct_header *header)
{
    header->endian = STRUCT_LITTLE; /* the host's order */
    header->align_max = 1;
}

/* An optional decimal count after an option; `fallback` when there is none. */
static int struct_number_read(lua_State *L, const char **format, int fallback)
{
    KV_ASSERT(format != NULL && *format != NULL);
    if (!isdigit((unsigned char)**format)) {
        return fallback;
    }
    int value = 0;
    /* Bounded by the format's digits (the string ends with a NUL). */
    while (isdigit((unsigned char)**format)) {
        int digit = **format - '0';
        if (value > INT_MAX / 10 || value * 10 > INT_MAX - digit) {
            luaL_error(L, "integral size overflow");
        }
        value = value * 10 + digit;
        (*format)++;
    }
    KV_ASSERT(value >= 0);
    return value;
}

/* The bytes an option takes (0 for the controls and "s", whose length is the data's). */
static size_t struct_option_bytes(lua_State *L, char option, const char **format)
{
    switch (option) {
    case 'B':
    case 'b':
    case 'x':
        return 1;
    case 'H':
    case 'h':
        return 2;
    case 'L':
    case 'l':
    case 'T':
    case 'd':
        return 8;
    case 'f':
        return 4;
    case 'c':
        return (size_t)struct_number_read(L, format, 1);
    case 'i':
    case 'I': {
        int bytes = struct_number_read(L, format, 4);
        if (bytes > STRUCT_INT_BYTES_MAX) {
            luaL_error(L, "integral size %d is larger than limit of %d", bytes,
                       STRUCT_INT_BYTES_MAX);
        }
        return (size_t)bytes;
    }
    default:
        return 0;
    }
}

/* Padding before a field of `bytes` at `offset`: aligned to min(bytes, align_max), with
 * the original's formula (also for sizes that are not powers of two). */
static size_t struct_padding(size_t offset, const struct struct_header *header, char option,
                             size_t bytes)
{
    if (bytes == 0 || option == 'c') {
        return 0;
    }
    if (bytes > header->align_max) {
        bytes = header->align_max;
    }
    KV_ASSERT(bytes >= 1);
    return (bytes - (offset & (bytes - 1))) & (bytes - 1);
}

/* The options that are not fields; anything else is "invalid format option". */
static void struct_control(lua_State *L, char option, const char **format,
                           struct struct_header *header)
{
    switch (option) {
    case ' ':
        return;
    case '>':
        header->endian = STRUCT_BIG;
        return;
    case '<':
        header->endian = STRUCT_LITTLE;
        return;
    case '!': {
        int align = struct_number_read(L, format, STRUCT_ALIGN_DEFAULT);
        if (align <= 0 || (align & (align - 1)) != 0) {
            luaL_error(L, "alignment %d is not a power of 2", align);
        }
        header->align_max = (size_t)align;
        return;
    }
    default:
        luaL_argerror(L, 1, lua_pushfstring(L, "invalid format option '%c'", option));
    }
}

/* Reverses `bytes` bytes when the wanted order is not the host's (little endian). */
static void struct_order(unsigned char *data, size_t bytes, enum struct_endian endian)
{
    KV_ASSERT(bytes <= 8);
    if (endian == STRUCT_LITTLE) {
        return;
    }
    /* Bounded by bytes / 2 swaps. */
    for (size_t low = 0, high = bytes - 1; low < high; low++, high--) {
        unsigned char swap = data[low];
        data[low] = data[high];
        data[high] = swap;
    }
}

/* A number as the original's cast to (unsigned) long, with x86-64's answers where C
 * leaves the cast undefined (out of range: the "integer indefinite" value). */
static uint64_t struct_number_bits(lua_Number number)
{
    if (number < 0) {
        if (number < -9223372036854775808.0) {
            return UINT64_C(1) << 63;
        }
        return (uint64_t)(int64_t)number;
    }
    if (number < 18446744073709551616.0) {
        return (uint64_t)number;
    }
    return number != number ? UINT64_C(1) << 63 : 0; /* NaN; 2^64 and above */
}

static void struct_integer_put(lua_State *L, luaL_Buffer *buffer, int argument,
                               enum struct_endian endian, size_t bytes)
{
    KV_ASSERT(bytes <= STRUCT_INT_BYTES_MAX);
    uint64_t value = struct_number_bits(luaL_checknumber(L, argument));
    unsigned char data[STRUCT_INT_BYTES_MAX];
    /* Bounded by bytes <= 32; past the eighth byte the value has run out (zeros). */
    for (size_t index = 0; index < bytes; index++) {
        size_t target = endian == STRUCT_LITTLE ? index : bytes - 1 - index;
        data[target] = (unsigned char)(value & 0xffu);
        value >>= 8;
    }
    luaL_addlstring(buffer, (const char *)data, bytes);
}

/* Packs a float ("f") or a double ("d") from `argument` in the header's order. */
static void struct_float_put(lua_State *L, luaL_Buffer *buffer, int argument,
                             enum struct_endian endian, bool is_double)
{
    lua_Number value = luaL_checknumber(L, argument);
    unsigned char data[sizeof(double)];
    static_assert(sizeof(float) <= sizeof(double), "a float's bytes fit a double's");
    size_t data_bytes = is_double ? sizeof(double) : sizeof(float);
    if (is_double) {
        double number = value;
        memcpy(data, &number, sizeof(number));
    } else {
        float single = (float)value;
        memcpy(data, &single, sizeof(single));
    }
    struct_order(data, data_bytes, endian);
    luaL_addlstring(buffer, (const char *)data, data_bytes);
}

/* Packs "c[n]" or "s" from `argument`; returns the bytes it added. */
static size_t struct_string_put(lua_State *L, luaL_Buffer *buffer, int argument, char option,
                                size_t bytes)
{
    KV_ASSERT(option == 'c' || option == 's');
    size_t length = 0;
    const char *text = luaL_checklstring(L, argument, &length);
    if (bytes == 0) {
        bytes = length;
    }
    /* The original names the argument after the string; so do we. */
    luaL_argcheck(L, length >= bytes, argument + 1, "string too short");
    luaL_addlstring(buffer, text, bytes);
    if (option == 's') {
        luaL_addchar(buffer, '\0');
        bytes++;
    }
    return bytes;
}

/* Packs one option's field from *argument (advancing it when the option takes a value);
 * returns the field's bytes. */
static size_t struct_field_put(lua_State *L, luaL_Buffer *buffer, char option,
                               const char **format, struct struct_header *header,
                               int *argument, size_t bytes)
{
    KV_ASSERT(*argument >= 2);
    switch (option) {
    case 'b':
    case 'B':
    case 'h':
    case 'H':
    case 'l':
    case 'L':
    case 'T':
    case 'i':
    case 'I':
        struct_integer_put(L, buffer, (*argument)++, header->endian, bytes);
        break;
    case 'x':
        luaL_addchar(buffer, '\0');
        break;
    case 'f':
    case 'd':
        struct_float_put(L, buffer, (*argument)++, header->endian, option == 'd');
        break;
    case 'c':
    case 's':
        bytes = struct_string_put(L, buffer, (*argument)++, option, bytes);
        break;
    default:
        struct_control(L, option, format, header);
    }
    return bytes;
}

static int struct_pack(lua_State *L)
{
    const char *format = luaL_checkstring(L, 1);
    struct struct_header header;
    struct_header_init(&header);
    int argument = 2;
    size_t total_bytes = 0;
    lua_pushnil(L); /* separates the arguments from the buffer's pieces */
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    /* Bounded by the format's length: each pass consumes its option character. */
    while (*format != '\0') {
        char option = *format++;
        size_t bytes = struct_option_bytes(L, option, &format);
        size_t padding = struct_padding(total_bytes, &header, option, bytes);
        total_bytes += padding;
        /* Bounded by padding < align_max. */
        for (size_t index = 0; index < padding; index++) {
            luaL_addchar(&buffer, '\0');
        }
        total_bytes += struct_field_put(L, &buffer, option, &format, &header, &argument, bytes);
    }
    KV_ASSERT(argument >= 2);
    luaL_pushresult(&buffer);
    return 1;
}

/* `bytes` bytes at `data` as an integer, sign-extended for the lower-case options. */
static lua_Number struct_integer_get(const unsigned char *data, enum struct_endian endian,
                                     bool is_signed, size_t bytes)
{
    KV_ASSERT(bytes <= STRUCT_INT_BYTES_MAX);
    uint64_t value = 0;
    /* Bounded by bytes <= 32; bytes shifted past 64 bits are lost, as in the original. */
    for (size_t index = 0; index < bytes; index++) {
        size_t source = endian == STRUCT_BIG ? index : bytes - 1 - index;
        value = (value << 8) | data[source];
    }
    if (!is_signed) {
        return (lua_Number)value;
    }
    /* x86-64 shifts by the count modulo 64; i0 gives 63 (its mask then finds no bit). */
    unsigned shift = (unsigned)(bytes * 8u - 1u) & 63u;
    uint64_t mask = UINT64_MAX << shift;
    if ((value & mask) != 0) {
        value |= mask;
    }
    return (lua_Number)(int64_t)value;
}

/* A c0 count taken from a number: the original's cast to size_t, x86-64's way. */
static size_t struct_count_bits(lua_Number number)
{
    return (size_t)struct_number_bits(number);
}

/* The data being unpacked, and how many results are pushed so far. */
struct struct_input {
    const char *data;
    size_t data_bytes;
    int result_count;
};

/* Unpacks a float ("f") or a double ("d") at `field` in the header's order. */
static void struct_float_get(lua_State *L, const unsigned char *field,
                             enum struct_endian endian, bool is_double)
{
    unsigned char copy[sizeof(double)];
    size_t copy_bytes = is_double ? sizeof(double) : sizeof(float);
    memcpy(copy, field, copy_bytes);
    struct_order(copy, copy_bytes, endian);
    if (is_double) {
        double number = 0;
        memcpy(&number, copy, sizeof(number));
        lua_pushnumber(L, number);
    } else {
        float single = 0;
        memcpy(&single, copy, sizeof(single));
        lua_pushnumber(L, single);
    }
}

/* Unpacks "c[n]" at `position`; "c0" takes its count from the result before it. Returns
 * the field's bytes. */
static size_t struct_chars_get(lua_State *L, struct struct_input *input, size_t position,
                               size_t bytes)
{
    KV_ASSERT(position <= input->data_bytes);
    if (bytes == 0) {
        if (input->result_count == 0 || !lua_isnumber(L, -1)) {
            luaL_error(L, "format 'c0' needs a previous size");
        }
        bytes = struct_count_bits(lua_tonumber(L, -1));
        lua_pop(L, 1);
        input->result_count--;
        luaL_argcheck(L, bytes <= input->data_bytes && position <= input->data_bytes - bytes,
                      2, "data string too short");
    }
    lua_pushlstring(L, input->data + position, bytes);
    input->result_count++;
    return bytes;
}

/* Unpacks the zero-terminated "s" at `position`; returns its bytes with the NUL. */
static size_t struct_zstring_get(lua_State *L, struct struct_input *input, size_t position)
{
    KV_ASSERT(position <= input->data_bytes);
    const char *field = input->data + position;
    const char *end = memchr(field, '\0', input->data_bytes - position);
    if (end == NULL) {
        luaL_error(L, "unfinished string in data");
    }
    size_t bytes = (size_t)(end - field) + 1;
    lua_pushlstring(L, field, bytes - 1);
    input->result_count++;
    return bytes;
}

/* Unpacks one option's field at `position` (checked to hold `bytes`); returns the bytes it
 * took. */
static size_t struct_field_get(lua_State *L, struct struct_input *input, char option,
                               const char **format, struct struct_header *header,
                               size_t position, size_t bytes)
{
    KV_ASSERT(bytes <= input->data_bytes && position <= input->data_bytes - bytes);
    const unsigned char *field = (const unsigned char *)input->data + position;
    switch (option) {
    case 'b':
    case 'B':
    case 'h':
    case 'H':
    case 'l':
    case 'L':
    case 'T':
    case 'i':
    case 'I':
        lua_pushnumber(L, struct_integer_get(field, header->endian, islower(option) != 0,
                                             bytes));
        input->result_count++;
        break;
    case 'x':
        break;
    case 'f':
    case 'd':
        struct_float_get(L, field, header->endian, option == 'd');
        input->result_count++;
        break;
    case 'c':
        bytes = struct_chars_get(L, input, position, bytes);
        break;
    case 's':
        bytes = struct_zstring_get(L, input, position);
        break;
    default:
        struct_control(L, option, format, header);
    }
    return bytes;
}

static int struct_unpack(lua_State *L)
{
    const char *format = luaL_checkstring(L, 1);
    struct struct_input input = {.result_count = 0};
    input.data = luaL_checklstring(L, 2, &input.data_bytes);
    size_t position = (size_t)luaL_optinteger(L, 3, 1);
    luaL_argcheck(L, position > 0, 3, "offset must be 1 or greater");
    position--; /* 0-based from here */
    struct struct_header header;
    struct_header_init(&header);
    /* Bounded by the format's length: each pass consumes its option character. */
    while (*format != '\0') {
        char option = *format++;
        size_t bytes = struct_option_bytes(L, option, &format);
        position += struct_padding(position, &header, option, bytes);
        luaL_argcheck(L, bytes <= input.data_bytes && position <= input.data_bytes - bytes, 2,
                      "data string too short");
        luaL_checkstack(L, 2, "too many results");
        position += struct_field_get(L, &input, option, &format, &header, position, bytes);
    }
    KV_ASSERT(input.result_count >= 0);
    lua_pushinteger(L, (lua_Integer)(position + 1)); /* where the next read would start */
    return input.result_count + 1;
}

static int struct_size(lua_State *L)
{
    const char *format = luaL_checkstring(L, 1);
    struct struct_header header;
    struct_header_init(&header);
    size_t position = 0;
    /* Bounded by the format's length: each pass consumes its option character. */
    while (*format != '\0') {
        char option = *format++;
        size_t bytes = struct_option_bytes(L, option, &format);
        position += struct_padding(position, &header, option, bytes);
        if (option == 's') {
            luaL_argerror(L, 1, "option 's' has no fixed size");
        } else if (option == 'c' && bytes == 0) {
            luaL_argerror(L, 1, "option 'c0' has no fixed size");
        }
        /* As the original: an unknown letter or digit counts nothing and is no error. */
        if (!isalnum((unsigned char)option)) {
            struct_control(L, option, &format, &header);
        }
        position += bytes;
    }
    lua_pushinteger(L, (lua_Integer)position);
    return 1;
}

int kv_luaopen_struct(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"pack", struct_pack},
        {"unpack", struct_unpack},
        {"size", struct_size},
        {NULL, NULL},
    };
    luaL_register(L, "struct", functions);
    KV_ASSERT(lua_istable(L, -1));
    return 1;
}
