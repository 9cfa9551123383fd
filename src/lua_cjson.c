/*
 * The "cjson" library Redis 7.0 gives scripts (Lua CJSON 2.1.0's interface and answers, as
 * Redis builds it): cjson.encode(value), cjson.decode(text), cjson.null, cjson.new() (a
 * second table with its own options) and the option functions encode_sparse_array,
 * encode_max_depth, decode_max_depth, encode_number_precision, encode_keep_buffer,
 * encode_invalid_numbers, decode_invalid_numbers (each returns the setting after the call).
 *
 * Encoding: numbers with "%.<precision>g" (14 by default); a table whose keys are all
 * positive integers is an array up to its largest key (holes are null) unless it is
 * "excessively sparse" (largest key > count * ratio and > safe: an error by default); any
 * other table, the empty one included, is an object whose number keys are quoted; nil and
 * cjson.null are null; '"', '\', '/', DEL and control characters are escaped. Decoding:
 * strict JSON plus, by default, what strtod takes after "+", "-", a digit, "inf" or "nan"
 * (hex, Infinity, NaN, leading zeros); null is cjson.null; errors name the character.
 *
 * Invariants: no recursion. Open tables are frames in a C array of LUAI_MAXCSTACK entries:
 * each open table holds at least one slot of the Lua stack, and the depth checks run
 * lua_checkstack as the original does, which fails before Lua's cap of LUAI_MAXCSTACK slots,
 * so the frames always suffice. Memory is Lua's only: the encoded text grows in a userdata
 * at stack slot 1 (doubling; the old one becomes garbage), decoded strings are assembled in
 * one userdata as long as the input (a decoded string is never longer than its JSON). A
 * full Lua heap is Lua's memory error. encode_keep_buffer is accepted and reported but
 * keeps nothing: a buffer kept between scripts would hold heap that the next script needs.
 */
#include "lua_libs.h"

#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kv_assert.h"

/* Frames for open tables (see the file's comment). */
#define JSON_DEPTH_MAX ((uint32_t)LUAI_MAXCSTACK)
/* "%.14g" of any double fits, with sign, point, exponent and NUL (the original's size). */
#define JSON_NUMBER_BYTES 32u
/* The encoding buffer's first size; it doubles as needed. */
#define JSON_BUFFER_BYTES_MIN 256u
/* Bytes of the longest escape ("\u001f"). */
#define JSON_ESCAPE_BYTES_MAX 6u

/* The options, one set per cjson table (cjson.new makes another), as Redis's defaults. */
struct json_config {
    int encode_sparse_convert; /* 0 or 1 */
    int encode_sparse_ratio;
    int encode_sparse_safe;
    int encode_max_depth;
    int encode_invalid_numbers; /* 0 off, 1 on, 2 null */
    int encode_number_precision;
    int encode_keep_buffer;
    int decode_invalid_numbers;
    int decode_max_depth;
};

static const struct json_config json_config_default = {
    .encode_sparse_convert = 0,
    .encode_sparse_ratio = 2,
    .encode_sparse_safe = 10,
    .encode_max_depth = 1000,
    .encode_invalid_numbers = 0,
    .encode_number_precision = 14,
    .encode_keep_buffer = 1,
    .decode_invalid_numbers = 1,
    .decode_max_depth = 1000,
};

/* ---- Options ---------------------------------------------------------------------------- */

static struct json_config *json_config_find(lua_State *L)
{
    struct json_config *config = lua_touserdata(L, lua_upvalueindex(1));
    if (config == NULL) {
        luaL_error(L, "BUG: Unable to fetch CJSON configuration");
    }
    return config;
}

/* An option function's arguments: at most `count`, missing ones padded with nil. */
static struct json_config *json_option_arguments(lua_State *L, int count)
{
    KV_ASSERT(count >= 1 && count <= 3);
    luaL_argcheck(L, lua_gettop(L) <= count, count + 1, "found too many arguments");
    lua_settop(L, count);
    return json_config_find(L);
}

/* An integer option: set from argument `index` unless nil (range checked as the original,
 * which names argument 1 whatever the index), then pushed. */
static void json_option_integer(lua_State *L, int index, int *setting, int low, int high)
{
    KV_ASSERT(low <= high);
    if (!lua_isnil(L, index)) {
        lua_Integer value = luaL_checkinteger(L, index);
        /* The original keeps an int; a wider number wraps as its cast does. */
        int narrow = (int)(uint32_t)(uint64_t)value;
        char message[64];
        snprintf(message, sizeof(message), "expected integer between %d and %d", low, high);
        luaL_argcheck(L, low <= narrow && narrow <= high, 1, message);
        *setting = narrow;
    }
    lua_pushinteger(L, *setting);
}

/* An enumerated option: a boolean (for true, `true_value`) or one of `names`; pushed back
 * as a boolean when it is 0 or true_value, else as its name. */
static void json_option_enum(lua_State *L, int index, int *setting, const char *const *names,
                             int true_value)
{
    static const char *const switch_names[] = {"off", "on", NULL};
    if (names == NULL) {
        names = switch_names;
        true_value = 1;
    }
    if (!lua_isnil(L, index)) {
        if (true_value != 0 && lua_isboolean(L, index)) {
            *setting = lua_toboolean(L, index) * true_value;
        } else {
            *setting = luaL_checkoption(L, index, NULL, names);
        }
    }
    KV_ASSERT(*setting >= 0);
    if (true_value != 0 && (*setting == 0 || *setting == true_value)) {
        lua_pushboolean(L, *setting);
    } else {
        lua_pushstring(L, names[*setting]);
    }
}

static int json_encode_sparse_array(lua_State *L)
{
    struct json_config *config = json_option_arguments(L, 3);
    json_option_enum(L, 1, &config->encode_sparse_convert, NULL, 1);
    json_option_integer(L, 2, &config->encode_sparse_ratio, 0, INT_MAX);
    json_option_integer(L, 3, &config->encode_sparse_safe, 0, INT_MAX);
    return 3;
}

static int json_encode_max_depth(lua_State *L)
{
    struct json_config *config = json_option_arguments(L, 1);
    json_option_integer(L, 1, &config->encode_max_depth, 1, INT_MAX);
    return 1;
}

static int json_decode_max_depth(lua_State *L)
{
    struct json_config *config = json_option_arguments(L, 1);
    json_option_integer(L, 1, &config->decode_max_depth, 1, INT_MAX);
    return 1;
}

static int json_encode_number_precision(lua_State *L)
{
    struct json_config *config = json_option_arguments(L, 1);
    json_option_integer(L, 1, &config->encode_number_precision, 1, 14);
    return 1;
}

static int json_encode_keep_buffer(lua_State *L)
{
    struct json_config *config = json_option_arguments(L, 1);
    json_option_enum(L, 1, &config->encode_keep_buffer, NULL, 1);
    return 1;
}

static int json_encode_invalid_numbers(lua_State *L)
{
    static const char *const names[] = {"off", "on", "null", NULL};
    struct json_config *config = json_option_arguments(L, 1);
    json_option_enum(L, 1, &config->encode_invalid_numbers, names, 1);
    return 1;
}

static int json_decode_invalid_numbers(lua_State *L)
{
    struct json_config *config = json_option_arguments(L, 1);
    json_option_enum(L, 1, &config->decode_invalid_numbers, NULL, 1);
    return 1;
}

/* ---- Encoding --------------------------------------------------------------------------- */

/* The text being encoded, in a userdata at stack slot 1. */
struct json_buffer {
    lua_State *L;
    char *bytes;
    size_t used_bytes;
    size_t capacity_bytes;
};

/* Makes room for `more` bytes (a userdata twice the size replaces the old one). */
static void json_reserve(struct json_buffer *buffer, size_t more)
{
    KV_ASSERT(buffer->used_bytes <= buffer->capacity_bytes);
    if (buffer->capacity_bytes - buffer->used_bytes >= more) {
        return;
    }
    if (more > SIZE_MAX / 4 - buffer->used_bytes) {
        luaL_error(buffer->L, "not enough memory");
    }
    size_t capacity_bytes = 2 * (buffer->used_bytes + more);
    if (capacity_bytes < JSON_BUFFER_BYTES_MIN) {
        capacity_bytes = JSON_BUFFER_BYTES_MIN;
    }
    char *bytes = lua_newuserdata(buffer->L, capacity_bytes);
    if (buffer->used_bytes > 0) {
        memcpy(bytes, buffer->bytes, buffer->used_bytes);
    }
    lua_replace(buffer->L, 1);
    buffer->bytes = bytes;
    buffer->capacity_bytes = capacity_bytes;
    KV_ASSERT(buffer->capacity_bytes - buffer->used_bytes >= more);
}

static void json_append(struct json_buffer *buffer, const char *bytes, size_t length)
{
    json_reserve(buffer, length);
    memcpy(buffer->bytes + buffer->used_bytes, bytes, length);
    buffer->used_bytes += length;
}

static void json_append_char(struct json_buffer *buffer, char byte)
{
    json_append(buffer, &byte, 1);
}

/* The escape of a byte, or NULL when it stands for itself. */
static const char *json_escape(unsigned char byte, char *scratch)
{
    switch (byte) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '/':
        return "\\/";
    case '\b':
        return "\\b";
    case '\t':
        return "\\t";
    case '\n':
        return "\\n";
    case '\f':
        return "\\f";
    case '\r':
        return "\\r";
    default:
        break;
    }
    if (byte < 0x20u || byte == 0x7fu) {
        snprintf(scratch, JSON_ESCAPE_BYTES_MAX + 1, "\\u%04x", byte);
        return scratch;
    }
    return NULL;
}

/* The string at `index`, quoted and escaped; the room is reserved once, exactly. */
static void json_append_string(struct json_buffer *buffer, int index)
{
    size_t length = 0;
    const unsigned char *text = (const unsigned char *)lua_tolstring(buffer->L, index, &length);
    KV_ASSERT(text != NULL);
    char scratch[JSON_ESCAPE_BYTES_MAX + 1];
    size_t escaped_bytes = 2;
    /* Bounded by the string's length (twice: measure, then write). */
    for (size_t offset = 0; offset < length; offset++) {
        const char *escape = json_escape(text[offset], scratch);
        escaped_bytes += escape == NULL ? 1 : strlen(escape);
    }
    json_reserve(buffer, escaped_bytes);
    char *out = buffer->bytes + buffer->used_bytes;
    *out++ = '"';
    for (size_t offset = 0; offset < length; offset++) {
        const char *escape = json_escape(text[offset], scratch);
        if (escape == NULL) {
            *out++ = (char)text[offset];
        } else {
            size_t escape_bytes = strlen(escape);
            memcpy(out, escape, escape_bytes);
            out += escape_bytes;
        }
    }
    *out++ = '"';
    KV_ASSERT((size_t)(out - (buffer->bytes + buffer->used_bytes)) == escaped_bytes);
    buffer->used_bytes += escaped_bytes;
}

/* "Cannot serialise <type of the value at index>: <reason>". */
static void json_encode_error(lua_State *L, int index, const char *reason)
{
    luaL_error(L, "Cannot serialise %s: %s", lua_typename(L, lua_type(L, index)), reason);
}

static void json_append_number(struct json_buffer *buffer, const struct json_config *config,
                               int index)
{
    lua_Number number = lua_tonumber(buffer->L, index);
    if (config->encode_invalid_numbers == 0) {
        if (isinf(number) || isnan(number)) {
            json_encode_error(buffer->L, index, "must not be NaN or Inf");
        }
    } else if (config->encode_invalid_numbers == 1) {
        if (isnan(number)) {
            json_append(buffer, "nan", 3); /* never "-nan" */
            return;
        }
    } else if (isinf(number) || isnan(number)) {
        json_append(buffer, "null", 4);
        return;
    }
    KV_ASSERT(config->encode_number_precision >= 1 && config->encode_number_precision <= 14);
    json_reserve(buffer, JSON_NUMBER_BYTES);
    int length = snprintf(buffer->bytes + buffer->used_bytes, JSON_NUMBER_BYTES, "%.*g",
                          config->encode_number_precision, number);
    KV_ASSERT(length > 0 && (unsigned)length < JSON_NUMBER_BYTES);
    buffer->used_bytes += (size_t)length;
}

/* The original's (int) of a positive double, as x86-64 answers it: too large is INT_MIN. */
static int json_key_int(lua_Number key)
{
    return key < 2147483648.0 ? (int)key : INT_MIN;
}

/* The table on top: its array length (> 0), or 0 for an object. Keys that are all
 * positive integers make an array up to the largest, unless it is excessively sparse
 * (an error, or with encode_sparse_array(true) an object). */
static int json_array_length(lua_State *L, const struct json_config *config)
{
    KV_ASSERT(lua_istable(L, -1));
    int largest = 0;
    int count = 0;
    lua_pushnil(L);
    /* Bounded by the table's entries. */
    while (lua_next(L, -2) != 0) {
        lua_Number key = lua_type(L, -2) == LUA_TNUMBER ? lua_tonumber(L, -2) : 0;
        if (key == 0 || floor(key) != key || key < 1) {
            lua_pop(L, 2);
            return 0;
        }
        /* As the original: the comparison is with the double, the store an int. */
        if (key > largest) {
            largest = json_key_int(key);
        }
        count++;
        lua_pop(L, 1);
    }
    /* count * ratio in the original's int arithmetic (wrapping, as x86-64 does). */
    int limit = (int)((unsigned)count * (unsigned)config->encode_sparse_ratio);
    if (config->encode_sparse_ratio > 0 && largest > limit &&
        largest > config->encode_sparse_safe) {
        if (!config->encode_sparse_convert) {
            json_encode_error(L, -1, "excessively sparse array");
        }
        return 0;
    }
    return largest > 0 ? largest : 0;
}

/* One open table while encoding: the table is on the stack (for an object, with the
 * current key above it). */
struct json_encode_frame {
    int32_t length;     /* array: its length; 0: an object */
    int32_t next_index; /* array: the next element; object: entries written */
};
/* JSON_DEPTH_MAX frames live on the C stack during an encode: keep them small. */
static_assert(sizeof(struct json_encode_frame) == 8, "an encode frame is 8 bytes");

/* Encodes the value on top and pops it; a table is opened instead (its bracket written,
 * a frame pushed, the table left on the stack). */
static void json_encode_value(struct json_buffer *buffer, const struct json_config *config,
                              struct json_encode_frame *frames, uint32_t *depth)
{
    lua_State *L = buffer->L;
    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
        json_append_string(buffer, -1);
        break;
    case LUA_TNUMBER:
        json_append_number(buffer, config, -1);
        break;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, -1)) {
            json_append(buffer, "true", 4);
        } else {
            json_append(buffer, "false", 5);
        }
        break;
    case LUA_TNIL:
        json_append(buffer, "null", 4);
        break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, -1) == NULL) {
            json_append(buffer, "null", 4);
            break;
        }
        json_encode_error(L, -1, "type not supported");
        break;
    case LUA_TTABLE: {
        uint32_t table_depth = *depth + 1;
        /* Room for the key, the value and an error message, as the original asks. */
        if ((int64_t)table_depth > config->encode_max_depth || !lua_checkstack(L, 3)) {
            luaL_error(L, "Cannot serialise, excessive nesting (%d)", (int)table_depth);
        }
        KV_ASSERT(*depth < JSON_DEPTH_MAX); /* each open table holds a stack slot */
        int length = json_array_length(L, config);
        frames[*depth] = (struct json_encode_frame){.length = length, .next_index = 0};
        if (length > 0) {
            frames[*depth].next_index = 1;
            json_append_char(buffer, '[');
        } else {
            json_append_char(buffer, '{');
            lua_pushnil(L); /* the first key for lua_next */
        }
        *depth = table_depth;
        return;
    }
    default:
        json_encode_error(L, -1, "type not supported");
    }
    lua_pop(L, 1);
}

static int json_encode(lua_State *L)
{
    const struct json_config *config = json_config_find(L);
    luaL_argcheck(L, lua_gettop(L) == 1, 1, "expected 1 argument");
    struct json_encode_frame frames[JSON_DEPTH_MAX];
    struct json_buffer buffer = {.L = L};
    lua_pushnil(L);
    lua_insert(L, 1); /* slot 1: the buffer's userdata; slot 2: the value */
    uint32_t depth = 0;
    json_encode_value(&buffer, config, frames, &depth);
    /* Bounded: each pass writes an entry of an open table or closes it; open tables are
     * at most encode_max_depth and JSON_DEPTH_MAX. */
    while (depth > 0) {
        struct json_encode_frame *frame = &frames[depth - 1];
        if (frame->length > 0) {
            if (frame->next_index > frame->length) {
                json_append_char(&buffer, ']');
                lua_pop(L, 1);
                depth--;
                continue;
            }
            if (frame->next_index > 1) {
                json_append_char(&buffer, ',');
            }
            lua_rawgeti(L, -1, frame->next_index);
            frame->next_index++;
            json_encode_value(&buffer, config, frames, &depth);
            continue;
        }
        if (lua_next(L, -2) == 0) {
            json_append_char(&buffer, '}');
            lua_pop(L, 1);
            depth--;
            continue;
        }
        if (frame->next_index > 0) {
            json_append_char(&buffer, ',');
        }
        frame->next_index++;
        int key_type = lua_type(L, -2);
        if (key_type == LUA_TNUMBER) {
            json_append_char(&buffer, '"');
            json_append_number(&buffer, config, -2);
            json_append(&buffer, "\":", 2);
        } else if (key_type == LUA_TSTRING) {
            json_append_string(&buffer, -2);
            json_append_char(&buffer, ':');
        } else {
            json_encode_error(L, -2, "table key must be a number or string");
        }
        json_encode_value(&buffer, config, frames, &depth);
    }
    KV_ASSERT(lua_gettop(L) == 1);
    lua_pushlstring(L, buffer.bytes != NULL ? buffer.bytes : "", buffer.used_bytes);
    return 1;
}

/* ---- Decoding --------------------------------------------------------------------------- */

enum json_token_type {
    JSON_OBJECT_BEGIN,
    JSON_OBJECT_END,
    JSON_ARRAY_BEGIN,
    JSON_ARRAY_END,
    JSON_STRING,
    JSON_NUMBER,
    JSON_BOOLEAN,
    JSON_NULL,
    JSON_COLON,
    JSON_COMMA,
    JSON_END,
    JSON_WHITESPACE,
    JSON_ERROR,
    JSON_UNKNOWN,
};

/* The names errors give the token types (the original's). */
static const char *const json_token_names[] = {
    "T_OBJ_BEGIN", "T_OBJ_END", "T_ARR_BEGIN", "T_ARR_END", "T_STRING",
    "T_NUMBER",    "T_BOOLEAN", "T_NULL",      "T_COLON",   "T_COMMA",
    "T_END",       "T_WHITESPACE", "T_ERROR",  "T_UNKNOWN",
};
static_assert(sizeof(json_token_names) / sizeof(json_token_names[0]) == JSON_UNKNOWN + 1,
              "a name per token type");

struct json_parse {
    lua_State *L;
    const struct json_config *config;
    const char *data; /* the text; Lua keeps a NUL after it */
    const char *cursor;
    char *scratch;    /* a decoded string is assembled here (as long as the text) */
    uint32_t depth;
};

struct json_token {
    enum json_token_type type;
    size_t index; /* 0-based offset where the token (or its error) is */
    const char *error;
    const char *string;
    size_t string_bytes;
    lua_Number number;
    bool boolean;
};

/* The token type a byte starts; JSON_UNKNOWN needs a closer look. */
static enum json_token_type json_token_start(unsigned char byte)
{
    switch (byte) {
    case '{':
        return JSON_OBJECT_BEGIN;
    case '}':
        return JSON_OBJECT_END;
    case '[':
        return JSON_ARRAY_BEGIN;
    case ']':
        return JSON_ARRAY_END;
    case ',':
        return JSON_COMMA;
    case ':':
        return JSON_COLON;
    case '\0':
        return JSON_END;
    case ' ':
    case '\t':
    case '\n':
    case '\r':
        return JSON_WHITESPACE;
    case 'f':
    case 'i':
    case 'I':
    case 'n':
    case 'N':
    case 't':
    case '"':
    case '+':
    case '-':
        return JSON_UNKNOWN;
    default:
        return byte >= '0' && byte <= '9' ? JSON_UNKNOWN : JSON_ERROR;
    }
}

static void json_token_error(struct json_token *token, const struct json_parse *parse,
                             const char *error)
{
    token->type = JSON_ERROR;
    token->index = (size_t)(parse->cursor - parse->data);
    token->error = error;
}

static int json_hex_digit(char digit)
{
    if (digit >= '0' && digit <= '9') {
        return digit - '0';
    }
    char lower = (char)(digit | 0x20);
    return lower >= 'a' && lower <= 'f' ? 10 + lower - 'a' : -1;
}

/* Four hex digits at `text` (stopping at the first that is not, NUL included), or -1. */
static int json_hex4(const char *text)
{
    int value = 0;
    /* Bounded by 4 digits; a NUL is not a digit, so this never reads past the text. */
    for (int index = 0; index < 4; index++) {
        int digit = json_hex_digit(text[index]);
        if (digit < 0) {
            return -1;
        }
        value = (value << 4) | digit;
    }
    KV_ASSERT(value >= 0 && value <= 0xffff);
    return value;
}

/* A \uXXXX escape (or a surrogate pair of them) at the cursor, appended as UTF-8 at
 * *out; false for a bad one. */
static bool json_unicode_escape(struct json_parse *parse, char **out)
{
    KV_ASSERT(parse->cursor[0] == '\\' && parse->cursor[1] == 'u');
    int code = json_hex4(parse->cursor + 2);
    size_t escape_bytes = 6;
    if (code < 0) {
        return false;
    }
    if ((code & 0xf800) == 0xd800) {
        if ((code & 0x400) != 0) {
            return false; /* a low surrogate first */
        }
        if (parse->cursor[6] != '\\' || parse->cursor[7] != 'u') {
            return false;
        }
        int low = json_hex4(parse->cursor + 8);
        if (low < 0 || (low & 0xfc00) != 0xdc00) {
            return false;
        }
        code = (((code & 0x3ff) << 10) | (low & 0x3ff)) + 0x10000;
        escape_bytes = 12;
    }
    unsigned char *target = (unsigned char *)*out;
    if (code <= 0x7f) {
        *target++ = (unsigned char)code;
    } else if (code <= 0x7ff) {
        *target++ = (unsigned char)(0xc0 | (code >> 6));
        *target++ = (unsigned char)(0x80 | (code & 0x3f));
    } else if (code <= 0xffff) {
        *target++ = (unsigned char)(0xe0 | (code >> 12));
        *target++ = (unsigned char)(0x80 | ((code >> 6) & 0x3f));
        *target++ = (unsigned char)(0x80 | (code & 0x3f));
    } else {
        KV_ASSERT(code <= 0x10ffff);
        *target++ = (unsigned char)(0xf0 | (code >> 18));
        *target++ = (unsigned char)(0x80 | ((code >> 12) & 0x3f));
        *target++ = (unsigned char)(0x80 | ((code >> 6) & 0x3f));
        *target++ = (unsigned char)(0x80 | (code & 0x3f));
    }
    /* UTF-8 is never longer than its escape, so the scratch (as long as the text) holds. */
    *out = (char *)target;
    parse->cursor += escape_bytes;
    return true;
}

/* A string token; the cursor is on its opening quote. */
static void json_string_token(struct json_parse *parse, struct json_token *token)
{
    KV_ASSERT(*parse->cursor == '"');
    parse->cursor++;
    char *out = parse->scratch;
    /* Bounded by the text: each pass consumes at least one byte, and the NUL after the
     * text ends the loop. */
    while (*parse->cursor != '"') {
        char byte = *parse->cursor;
        if (byte == '\0') {
            json_token_error(token, parse, "unexpected end of string");
            return;
        }
        if (byte == '\\') {
            char escaped = parse->cursor[1];
            switch (escaped) {
            case '"':
            case '\\':
            case '/':
                byte = escaped;
                break;
            case 'b':
                byte = '\b';
                break;
            case 't':
                byte = '\t';
                break;
            case 'n':
                byte = '\n';
                break;
            case 'f':
                byte = '\f';
                break;
            case 'r':
                byte = '\r';
                break;
            case 'u':
                if (!json_unicode_escape(parse, &out)) {
                    json_token_error(token, parse, "invalid unicode escape code");
                    return;
                }
                continue;
            default:
                json_token_error(token, parse, "invalid escape code");
                return;
            }
            parse->cursor++;
        }
        *out++ = byte;
        parse->cursor++;
    }
    parse->cursor++;
    token->type = JSON_STRING;
    token->string = parse->scratch;
    token->string_bytes = (size_t)(out - parse->scratch);
}

/* Whether the number at the cursor is one strict JSON refuses but strtod takes: a "+",
 * hex, leading zeros, inf or nan. */
static bool json_number_is_invalid(const struct json_parse *parse)
{
    const char *text = parse->cursor;
    if (*text == '+') {
        return true;
    }
    if (*text == '-') {
        text++;
    }
    if (*text == '0') {
        char next = text[1];
        return (next | 0x20) == 'x' || (next >= '0' && next <= '9');
    }
    if (*text <= '9') {
        return false;
    }
    return strncasecmp(text, "inf", 3) == 0 || strncasecmp(text, "nan", 3) == 0;
}

static void json_number_token(struct json_parse *parse, struct json_token *token)
{
    char *end = NULL;
    token->type = JSON_NUMBER;
    token->number = strtod(parse->cursor, &end);
    if (end == parse->cursor) {
        json_token_error(token, parse, "invalid number");
    } else {
        parse->cursor = end;
    }
}

static void json_next_token(struct json_parse *parse, struct json_token *token)
{
    enum json_token_type type = json_token_start((unsigned char)*parse->cursor);
    /* Bounded by the text: the NUL after it is not whitespace. */
    while (type == JSON_WHITESPACE) {
        parse->cursor++;
        type = json_token_start((unsigned char)*parse->cursor);
    }
    token->type = type;
    token->index = (size_t)(parse->cursor - parse->data);
    if (type == JSON_ERROR) {
        json_token_error(token, parse, "invalid token");
        return;
    }
    if (type == JSON_END) {
        return;
    }
    if (type != JSON_UNKNOWN) {
        parse->cursor++;
        return;
    }
    char first = *parse->cursor;
    if (first == '"') {
        json_string_token(parse, token);
    } else if (first == '-' || (first >= '0' && first <= '9')) {
        if (!parse->config->decode_invalid_numbers && json_number_is_invalid(parse)) {
            json_token_error(token, parse, "invalid number");
            return;
        }
        json_number_token(parse, token);
    } else if (strncmp(parse->cursor, "true", 4) == 0) {
        token->type = JSON_BOOLEAN;
        token->boolean = true;
        parse->cursor += 4;
    } else if (strncmp(parse->cursor, "false", 5) == 0) {
        token->type = JSON_BOOLEAN;
        token->boolean = false;
        parse->cursor += 5;
    } else if (strncmp(parse->cursor, "null", 4) == 0) {
        token->type = JSON_NULL;
        parse->cursor += 4;
    } else if (parse->config->decode_invalid_numbers && json_number_is_invalid(parse)) {
        json_number_token(parse, token);
    } else {
        json_token_error(token, parse, "invalid token");
    }
}

/* "Expected <what> but found <token> at character <1-based index>"; does not return. */
static void json_parse_error(struct json_parse *parse, const char *expected,
                             const struct json_token *token)
{
    const char *found =
        token->type == JSON_ERROR ? token->error : json_token_names[token->type];
    luaL_error(parse->L, "Expected %s but found %s at character %d", expected, found,
               (int)(token->index + 1));
}

/* Entering an array or object: within decode_max_depth and with `slots` free. */
static void json_descend(struct json_parse *parse, int slots)
{
    parse->depth++;
    if ((int64_t)parse->depth <= parse->config->decode_max_depth &&
        lua_checkstack(parse->L, slots)) {
        return;
    }
    luaL_error(parse->L, "Found too many nested data structures (%d) at character %d",
               (int)parse->depth, (int)(parse->cursor - parse->data));
}

/* One open array or object while decoding: its table is on the stack. */
struct json_decode_frame {
    int32_t next_index; /* array: the next element's index; 0: an object */
};
static_assert(sizeof(struct json_decode_frame) == 4, "a decode frame is 4 bytes");

/* An object's key and colon, leaving the key pushed and the value's first token read. */
static void json_object_key(struct json_parse *parse, struct json_token *token)
{
    if (token->type != JSON_STRING) {
        json_parse_error(parse, "object key string", token);
    }
    lua_pushlstring(parse->L, token->string, token->string_bytes);
    json_next_token(parse, token);
    if (token->type != JSON_COLON) {
        json_parse_error(parse, "colon", token);
    }
    json_next_token(parse, token);
}

/* Opens the array or object whose first token is `token`: pushes its table and, unless it is
 * empty, a frame, leaving the first value's (or key's) token read. Returns whether the table
 * is already complete (empty). */
static bool json_table_open(struct json_parse *parse, struct json_token *token,
                            struct json_decode_frame *frames)
{
    KV_ASSERT(token->type == JSON_OBJECT_BEGIN || token->type == JSON_ARRAY_BEGIN);
    bool is_object = token->type == JSON_OBJECT_BEGIN;
    json_descend(parse, is_object ? 3 : 2);
    lua_newtable(parse->L);
    json_next_token(parse, token);
    if (token->type == (is_object ? JSON_OBJECT_END : JSON_ARRAY_END)) {
        parse->depth--;
        return true; /* an empty table: complete */
    }
    KV_ASSERT(parse->depth <= JSON_DEPTH_MAX); /* each open table holds a slot */
    frames[parse->depth - 1].next_index = is_object ? 0 : 1;
    if (is_object) {
        json_object_key(parse, token);
    }
    return false; /* its first value starts with `token` */
}

/* Starts the value whose first token is `token`: pushes a scalar or opens a table. Returns
 * whether the value is complete on top of the stack. */
static bool json_value_start(struct json_parse *parse, struct json_token *token,
                             struct json_decode_frame *frames)
{
    lua_State *L = parse->L;
    switch (token->type) {
    case JSON_STRING:
        lua_pushlstring(L, token->string, token->string_bytes);
        return true;
    case JSON_NUMBER:
        lua_pushnumber(L, token->number);
        return true;
    case JSON_BOOLEAN:
        lua_pushboolean(L, token->boolean);
        return true;
    case JSON_NULL:
        lua_pushlightuserdata(L, NULL);
        return true;
    case JSON_OBJECT_BEGIN:
    case JSON_ARRAY_BEGIN:
        return json_table_open(parse, token, frames);
    default:
        json_parse_error(parse, "value", token);
        return false; /* not reached: json_parse_error raises */
    }
}

/* With a complete value on top, stores it into its table, closing each table it completes.
 * Returns true when the document is complete (and at its end), false when the next value
 * starts with `token`. */
static bool json_value_finish(struct json_parse *parse, struct json_token *token,
                              struct json_decode_frame *frames)
{
    lua_State *L = parse->L;
    /* Bounded by the open tables: each pass closes one or starts a value. */
    for (;;) {
        json_next_token(parse, token);
        if (parse->depth == 0) {
            if (token->type != JSON_END) {
                json_parse_error(parse, "the end", token);
            }
            return true;
        }
        KV_ASSERT(parse->depth <= JSON_DEPTH_MAX);
        struct json_decode_frame *frame = &frames[parse->depth - 1];
        bool is_object = frame->next_index == 0;
        if (is_object) {
            lua_rawset(L, -3);
        } else {
            lua_rawseti(L, -2, frame->next_index);
            frame->next_index++;
        }
        if (token->type == (is_object ? JSON_OBJECT_END : JSON_ARRAY_END)) {
            parse->depth--; /* the table on top is the completed value */
            continue;
        }
        if (token->type != JSON_COMMA) {
            json_parse_error(parse, is_object ? "comma or object end" : "comma or array end",
                             token);
        }
        json_next_token(parse, token);
        if (is_object) {
            json_object_key(parse, token);
        }
        return false;
    }
}

static int json_decode(lua_State *L)
{
    luaL_argcheck(L, lua_gettop(L) == 1, 1, "expected 1 argument");
    struct json_parse parse = {.L = L, .config = json_config_find(L)};
    size_t length = 0;
    parse.data = luaL_checklstring(L, 1, &length);
    parse.cursor = parse.data;
    /* Only the first character is sure to be ASCII: a NUL in the first two is UTF-16/32. */
    if (length >= 2 && (parse.data[0] == '\0' || parse.data[1] == '\0')) {
        luaL_error(L, "JSON parser does not support UTF-16 or UTF-32");
    }
    parse.scratch = lua_newuserdata(L, length + 1); /* slot 2 */
    struct json_decode_frame frames[JSON_DEPTH_MAX];
    struct json_token token;
    json_next_token(&parse, &token);
    /* Bounded by the text: each pass consumes a token (at least one byte) before the next,
     * or closes an open table. */
    for (;;) {
        /* A value starts with `token`. */
        if (json_value_start(&parse, &token, frames) &&
            json_value_finish(&parse, &token, frames)) {
            KV_ASSERT(lua_gettop(L) == 3);
            return 1;
        }
    }
}

/* ---- The table -------------------------------------------------------------------------- */

static int json_new(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"encode", json_encode},
        {"decode", json_decode},
        {"encode_sparse_array", json_encode_sparse_array},
        {"encode_max_depth", json_encode_max_depth},
        {"decode_max_depth", json_decode_max_depth},
        {"encode_number_precision", json_encode_number_precision},
        {"encode_keep_buffer", json_encode_keep_buffer},
        {"encode_invalid_numbers", json_encode_invalid_numbers},
        {"decode_invalid_numbers", json_decode_invalid_numbers},
        {"new", json_new},
    };
    lua_newtable(L);
    struct json_config *config = lua_newuserdata(L, sizeof(*config));
    *config = json_config_default;
    /* Bounded by the function list; each closes over the options. */
    for (size_t index = 0; index < sizeof(functions) / sizeof(functions[0]); index++) {
        lua_pushvalue(L, -1);
        lua_pushcclosure(L, functions[index].func, 1);
        lua_setfield(L, -3, functions[index].name);
    }
    lua_pop(L, 1);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    lua_pushliteral(L, "cjson");
    lua_setfield(L, -2, "_NAME");
    lua_pushliteral(L, "2.1.0");
    lua_setfield(L, -2, "_VERSION");
    KV_ASSERT(lua_istable(L, -1));
    return 1;
}

int kv_luaopen_cjson(lua_State *L)
{
    json_new(L);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "cjson");
    return 1;
}
