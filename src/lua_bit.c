/*
 * The "bit" library Redis 7.0 gives scripts (LuaBitOp 1.0.2's interface): operations on
 * 32-bit integers held in Lua's doubles. An argument becomes its 32 bits the way LuaBitOp
 * does it on x86-64: add 2^52 + 2^51 and keep the low word of the double's bits, which
 * rounds a fraction to nearest-even and wraps any integer below 2^51 modulo 2^32 (larger
 * numbers give the same bits as Redis's because the arithmetic is the same). Results are
 * signed: a result's bits read as an int32_t. Shift counts use their low five bits.
 *
 * Invariants: no memory beyond the result number or the tohex string (at most 8 bytes).
 */
#include "lua_libs.h"

#include <lauxlib.h>
#include <stdint.h>
#include <string.h>

#include "kv_assert.h"

static_assert(sizeof(lua_Number) == sizeof(uint64_t), "LuaBitOp's trick needs double numbers");

/* 2^52 + 2^51: adding it puts an integer's low bits in the low word of the double. */
#define BIT_MAGIC 6755399441055744.0
/* tohex writes at most this many digits. */
#define BIT_HEX_DIGITS_MAX 8

/* Argument `index` as 32 bits; a zero from something that is not a number is LuaBitOp's
 * "number expected" error (so bit.band() and bit.band({}) fail, as in Redis). */
static uint32_t bit_argument(lua_State *L, int index)
{
    KV_ASSERT(index >= 1);
    lua_Number shifted = lua_tonumber(L, index) + BIT_MAGIC;
    uint64_t bits = 0;
    memcpy(&bits, &shifted, sizeof(bits));
    uint32_t word = (uint32_t)bits;
    if (word == 0 && !lua_isnumber(L, index)) {
        luaL_typerror(L, index, "number");
    }
    return word;
}

/* Pushes a result: its 32 bits read as a signed integer. */
static int bit_return(lua_State *L, uint32_t word)
{
    lua_pushnumber(L, (lua_Number)(int32_t)word);
    return 1;
}

static int bit_tobit(lua_State *L)
{
    return bit_return(L, bit_argument(L, 1));
}

static int bit_bnot(lua_State *L)
{
    return bit_return(L, ~bit_argument(L, 1));
}

enum bit_fold { BIT_FOLD_AND, BIT_FOLD_OR, BIT_FOLD_XOR };

/* band, bor, bxor: the first argument folded with each other one, last to second as
 * LuaBitOp does (so an error names the last bad argument). Bounded by the argument count. */
static int bit_fold(lua_State *L, enum bit_fold fold)
{
    uint32_t word = bit_argument(L, 1);
    for (int index = lua_gettop(L); index > 1; index--) {
        uint32_t other = bit_argument(L, index);
        if (fold == BIT_FOLD_AND) {
            word &= other;
        } else if (fold == BIT_FOLD_OR) {
            word |= other;
        } else {
            KV_ASSERT(fold == BIT_FOLD_XOR);
            word ^= other;
        }
    }
    return bit_return(L, word);
}

static int bit_band(lua_State *L)
{
    return bit_fold(L, BIT_FOLD_AND);
}

static int bit_bor(lua_State *L)
{
    return bit_fold(L, BIT_FOLD_OR);
}

static int bit_bxor(lua_State *L)
{
    return bit_fold(L, BIT_FOLD_XOR);
}

enum bit_shift { BIT_SHIFT_LEFT, BIT_SHIFT_RIGHT, BIT_SHIFT_ARITHMETIC, BIT_ROTATE_LEFT,
                 BIT_ROTATE_RIGHT };

/* The shifts and rotations; the count is the second argument's low five bits. */
static int bit_shift(lua_State *L, enum bit_shift shift)
{
    uint32_t word = bit_argument(L, 1);
    uint32_t count = bit_argument(L, 2) & 31u;
    KV_ASSERT(count < 32u);
    /* A rotation by 0 is the word itself (and shifting by 32 would be undefined). */
    uint32_t back = (32u - count) & 31u;
    switch (shift) {
    case BIT_SHIFT_LEFT:
        return bit_return(L, word << count);
    case BIT_SHIFT_RIGHT:
        return bit_return(L, word >> count);
    case BIT_SHIFT_ARITHMETIC: {
        /* Spelled out so that it does not rest on how >> treats negative numbers. */
        uint32_t fill = (word & 0x80000000u) != 0 && count != 0 ? ~(UINT32_MAX >> count) : 0;
        return bit_return(L, (word >> count) | fill);
    }
    case BIT_ROTATE_LEFT:
        return bit_return(L, count == 0 ? word : (word << count) | (word >> back));
    case BIT_ROTATE_RIGHT:
        return bit_return(L, count == 0 ? word : (word >> count) | (word << back));
    }
    KV_ASSERT(!"a shift kind");
    return 0;
}

static int bit_lshift(lua_State *L)
{
    return bit_shift(L, BIT_SHIFT_LEFT);
}

static int bit_rshift(lua_State *L)
{
    return bit_shift(L, BIT_SHIFT_RIGHT);
}

static int bit_arshift(lua_State *L)
{
    return bit_shift(L, BIT_SHIFT_ARITHMETIC);
}

static int bit_rol(lua_State *L)
{
    return bit_shift(L, BIT_ROTATE_LEFT);
}

static int bit_ror(lua_State *L)
{
    return bit_shift(L, BIT_ROTATE_RIGHT);
}

static int bit_bswap(lua_State *L)
{
    uint32_t word = bit_argument(L, 1);
    return bit_return(L, __builtin_bswap32(word));
}

/* tohex(x [, n]): the low |n| hex digits of x (8 without n, at most 8), upper case when n
 * is negative. */
static int bit_tohex(lua_State *L)
{
    uint32_t word = bit_argument(L, 1);
    int32_t digit_count = lua_isnone(L, 2) ? BIT_HEX_DIGITS_MAX : (int32_t)bit_argument(L, 2);
    const char *digits = "0123456789abcdef";
    if (digit_count < 0) {
        digits = "0123456789ABCDEF";
        /* INT32_MIN has no positive twin: it asks for more than 8 digits anyway. */
        digit_count = digit_count == INT32_MIN ? BIT_HEX_DIGITS_MAX : -digit_count;
    }
    if (digit_count > BIT_HEX_DIGITS_MAX) {
        digit_count = BIT_HEX_DIGITS_MAX;
    }
    KV_ASSERT(digit_count >= 0 && digit_count <= BIT_HEX_DIGITS_MAX);
    char text[BIT_HEX_DIGITS_MAX];
    /* Bounded by digit_count <= 8: the last digit is the lowest nibble. */
    for (int32_t index = digit_count - 1; index >= 0; index--) {
        text[index] = digits[word & 15u];
        word >>= 4;
    }
    lua_pushlstring(L, text, (size_t)digit_count);
    return 1;
}

int kv_luaopen_bit(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"tobit", bit_tobit},   {"bnot", bit_bnot},     {"band", bit_band},
        {"bor", bit_bor},       {"bxor", bit_bxor},     {"lshift", bit_lshift},
        {"rshift", bit_rshift}, {"arshift", bit_arshift}, {"rol", bit_rol},
        {"ror", bit_ror},       {"bswap", bit_bswap},   {"tohex", bit_tohex},
        {NULL, NULL},
    };
    /* luaL_register with a name sets the global (and package.loaded) as LuaBitOp does. */
    luaL_register(L, "bit", functions);
    KV_ASSERT(lua_istable(L, -1));
    return 1;
}
