/*
 * The "cmsgpack" library Redis 7.0 gives scripts (lua-cmsgpack 0.4.0's interface and
 * answers): pack(...) encodes each argument and concatenates them; unpack(s) decodes every
 * value in s; unpack_one(s [, offset]) and unpack_limit(s, limit [, offset]) decode one or
 * `limit` values and return first the offset to go on from (-1 at the end).
 *
 * Encoding choices, as Redis's: a number that is an integer in int64 range takes the
 * smallest integer form (fixnum, uint8..64 for >= 0, int8..64 below); another number is a
 * float (0xca) when a float holds it exactly, else a double (0xcb); strings are fixstr,
 * str8, str16, str32; a table whose keys are exactly 1..n is an array (empty tables too),
 * else a map in lua_next order; a table 16 levels down, nil and every other type are nil
 * (0xc0). Decoding knows the forms Redis's does: bin, ext and 0xc1 are "Bad data format".
 *
 * Invariants: no recursion. Encoding keeps at most PACK_DEPTH_MAX tables open (deeper ones
 * are nil, which is what makes cyclic tables safe); decoding keeps one frame per open
 * array or map, and every open container holds at least one slot of the Lua stack, which
 * Lua caps at LUAI_MAXCSTACK, so UNPACK_DEPTH_MAX frames always suffice. The packed bytes
 * grow in a userdata on the Lua stack (Lua's allocator only; a full heap is Lua's memory
 * error). The stack checks and their messages sit where Redis's recursion has them, so a
 * too-deep input fails with the same error at the same depth.
 */
#include "lua_libs.h"

#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kv_assert.h"

/* Tables this many levels below the packed value are packed as nil (Redis's limit). */
#define PACK_DEPTH_MAX 16u
/* Open containers while unpacking: each holds a Lua stack slot (see the file's comment). */
#define UNPACK_DEPTH_MAX ((uint32_t)LUAI_MAXCSTACK)
/* The packing buffer's first size; it doubles as needed. */
#define PACK_BUFFER_BYTES_MIN 64u

static_assert(sizeof(float) == 4 && sizeof(double) == 8, "MessagePack's float sizes");

/* ---- Packing ---------------------------------------------------------------------------- */

/* Bytes being packed, in a userdata kept at stack slot `slot`. */
struct pack_buffer {
    lua_State *L;
    unsigned char *bytes;
    size_t used_bytes;
    size_t capacity_bytes;
    int slot;
};

/* Makes room for `more` bytes: a new userdata twice as large replaces the old one at the
 * buffer's slot (the old one is garbage). Raises Lua's memory error when the heap is full. */
static void pack_reserve(struct pack_buffer *buffer, size_t more)
{
    KV_ASSERT(buffer->used_bytes <= buffer->capacity_bytes);
    if (buffer->capacity_bytes - buffer->used_bytes >= more) {
        return;
    }
    if (more > SIZE_MAX / 4 - buffer->used_bytes) {
        luaL_error(buffer->L, "not enough memory");
    }
    size_t capacity_bytes = 2 * (buffer->used_bytes + more);
    unsigned char *bytes = lua_newuserdata(buffer->L, capacity_bytes);
    if (buffer->used_bytes > 0) {
        memcpy(bytes, buffer->bytes, buffer->used_bytes);
    }
    lua_replace(buffer->L, buffer->slot);
    buffer->bytes = bytes;
    buffer->capacity_bytes = capacity_bytes;
    KV_ASSERT(buffer->capacity_bytes - buffer->used_bytes >= more);
}

static void pack_append(struct pack_buffer *buffer, const void *bytes, size_t length)
{
    pack_reserve(buffer, length);
    if (length > 0) {
        memcpy(buffer->bytes + buffer->used_bytes, bytes, length);
    }
    buffer->used_bytes += length;
}

/* A type byte and `width` bytes of `value`, big endian. */
static void pack_header(struct pack_buffer *buffer, unsigned char type, uint64_t value,
                        unsigned width)
{
    KV_ASSERT(width <= 8);
    unsigned char header[9];
    header[0] = type;
    /* Bounded by width <= 8. */
    for (unsigned index = 0; index < width; index++) {
        header[1 + index] = (unsigned char)(value >> (8 * (width - 1 - index)));
    }
    pack_append(buffer, header, 1 + width);
}

static void pack_integer(struct pack_buffer *buffer, int64_t number)
{
    if (number >= 0) {
        uint64_t value = (uint64_t)number;
        if (value <= 127) {
            unsigned char fixnum = (unsigned char)value;
            pack_append(buffer, &fixnum, 1);
        } else if (value <= UINT8_MAX) {
            pack_header(buffer, 0xcc, value, 1);
        } else if (value <= UINT16_MAX) {
            pack_header(buffer, 0xcd, value, 2);
        } else if (value <= UINT32_MAX) {
            pack_header(buffer, 0xce, value, 4);
        } else {
            pack_header(buffer, 0xcf, value, 8);
        }
        return;
    }
    uint64_t bits = (uint64_t)number; /* two's complement: the low bytes are the field */
    if (number >= -32) {
        unsigned char fixnum = (unsigned char)bits;
        pack_append(buffer, &fixnum, 1);
    } else if (number >= INT8_MIN) {
        pack_header(buffer, 0xd0, bits, 1);
    } else if (number >= INT16_MIN) {
        pack_header(buffer, 0xd1, bits, 2);
    } else if (number >= INT32_MIN) {
        pack_header(buffer, 0xd2, bits, 4);
    } else {
        pack_header(buffer, 0xd3, bits, 8);
    }
}

static void pack_number(struct pack_buffer *buffer, lua_Number number)
{
    /* An integer in int64 range (the original's "(int64_t)n == n", without its undefined
     * cast of larger numbers and NaN, which x86-64 answers "not equal"). */
    if (number >= -9223372036854775808.0 && number < 9223372036854775808.0 &&
        floor(number) == number) {
        pack_integer(buffer, (int64_t)number);
        return;
    }
    float single = (float)number;
    if ((double)single == number) {
        uint32_t bits = 0;
        memcpy(&bits, &single, sizeof(bits));
        pack_header(buffer, 0xca, bits, 4);
    } else {
        uint64_t bits = 0;
        memcpy(&bits, &number, sizeof(bits));
        pack_header(buffer, 0xcb, bits, 8);
    }
}

static void pack_string(struct pack_buffer *buffer, const char *text, size_t length)
{
    if (length < 32) {
        unsigned char fixstr = (unsigned char)(0xa0u | length);
        pack_append(buffer, &fixstr, 1);
    } else if (length <= UINT8_MAX) {
        pack_header(buffer, 0xd9, length, 1);
    } else if (length <= UINT16_MAX) {
        pack_header(buffer, 0xda, length, 2);
    } else {
        /* As Redis: longer than 4 GiB keeps the low 32 bits of the length. */
        pack_header(buffer, 0xdb, length & UINT32_MAX, 4);
    }
    pack_append(buffer, text, length);
}

/* A container's header: fix form up to 15 entries, then 16 and 32 bits. */
static void pack_container(struct pack_buffer *buffer, bool is_map, uint64_t count)
{
    if (count <= 15) {
        unsigned char fix = (unsigned char)((is_map ? 0x80u : 0x90u) | count);
        pack_append(buffer, &fix, 1);
    } else if (count <= UINT16_MAX) {
        pack_header(buffer, is_map ? 0xde : 0xdc, count, 2);
    } else {
        pack_header(buffer, is_map ? 0xdf : 0xdd, count & UINT32_MAX, 4);
    }
}

/* Whether the table on top has exactly the keys 1..n (n >= 0), as the original decides:
 * every key a number that is a positive int, and the largest equal to the count. */
static bool pack_table_is_array(lua_State *L)
{
    KV_ASSERT(lua_istable(L, -1));
    int top = lua_gettop(L);
    luaL_checkstack(L, 2, "in function table_is_an_array");
    int count = 0;
    int largest = 0;
    lua_pushnil(L);
    /* Bounded by the table's entries. */
    while (lua_next(L, -2) != 0) {
        lua_pop(L, 1);
        lua_Number key = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
        if (!(key > 0 && key <= INT_MAX && floor(key) == key)) {
            lua_settop(L, top);
            return false;
        }
        if ((int)key > largest) {
            largest = (int)key;
        }
        count++;
    }
    KV_ASSERT(lua_gettop(L) == top);
    return largest == count;
}

/* One open table while packing: the table is on the Lua stack (with, for a map, the
 * current key above it). */
struct pack_frame {
    size_t length;     /* array: its length */
    size_t next_index; /* array: the next element (1-based) */
    bool is_map;
    bool value_next;   /* map: the key was packed, its value comes next */
};

/* Packs the value on top of the stack and pops it; a table (below PACK_DEPTH_MAX) is
 * opened instead: its header is written, it stays on the stack and gets a frame. */
static void pack_value(lua_State *L, struct pack_buffer *buffer, struct pack_frame *frames,
                       uint32_t *depth)
{
    KV_ASSERT(*depth <= PACK_DEPTH_MAX);
    int type = lua_type(L, -1);
    if (type == LUA_TTABLE && *depth == PACK_DEPTH_MAX) {
        type = LUA_TNIL;
    }
    switch (type) {
    case LUA_TSTRING: {
        size_t length = 0;
        const char *text = lua_tolstring(L, -1, &length);
        pack_string(buffer, text, length);
        break;
    }
    case LUA_TBOOLEAN: {
        unsigned char flag = lua_toboolean(L, -1) ? 0xc3 : 0xc2;
        pack_append(buffer, &flag, 1);
        break;
    }
    case LUA_TNUMBER:
        pack_number(buffer, lua_tonumber(L, -1));
        break;
    case LUA_TTABLE: {
        struct pack_frame *frame = &frames[*depth];
        *frame = (struct pack_frame){.is_map = !pack_table_is_array(L)};
        if (frame->is_map) {
            luaL_checkstack(L, 3, "in function mp_encode_lua_table_as_map");
            size_t count = 0;
            lua_pushnil(L);
            /* Bounded by the table's entries. */
            while (lua_next(L, -2) != 0) {
                lua_pop(L, 1);
                count++;
            }
            pack_container(buffer, true, count);
            lua_pushnil(L); /* the first key for lua_next */
        } else {
            frame->length = lua_objlen(L, -1);
            frame->next_index = 1;
            pack_container(buffer, false, frame->length);
            luaL_checkstack(L, 1, "in function mp_encode_lua_table_as_array");
        }
        (*depth)++;
        return; /* the table stays on the stack */
    }
    default: {
        unsigned char nil = 0xc0;
        pack_append(buffer, &nil, 1);
        break;
    }
    }
    lua_pop(L, 1);
}

/* Packs the value on top of the stack (and pops it), tables included, without recursion:
 * each pass packs one value or closes one table. */
static void pack_one(lua_State *L, struct pack_buffer *buffer)
{
    struct pack_frame frames[PACK_DEPTH_MAX];
    uint32_t depth = 0;
    int bottom = lua_gettop(L) - 1;
    pack_value(L, buffer, frames, &depth);
    /* Bounded: each pass packs an entry of an open table or closes it; at most
     * PACK_DEPTH_MAX tables are open, each with finitely many entries. */
    while (depth > 0) {
        struct pack_frame *frame = &frames[depth - 1];
        if (!frame->is_map) {
            if (frame->next_index > frame->length) {
                lua_pop(L, 1); /* the table */
                depth--;
                continue;
            }
            lua_pushnumber(L, (lua_Number)frame->next_index);
            frame->next_index++;
            lua_gettable(L, -2); /* as the original: __index applies */
            pack_value(L, buffer, frames, &depth);
        } else if (frame->value_next) {
            frame->value_next = false;
            pack_value(L, buffer, frames, &depth); /* the value; the key stays */
        } else if (lua_next(L, -2) != 0) {
            lua_pushvalue(L, -2);
            frame->value_next = true;
            pack_value(L, buffer, frames, &depth); /* the copy of the key */
        } else {
            lua_pop(L, 1); /* the table (lua_next popped the key) */
            depth--;
        }
    }
    KV_ASSERT(lua_gettop(L) == bottom);
}

static int msgpack_pack(lua_State *L)
{
    int argument_count = lua_gettop(L);
    if (argument_count == 0) {
        return luaL_argerror(L, 0, "MessagePack pack needs input.");
    }
    if (!lua_checkstack(L, argument_count)) {
        return luaL_argerror(L, 0, "Too many arguments for MessagePack pack.");
    }
    struct pack_buffer buffer = {.L = L, .slot = argument_count + 1};
    lua_pushnil(L); /* the buffer's slot, until it has a userdata */
    /* Bounded by the argument count. */
    for (int index = 1; index <= argument_count; index++) {
        luaL_checkstack(L, 1, "in function mp_check");
        lua_pushvalue(L, index);
        pack_one(L, &buffer);
    }
    KV_ASSERT(lua_gettop(L) == argument_count + 1);
    lua_pushlstring(L, (const char *)buffer.bytes, buffer.used_bytes);
    return 1;
}

/* ---- Unpacking -------------------------------------------------------------------------- */

enum unpack_status { UNPACK_OK, UNPACK_MISSING, UNPACK_BAD_FORMAT };

struct unpack_cursor {
    const unsigned char *bytes;
    size_t left_bytes;
};

/* One open container while unpacking: the table is on the Lua stack, with above it the
 * pending index (array) or key (map, once read). */
struct unpack_frame {
    uint32_t left_count; /* elements (array) or pairs (map) not yet started */
    uint32_t next_index; /* array: the next element's index */
    bool is_map;
    bool key_read;       /* map: the pair's key is on the stack, its value comes next */
};
/* UNPACK_DEPTH_MAX frames live on the C stack during an unpack: keep them small. */
static_assert(sizeof(struct unpack_frame) <= 12, "an unpack frame fits 12 bytes");

/* Big-endian unsigned field of `width` bytes at `bytes`. */
static uint64_t unpack_field(const unsigned char *bytes, unsigned width)
{
    KV_ASSERT(width <= 8);
    uint64_t value = 0;
    /* Bounded by width <= 8. */
    for (unsigned index = 0; index < width; index++) {
        value = (value << 8) | bytes[index];
    }
    return value;
}

/* Pushes a string of `length` bytes after a header of `header_bytes`. */
static enum unpack_status unpack_string(lua_State *L, struct unpack_cursor *cursor,
                                        size_t header_bytes, size_t length)
{
    KV_ASSERT(cursor->left_bytes >= header_bytes);
    if (cursor->left_bytes - header_bytes < length) {
        return UNPACK_MISSING;
    }
    lua_pushlstring(L, (const char *)cursor->bytes + header_bytes, length);
    cursor->bytes += header_bytes + length;
    cursor->left_bytes -= header_bytes + length;
    return UNPACK_OK;
}

/* Bytes after the type byte of a fixed-size item (the sized integers and the floats); 0 for
 * every other type. */
static unsigned unpack_fixed_width(unsigned char type)
{
    switch (type) {
    case 0xcc:
    case 0xd0:
        return 1;
    case 0xcd:
    case 0xd1:
        return 2;
    case 0xce:
    case 0xd2:
    case 0xca:
        return 4;
    case 0xcf:
    case 0xd3:
    case 0xcb:
        return 8;
    default:
        return 0;
    }
}

/* Pushes the fixed-size item of `type` whose bytes after the type byte read as `field`. */
static void unpack_fixed_push(lua_State *L, unsigned char type, uint64_t field)
{
    KV_ASSERT(unpack_fixed_width(type) > 0);
    switch (type) {
    case 0xcc:
    case 0xcd:
    case 0xce:
        lua_pushinteger(L, (lua_Integer)field);
        break;
    case 0xcf: /* as the original: read as a signed integer */
        lua_pushinteger(L, (lua_Integer)(int64_t)field);
        break;
    case 0xd0:
        lua_pushinteger(L, (int8_t)field);
        break;
    case 0xd1:
        lua_pushinteger(L, (int16_t)field);
        break;
    case 0xd2:
        lua_pushinteger(L, (int32_t)field);
        break;
    case 0xd3:
        lua_pushnumber(L, (lua_Number)(int64_t)field);
        break;
    case 0xca: {
        uint32_t bits = (uint32_t)field;
        float single = 0;
        memcpy(&single, &bits, sizeof(single));
        lua_pushnumber(L, single);
        break;
    }
    default: {
        KV_ASSERT(type == 0xcb);
        double number = 0;
        memcpy(&number, &field, sizeof(number));
        lua_pushnumber(L, number);
        break;
    }
    }
}

/* Reads a fixed-size item of `width` bytes after its type byte. */
static enum unpack_status unpack_fixed(lua_State *L, struct unpack_cursor *cursor,
                                       unsigned width)
{
    KV_ASSERT(width >= 1 && width <= 8);
    KV_ASSERT(cursor->left_bytes >= 1);
    if (cursor->left_bytes < 1u + width) {
        return UNPACK_MISSING;
    }
    unpack_fixed_push(L, cursor->bytes[0], unpack_field(cursor->bytes + 1, width));
    cursor->bytes += 1u + width;
    cursor->left_bytes -= 1u + width;
    return UNPACK_OK;
}

/* Reads a one-byte item (nil, false, true, a fixnum); false, reading nothing, when `type`
 * is none of these. */
static bool unpack_single_byte(lua_State *L, struct unpack_cursor *cursor, unsigned char type)
{
    KV_ASSERT(cursor->left_bytes >= 1 && cursor->bytes[0] == type);
    if (type == 0xc0) {
        lua_pushnil(L);
    } else if (type == 0xc2 || type == 0xc3) {
        lua_pushboolean(L, type == 0xc3);
    } else if ((type & 0x80u) == 0) { /* positive fixnum */
        lua_pushinteger(L, type);
    } else if ((type & 0xe0u) == 0xe0u) { /* negative fixnum */
        lua_pushinteger(L, (int8_t)type);
    } else {
        return false;
    }
    cursor->bytes++;
    cursor->left_bytes--;
    return true;
}

/* A string's or container's header: what it is, and where its length is. */
struct unpack_header {
    bool is_string;
    bool is_map;
    unsigned length_width; /* bytes of length after the type byte; 0: length is set */
    size_t length;
};

/* Classifies a string or container type byte; false when `type` is no known format. */
static bool unpack_header_read(unsigned char type, struct unpack_header *header)
{
    KV_ASSERT(unpack_fixed_width(type) == 0);
    *header = (struct unpack_header){0};
    if (type == 0xd9 || type == 0xda || type == 0xdb) {
        header->is_string = true;
        header->length_width = type == 0xd9 ? 1u : type == 0xda ? 2u : 4u;
    } else if (type == 0xdc || type == 0xdd) {
        header->length_width = type == 0xdc ? 2u : 4u;
    } else if (type == 0xde || type == 0xdf) {
        header->is_map = true;
        header->length_width = type == 0xde ? 2u : 4u;
    } else if ((type & 0xe0u) == 0xa0u) {
        header->is_string = true;
        header->length = type & 0x1fu;
    } else if ((type & 0xf0u) == 0x90u) {
        header->length = type & 0x0fu;
    } else if ((type & 0xf0u) == 0x80u) {
        header->is_map = true;
        header->length = type & 0x0fu;
    } else {
        return false;
    }
    return true;
}

/* Opens a container of `length` entries: pushes its table and a frame. */
static void unpack_open(lua_State *L, struct unpack_frame *frames, uint32_t *depth,
                        bool is_map, size_t length)
{
    KV_ASSERT(*depth < UNPACK_DEPTH_MAX); /* each open container holds a stack slot */
    KV_ASSERT(length <= UINT32_MAX);
    lua_newtable(L);
    if (!is_map) {
        luaL_checkstack(L, 1, "in function mp_decode_to_lua_array");
    }
    frames[*depth] = (struct unpack_frame){
        .left_count = (uint32_t)length, .next_index = 1, .is_map = is_map};
    (*depth)++;
}

/* Reads one item: pushes a scalar, or opens a container (pushes its table and a frame,
 * setting *opened). */
static enum unpack_status unpack_item(lua_State *L, struct unpack_cursor *cursor,
                                      struct unpack_frame *frames, uint32_t *depth,
                                      bool *opened)
{
    *opened = false;
    if (cursor->left_bytes < 1) {
        return UNPACK_MISSING;
    }
    luaL_checkstack(L, 1,
                    "too many return values at once; use unpack_one or unpack_limit instead.");
    unsigned char type = cursor->bytes[0];
    unsigned width = unpack_fixed_width(type);
    if (width > 0) {
        return unpack_fixed(L, cursor, width);
    }
    if (unpack_single_byte(L, cursor, type)) {
        return UNPACK_OK;
    }
    /* Strings and containers: a length in the type byte or in the 1, 2 or 4 after it. */
    struct unpack_header header;
    if (!unpack_header_read(type, &header)) {
        return UNPACK_BAD_FORMAT;
    }
    if (cursor->left_bytes < 1u + header.length_width) {
        return UNPACK_MISSING;
    }
    if (header.length_width > 0) {
        header.length = (size_t)unpack_field(cursor->bytes + 1, header.length_width);
    }
    if (header.is_string) {
        return unpack_string(L, cursor, 1u + header.length_width, header.length);
    }
    cursor->bytes += 1u + header.length_width;
    cursor->left_bytes -= 1u + header.length_width;
    unpack_open(L, frames, depth, header.is_map, header.length);
    *opened = true;
    return UNPACK_OK;
}

/* Unpacks one top-level value onto the stack, without recursion: each pass reads one item
 * (advancing the cursor) or closes one container. */
static enum unpack_status unpack_one(lua_State *L, struct unpack_cursor *cursor,
                                     struct unpack_frame *frames)
{
    uint32_t depth = 0;
    /* Bounded by the input: every item read consumes at least one byte, and a container
     * is closed once its counted entries are read. */
    for (;;) {
        bool opened = false;
        enum unpack_status status = unpack_item(L, cursor, frames, &depth, &opened);
        if (status != UNPACK_OK) {
            return status;
        }
        bool complete = !opened; /* a value on top waits to go into its container */
        /* Bounded by depth: each pass either closes a container or asks for an item. */
        for (;;) {
            if (complete) {
                if (depth == 0) {
                    return UNPACK_OK;
                }
                struct unpack_frame *parent = &frames[depth - 1];
                if (parent->is_map && !parent->key_read) {
                    parent->key_read = true; /* the key stays on the stack */
                } else {
                    lua_settable(L, -3); /* table, index or key, value */
                    parent->key_read = false;
                }
                complete = false;
            }
            struct unpack_frame *frame = &frames[depth - 1];
            if (frame->is_map && frame->key_read) {
                break; /* read the value */
            }
            if (frame->left_count == 0) {
                depth--; /* the finished table is the value on top */
                complete = true;
                continue;
            }
            frame->left_count--;
            if (!frame->is_map) {
                lua_pushnumber(L, frame->next_index);
                frame->next_index++;
            }
            break; /* read the element or the key */
        }
    }
}

/* The three unpack functions: all values (limit and offset 0), or at most `limit` from
 * `offset`, then returning the next offset first. */
static int msgpack_unpack_from(lua_State *L, lua_Integer limit, lua_Integer offset)
{
    size_t length = 0;
    const char *text = luaL_checklstring(L, 1, &length);
    bool all = limit == 0 && offset == 0;
    if (offset < 0 || limit < 0) {
        /* Redis prints the input's length where it says limit; so do we. */
        return luaL_error(L, "Invalid request to unpack with offset of %d and limit of %d.",
                          (int)offset, (int)length);
    }
    if ((size_t)offset > length) {
        return luaL_error(L, "Start offset %d greater than input length %d.", (int)offset,
                          (int)length);
    }
    if (all) {
        limit = INT_MAX;
    }
    struct unpack_cursor cursor = {
        .bytes = (const unsigned char *)text + offset, .left_bytes = length - (size_t)offset};
    int count = 0;
    struct unpack_frame frames[UNPACK_DEPTH_MAX]; /* 96 KiB of C stack, once per call */
    /* Bounded by the input's bytes (each value takes one at least) and by limit. */
    while (cursor.left_bytes > 0 && count < limit) {
        enum unpack_status status = unpack_one(L, &cursor, frames);
        if (status == UNPACK_MISSING) {
            return luaL_error(L, "Missing bytes in input.");
        }
        if (status == UNPACK_BAD_FORMAT) {
            return luaL_error(L, "Bad data format in input.");
        }
        count++;
    }
    if (all) {
        return count;
    }
    luaL_checkstack(L, 1, "in function mp_unpack_full");
    size_t next_offset = length - cursor.left_bytes;
    lua_pushinteger(L, cursor.left_bytes == 0 ? -1 : (lua_Integer)next_offset);
    lua_insert(L, 2); /* first among the results, which sit above the string */
    return count + 1;
}

static int msgpack_unpack(lua_State *L)
{
    return msgpack_unpack_from(L, 0, 0);
}

static int msgpack_unpack_one(lua_State *L)
{
    lua_Integer offset = luaL_optinteger(L, 2, 0);
    lua_settop(L, 1);
    return msgpack_unpack_from(L, 1, offset);
}

static int msgpack_unpack_limit(lua_State *L)
{
    lua_Integer limit = luaL_checkinteger(L, 2);
    lua_Integer offset = luaL_optinteger(L, 3, 0);
    lua_settop(L, 1);
    return msgpack_unpack_from(L, limit, offset);
}

int kv_luaopen_cmsgpack(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"pack", msgpack_pack},
        {"unpack", msgpack_unpack},
        {"unpack_one", msgpack_unpack_one},
        {"unpack_limit", msgpack_unpack_limit},
    };
    lua_newtable(L);
    /* Bounded by the function list. */
    for (size_t index = 0; index < sizeof(functions) / sizeof(functions[0]); index++) {
        lua_pushcfunction(L, functions[index].func);
        lua_setfield(L, -2, functions[index].name);
    }
    lua_pushliteral(L, "cmsgpack");
    lua_setfield(L, -2, "_NAME");
    lua_pushliteral(L, "lua-cmsgpack 0.4.0");
    lua_setfield(L, -2, "_VERSION");
    lua_pushliteral(L, "Copyright (C) 2012, Salvatore Sanfilippo");
    lua_setfield(L, -2, "_COPYRIGHT");
    lua_pushliteral(L, "MessagePack C implementation for Lua");
    lua_setfield(L, -2, "_DESCRIPTION");
    lua_pushvalue(L, -1);
    lua_setglobal(L, "cmsgpack");
    KV_ASSERT(lua_istable(L, -1));
    return 1;
}
