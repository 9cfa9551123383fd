/*
 * The four Lua libraries Redis 7.0 gives its scripts, written for kv: cjson (JSON), cmsgpack
 * (MessagePack), bit (32-bit operations, LuaBitOp's interface) and struct (binary packing).
 * Each opener is called as Redis's luaLoadLib calls it (a C function with the library's name
 * as its one argument) and sets the global table of the same name, with the same functions
 * and answers as Redis's build.
 *
 * Memory: every byte these libraries use comes from the Lua state's allocator (userdata,
 * Lua strings, luaL_Buffer); nothing calls malloc. A full Lua heap is Lua's memory error,
 * raised inside the script's protected call like any other.
 */
#ifndef KV_LUA_LIBS_H
#define KV_LUA_LIBS_H

#include <lua.h>

/* Sets the global "cjson" (encode, decode, new, null and the option functions). */
int kv_luaopen_cjson(lua_State *L);
/* Sets the global "cmsgpack" (pack, unpack, unpack_one, unpack_limit). */
int kv_luaopen_cmsgpack(lua_State *L);
/* Sets the global "bit" (tobit, tohex, bnot, band, bor, bxor, shifts, rotations, bswap). */
int kv_luaopen_bit(lua_State *L);
/* Sets the global "struct" (pack, unpack, size). */
int kv_luaopen_struct(lua_State *L);

#endif
