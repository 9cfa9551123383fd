"""cjson, cmsgpack, bit and struct answer scripts with exactly Redis 7.0's bytes.

Redis 7.0 embeds four Lua libraries for scripts; kv has its own (src/lua_*.c) over the Lua
heap. First a catalogue of EVAL scripts runs in order on kv and on a real redis-server: JSON
round trips (nested tables, unicode escapes and surrogate pairs, huge, negative and float
numbers, -0, NaN and inf under every encode_invalid_numbers setting, sparse arrays, every
option function and its argument errors, every decode error with its character index, the
nesting limits in both directions), MessagePack of every type and size class (fixnum to
int64, float and double, str8/16/32, array and map 16/32, the 16-level nesting cut, cycles),
unpack_one/unpack_limit offsets and their errors, bad and truncated input, the stack limits;
bit operations on negative, fractional and huge numbers; struct formats with endianness,
alignment, wide integers, c0 and s, and their errors; writes to the library tables.
Then seeded random scripts: random JSON documents through decode/encode/pack/unpack, mutated
JSON and random MessagePack bytes (through pcall, so the error texts compare too), random
bit operations and random struct formats. Every reply is compared byte for byte.

Before that, on kv alone (Redis has no fixed Lua heap): scripts that build a huge structure
and encode it with each library run out of the Lua heap, answer Lua's memory error, and kv
serves on (the next script uses the libraries again).
"""
import json
import random
import struct

import kvtest

RANDOM_COUNT = 3000
KV_OPTIONS = ["--connections-max", "16", "--hugepages", "off", "--maxmemory", "32mb",
              "--lua-heap-bytes", "32mb"]
# The smallest Lua heap kv takes: the huge structures below cannot fit in it.
KV_SMALL_HEAP_OPTIONS = ["--connections-max", "16", "--hugepages", "off", "--maxmemory",
                         "32mb", "--lua-heap-bytes", "1mb"]

CATALOGUE = [
    b'return cjson.encode({1,2,3,{a=1}})',
    b'return cjson.encode({})',
    b'return cjson.encode({[1]=1,[2]=2,[20]=3})',
    b'return cjson.encode("a\\"b\\\\c/d\\1\\127\\n")',
    b'return cjson.encode(0.1)',
    b'return cjson.encode(1/0)',
    b'return cjson.decode(\'[1,2,"x",{"a":null}]\')[3]',
    b"return cjson.decode('[1,2,')",
    b'return cjson.decode(\'"\\\\ud83d\\\\ude00"\')',
    b'return cmsgpack.pack(1, -1, 300, -300, 70000, 1.5, 0.1, "abc", {1,2}, {a=1}, true, false)',
    b'return {cmsgpack.unpack(cmsgpack.pack(1, -1, 300, -300, 70000, "abc", true))}',
    b'return {bit.tobit(0xffffffff), bit.tohex(-1), bit.tohex(255, -4), bit.band(-1, 7), '
    b'bit.arshift(-256, 4), bit.rol(1, 33), bit.bswap(0x12345678)}',
    b"return struct.pack('>i2<H!4bd', 1, 2, 3, 1.5)",
    b"return {struct.unpack('>i2<H', struct.pack('>i2<H', -5, 300))}",
    b"return struct.size('!4bid')",
    b'cjson.encode = 1',
    b'return bit.band()',
    b'return cmsgpack.pack()',
    b"return struct.pack('z')",
    b'return cjson.encode(function() end)',
    b'return tostring(cjson.null)',
    b'return cjson.new().encode({1})',
    b'local r = {cjson.encode_sparse_array(true, 3, 4)} '
    b'local s = cjson.encode({[1]=1, [100]=2}) '
    b'return {r, {cjson.encode_sparse_array(false, 2, 10)}, s}',
    b"local r = cjson.encode_invalid_numbers('null') local s = cjson.encode({0/0, 1/0}) "
    b"return {r, s, cjson.encode_invalid_numbers(false)}",
    b'return cjson.encode_number_precision(20)',
    b'return type(cjson.encode_keep_buffer())',
    b"local t = {} for i = 1, 40 do t['k' .. i] = i end return cjson.encode(t)",
    b"local t = {} for i = 1, 40 do t['k' .. i] = i end return cmsgpack.pack(t)",
    b'return '
    b'cjson.encode(cjson.decode(\'{"b":1,"a":2,"c":{"x":[1,2,{"y":null}]},'
    b'"d":"\\\\u00e9\\\\u4e2d"}\'))',
    b'local t = {} for i = 1, 1100 do t = {t} end return cjson.encode(t)',
    b"local s = string.rep('[', 1100) return cjson.decode(s)",
    b"local s = string.rep('[', 1000) .. string.rep(']', 1000) return "
    b'cjson.encode(cjson.decode(s))',
    b'local t = {} for i = 1, 20 do t = {t} end return cmsgpack.pack(t)',
    b"return cmsgpack.unpack(string.rep('\\145', 5000) .. '\\1')",
    b"return cmsgpack.unpack(string.rep('\\129', 9000) .. '\\1')",
    b"return {cmsgpack.unpack(string.rep('\\1', 9000))}",
    b"return cmsgpack.unpack('\\193')",
    b"return cmsgpack.unpack('\\205\\1')",
    b'return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3), 1)}',
    b'return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 2)}',
    b'return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 0, 1)}',
    b'return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), -1)}',
    b'return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3), 10)}',
    b'return cmsgpack.pack(2^63, -2^63, 2^64, 1e300, 0/0, 1/0, -1/0, 2^31, -2^31-1, 4294967296)',
    b'return {cmsgpack.unpack(cmsgpack.pack(2^63, -2^63, 2^53+1, 0.5))}',
    b"return {cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255', "
    b"'\\211\\128\\0\\0\\0\\0\\0\\0\\0')}",
    b"return cjson.decode('1e400')",
    b"return cjson.encode(cjson.decode('[1e400, -1e400]'))",
    b'cjson.encode_invalid_numbers(true) local r = cjson.encode({0/0, 1/0, -1/0}) '
    b'cjson.encode_invalid_numbers(false) return r',
    b"return cjson.decode('nan')",
    b"return tostring(cjson.decode('0x1F'))",
    b"return tostring(cjson.decode('-Infinity'))",
    b"return cjson.decode('+1')",
    b"return cjson.decode('01')",
    b'return cjson.decode(\'{"a" 1}\')',
    b"return cjson.decode('{1:2}')",
    b"return cjson.decode('[1 2]')",
    b'return cjson.decode(\'"abc\')',
    b'return cjson.decode(\'"\\\\x"\')',
    b'return cjson.decode(\'"\\\\udc00"\')',
    b'return cjson.decode(\'"\\\\ud800\\\\u0041"\')',
    b'return cjson.decode(\'"\\\\u12"\')',
    b"return cjson.decode('tru')",
    b"return cjson.decode('  ')",
    b"return cjson.decode('[1] x')",
    b"return cjson.decode('a\\0b')",
    b"return cjson.decode('[1]\\0xyz')[1]",
    b'return cjson.decode()',
    b"return cjson.decode('1', '2')",
    b'return cjson.decode({})',
    b'return cjson.encode()',
    b'return cjson.encode({[true]=1})',
    b'return cjson.encode({1, nil, 3})',
    b'return cjson.encode({[1]=1, [100]=2})',
    b'return cjson.encode({[1]=1, [1.5]=2})',
    b'return cjson.encode({[-1]=1})',
    b'return cjson.encode({[0]=1})',
    b'return cjson.encode({[1e10]=1})',
    b'return cjson.encode({[1/0]=1})',
    b'return cjson.encode(-0.0)',
    b'return cjson.encode({1.0, 1e15, 1e14, 123456789012345678, 3.14159265358979, -1e-300, 2^53})',
    b'cjson.encode_number_precision(3) local r = cjson.encode(3.14159) '
    b'cjson.encode_number_precision(14) return r',
    b'return cjson.encode_number_precision(0)',
    b"return cjson.encode_number_precision('x')",
    b'return cjson.encode_max_depth(1, 2)',
    b"return cjson.encode_invalid_numbers('bogus')",
    b'return {cjson.encode_sparse_array()}',
    b'return cjson.encode(cjson.null)',
    b'return cjson.encode({a=cjson.null})',
    b'return cjson.encode(string.char(0, 1, 31, 127, 128, 255))',
    b'return cjson.decode(\'"\\\\u0000x"\')',
    b'return cjson.decode(\'"\' .. string.char(1, 200) .. \'"\')',
    b'return cjson.decode(\'{"a":{"b":{"c":[true,false,null]}}}\').a.b.c[2]',
    b"return cjson.decode('[]')",
    b"return cjson.encode(cjson.decode('{}'))",
    b"return cjson.encode(cjson.decode('[[],{}]'))",
    b'return cjson._NAME .. cjson._VERSION',
    b'return cmsgpack._VERSION',
    b'return bit.tohex(1, -2147483647)',
    b'return {bit.lshift(1, 31), bit.lshift(1, 32), bit.rshift(-1, 1), bit.arshift(-1, 31), '
    b'bit.ror(1, 1), bit.rol(-1, 0)}',
    b'return {bit.tobit(2^32 + 5), bit.tobit(-2^31 - 1), bit.tobit(1.5), bit.tobit(2.5), '
    b'bit.tobit(-1.5), bit.tobit(2^52), bit.tobit(2^60 + 3), bit.tobit(1e300)}',
    b"return {bit.bor(1, 2, 4, 8), bit.bxor(-1, 1, 2), bit.band(0xff, '0x0f')}",
    b'return bit.band(1, {})',
    b"return bit.tohex('a')",
    b"return bit.bnot('x')",
    b'return {bit.tohex(0xdeadbeef), bit.tohex(-1, 3), bit.tohex(-1, 0), bit.tohex(12, 100)}',
    b"return {struct.unpack('>I4', '\\255\\255\\255\\255'), struct.unpack('i8', "
    b"string.rep('\\255', 8))}",
    b"return {struct.unpack('i16', string.rep('\\255', 16))}",
    b"return {struct.unpack('I9', string.rep('\\1', 9))}",
    b"return {struct.unpack('i9', string.rep('\\255', 9))}",
    b"return struct.pack('i12', -2)",
    b"return struct.pack('i33', 1)",
    b"return struct.pack('!3i', 1)",
    b"return struct.pack('c3', 'ab')",
    b"return struct.pack('c0s', 'hello', 'wo')",
    b"return {struct.unpack('bc0', '\\3abcdef')}",
    b"return {struct.unpack('c0', 'abc')}",
    b"return {struct.unpack('s', 'abc')}",
    b"return {struct.unpack('ss', 'ab\\0cd\\0e')}",
    b"return {struct.unpack('i', 'abc')}",
    b"return {struct.unpack('i', 'abcdefgh', 0)}",
    b"return {struct.unpack('i', 'abcdefgh', 5)}",
    b"return {struct.unpack('!8 b d', struct.pack('!8 b d', 1, 2.5))}",
    b"return {struct.size('!8bd'), struct.size('bd'), struct.size('!2bhi'), struct.size('zq'), "
    b"struct.size('c10')}",
    b"return struct.size('s')",
    b"return struct.size('c0')",
    b"return struct.size('!3')",
    b"return struct.size('i99999999999')",
    b"return struct.pack('>fd<fd', 1.5, -2.25, 3, 1e300)",
    b"return {struct.unpack('>f<d', struct.pack('>f<d', 0.1, 0.1))}",
    b"return struct.pack('i', 'x')",
    b"return struct.pack('i')",
    b"return struct.pack('>l<L', -1, 2^63)",
    b"return struct.pack('bBhH', -1, 255, -2, 65535)",
    b"return struct.pack('xbx', 7)",
    b"return struct.unpack('I3', '\\1\\2\\3')",
    b"return {struct.unpack('!4 b i3 i', string.rep('\\1', 16))}",
    b"return struct.pack('T', 5)",
    b'return struct.pack(1)',
    b'return struct.unpack()',
    b'struct.pack = nil',
    b'bit.newf = 1',
    b"return {pcall(cjson.decode, '[')}",
    b"return cmsgpack.unpack('\\218\\0\\5abc')",
    b"return cmsgpack.unpack('\\219\\0\\0\\0\\3abc')",
    b"return #cmsgpack.pack(string.rep('x', 31), string.rep('x', 32), string.rep('x', 255), "
    b"string.rep('x', 256), string.rep('x', 65535), string.rep('x', 65536))",
    b'local t = {} for i = 1, 15 do t[i] = i end local a = cmsgpack.pack(t) t[16] = 16 local b '
    b'= cmsgpack.pack(t) local u = {} for i = 1, 65536 do u[i] = 1 end local c = '
    b'cmsgpack.pack(u) return {a:sub(1,3), b:sub(1,3), c:sub(1,5)}',
    b"local t = {} for i = 1, 16 do t['k'..i] = i end return cmsgpack.pack(t):sub(1,3)",
    b"return {cmsgpack.unpack(cmsgpack.pack({1, 2, {a = {b = 'c'}}, 'x'}))}",
    b'return cmsgpack.pack({[1]=1, [3]=3})',
    b'return cmsgpack.pack({[1]=1, [2]=nil, x=1})',
    b'return cmsgpack.pack(function() end, nil, cjson.null)',
    b'local t = {} t[1] = t return cmsgpack.pack(t)',
    b'local t = {} t.a = t return cmsgpack.pack(t)',
    b'local t = {} t[1] = t return cjson.encode(t)',
    b"return cmsgpack.unpack('\\130\\192\\1')",
    b"return cmsgpack.unpack('\\129\\1')",
    b"return {cmsgpack.unpack('\\147\\1\\192\\3')}",
    b"return cmsgpack.unpack('')",
    b"return cmsgpack.unpack_one('')",
    b'return cmsgpack.unpack(1)',
    b"return cmsgpack.unpack_limit('\\1')",
    # More edge cases: numbers at the precision edge, long strings, escapes on the way out.
    b"return cjson.encode({0.1 + 0.2, 1/3, -1/3, 1e-5, 123456789012345, 1234567890123456})",
    b"return cjson.encode(string.rep('\\\\/\"', 100))",
    b"return cjson.encode({['a\\0b'] = 'c\\0d'})",
    b'return '
    b'cjson.decode(\'"\\\\u00e9\\\\u20ac\\\\uD834\\\\uDD1E\\\\/\\\\b\\\\f\\\\n\\\\r\\\\t"\')',
    b"return cjson.decode('[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]')",
    b"return cjson.encode(cjson.decode('{\"1\":1,\"2\":2}'))",
    b"return cjson.encode(cjson.decode('[-0, 0.5e1, 5E-1, -1.25e+2, 1E400]'))",
    b"cjson.decode_invalid_numbers(false) local ok, e = pcall(cjson.decode, '0x10') "
    b"local ok2, e2 = pcall(cjson.decode, 'nan') local ok3, e3 = pcall(cjson.decode, '+1') "
    b"local ok4, e4 = pcall(cjson.decode, '01') local r = cjson.decode('-5') "
    b"cjson.decode_invalid_numbers(true) return {e, e2, e3, e4, r}",
    b"return {cjson.decode_invalid_numbers(), cjson.decode_invalid_numbers('off'), "
    b"cjson.decode_invalid_numbers('on'), cjson.encode_keep_buffer(false), "
    b"cjson.encode_keep_buffer(true), cjson.encode_max_depth(), cjson.decode_max_depth()}",
    b"cjson.encode_max_depth(3) local ok, e = pcall(cjson.encode, {{{{1}}}}) "
    b"local s = cjson.encode({{{1}}}) cjson.encode_max_depth(1000) return {e, s}",
    b"cjson.decode_max_depth(2) local ok, e = pcall(cjson.decode, '[[[1]]]') "
    b"local ok2, e2 = pcall(cjson.decode, '{\"a\":{\"b\":{}}}') "
    b"local s = cjson.encode(cjson.decode('[[1]]')) cjson.decode_max_depth(1000) "
    b"return {e, e2, s}",
    b"local c = cjson.new() c.encode_number_precision(2) "
    b"return {c.encode(1/3), cjson.encode(1/3), c.encode_number_precision()}",
    b"local t = setmetatable({}, {__index = function() return 1 end}) return cjson.encode(t)",
    b"return cjson.encode({a = {b = {c = {d = {e = 'deep'}}}}})",
    b"return cjson.encode({{}, {{}}, {a = {}}})",
    b"return cjson.encode(coroutine.create(function() end))",
    b"return cjson.encode({f = print or tostring})",
    b"return cjson.decode('{\"a\":1,\"a\":2}').a",
    b"return cjson.decode('[\"\\t\"]')[1]",
    b"return cjson.decode(' \\n\\t\\r[ 1 , { } ] ')[1]",
    b"return cjson.decode('{\"a\":1,}')",
    b"return cjson.decode('{\"a\":1 \"b\":2}')",
    b"return cjson.decode('[1,2]]')",
    b"return cjson.decode('-')",
    b"return cjson.decode('.5')",
    b"return cjson.decode('\"\\\\ud83d\"')",
    b"return cjson.decode('\"\\\\ud83d\\\\ud83d\"')",
    b"return cjson.decode('nul')",
    b"return cjson.decode('Infinityx')",
    b"return cjson.decode('[inf, -inf, NaN]')[1] > 0",
    b"return cjson.decode(string.rep(' ', 10) .. '7')",
    b"return cjson.decode(12)",
    # MessagePack: every integer boundary both ways, floats, strings and containers.
    b"local r = {} for _, n in ipairs({0, 127, 128, 255, 256, 65535, 65536, 4294967295, "
    b"4294967296, -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, "
    b"2^53, -2^53, 0.5, -0.5, 1/3, 3.4e38, 3.5e38, 1e-45, 2^-149}) do "
    b"r[#r + 1] = cmsgpack.pack(n) r[#r + 1] = cmsgpack.unpack(cmsgpack.pack(n)) end "
    b"return r",
    b"local r = {} for _, n in ipairs({0, 127, 128, 255, 256, 65535, 65536, -1, -33, -129, "
    b"-32769, 1.5, -2.25}) do r[#r + 1] = tostring(cmsgpack.unpack(cmsgpack.pack(n))) end "
    b"return r",
    b"return {cmsgpack.unpack('\\204\\200\\205\\1\\0\\206\\1\\0\\0\\0\\208\\128\\209\\128\\0"
    b"\\210\\128\\0\\0\\0\\202\\63\\192\\0\\0\\203\\63\\248\\0\\0\\0\\0\\0\\0\\195\\194')}",
    b"return {cmsgpack.unpack('\\196\\1a')}",
    b"return {cmsgpack.unpack('\\212\\1\\1')}",
    b"return {cmsgpack.unpack('\\217\\3abc\\160')}",
    b"return {cmsgpack.unpack('\\220\\0\\2\\1\\2', '\\221\\0\\0\\0\\1\\7')}",
    b"return {cmsgpack.unpack('\\222\\0\\1\\161a\\1')}",
    b"return cmsgpack.unpack('\\223\\0\\0\\0\\1\\161a\\161b').a",
    b"return {cmsgpack.unpack('\\221\\255\\255\\255\\255')}",
    b"return {cmsgpack.unpack('\\217')}",
    b"return {cmsgpack.unpack('\\219\\0\\0\\0')}",
    b"return {cmsgpack.unpack('\\146\\1')}",
    b"return {cmsgpack.unpack_one('\\1\\2\\3')}",
    b"return {cmsgpack.unpack_one('\\1\\2\\3', 2)}",
    b"return {cmsgpack.unpack_one('\\1\\2\\3', 3)}",
    b"return {cmsgpack.unpack_one('\\1\\2\\3', -1)}",
    b"return {cmsgpack.unpack_limit('\\1\\2\\3', 5)}",
    b"return {cmsgpack.unpack_limit('\\1\\2\\3', 1, 1)}",
    b"return {cmsgpack.unpack_limit('\\1\\2\\3')}",
    b"return {cmsgpack.unpack_limit('\\1\\2\\3', 'x')}",
    b"return {cmsgpack.unpack_one('\\1\\2\\3', 'x')}",
    b"return cmsgpack.pack({1, 2, 3, nil, 5})",
    b"return cmsgpack.pack({[1.5] = 1}, {[-1] = 1}, {[0] = 1}, {[2^40] = 1})",
    b"return cmsgpack.pack({a = {1, {b = true}}, [3] = false})",
    b"return cmsgpack.pack('', {}, {{}}, setmetatable({}, {__index = function(t, k) return k "
    b'end}))',
    b"local t = setmetatable({1, 2}, {__index = function(t, k) return k * 10 end}) "
    b"return cmsgpack.pack(t)",
    b"local a = {} local b = {a} a[1] = b return cmsgpack.pack(a, b)",
    b"return #cmsgpack.pack(string.rep('y', 100000))",
    b"local s = cmsgpack.pack(string.rep('y', 70000)) return {#s, s:sub(1, 6), "
    b"#cmsgpack.unpack(s)}",
    b"local t = {} for i = 1, 70000 do t[i] = i % 7 end local s = cmsgpack.pack(t) "
    b"local u = cmsgpack.unpack(s) return {#s, s:sub(1, 5), #u, u[70000]}",
    b"local t = {} for i = 1, 70000 do t['k' .. i] = i end local s = cmsgpack.pack(t) "
    b"local u = cmsgpack.unpack(s) return {#s, s:sub(1, 5), u.k1, u.k70000}",
    b"return cmsgpack.pack(cmsgpack.unpack(cmsgpack.pack({1, {2, {3, {4}}}}))) == "
    b"cmsgpack.pack({1, {2, {3, {4}}}})",
    # bit: negative numbers, the shifts' five-bit counts, strings that are numbers.
    b"return {bit.tobit(-1), bit.tobit(-2^31), bit.tobit(2^31), bit.tobit(-2^32 - 1), "
    b"bit.bnot(0), bit.bnot(-1), bit.band(-8, -3), bit.bor(-8, 3), bit.bxor(-1, -2)}",
    b"return {bit.lshift(-1, 4), bit.rshift(-16, 4), bit.arshift(-16, 4), bit.arshift(16, 4), "
    b"bit.rol(-2, 4), bit.ror(-2, 4), bit.lshift(1, -1), bit.rshift(1, 33), bit.bswap(-1), "
    b"bit.bswap(1)}",
    b"return {bit.tohex(-1), bit.tohex(-1, -8), bit.tohex(0x1234, 2), bit.tohex(0x1234, -3), "
    b"bit.tohex(-2^31), bit.tohex(2^31 - 1)}",
    b"return {bit.band('7', ' 3 '), bit.tobit('0x7fffffff'), bit.bor('1e3', 0)}",
    b"return bit.tobit(nil)",
    b"return bit.lshift(1)",
    b"return bit.bor(1, 2, 'x')",
    b"return bit.tohex(1, {})",
    # struct: more formats.
    b"return {struct.unpack('<i3>i3', struct.pack('<i3>i3', -2, -3))}",
    b"return {struct.unpack('I32', struct.pack('I32', 7))}",
    b"return struct.pack('!2 b h b i b d', 1, 2, 3, 4, 5, 6.5)",
    b"return struct.pack('!16 b d', 1, 2)",
    b"return struct.pack('!', 1)",
    b"return struct.pack('!0', 1)",
    b"return {struct.unpack('!8 b d', struct.pack('!8 b d', -1, -0.5))}",
    b"return {struct.unpack('>h<h', '\\255\\254\\255\\254')}",
    b"return {struct.unpack('B', '\\200', 1), struct.unpack('b', '\\200')}",
    b"return {struct.unpack('xxb', '\\1\\2\\3')}",
    b"return {struct.unpack('b', '')}",
    b"return {struct.unpack('c2', 'a')}",
    b"return {struct.unpack('>I2c0', '\\0\\3abcd')}",
    b"return {struct.unpack('>I2c0', '\\0\\9abcd')}",
    b"return {struct.unpack('sc0', 'ab\\0')}",
    b"return {struct.unpack('b', 'a', -1)}",
    b"return {struct.unpack(' < > b', 'a')}",
    b"return struct.pack('c', '')",
    b"return struct.pack('s', 'a\\0b')",
    b"return struct.pack('>d<f', 0/0, 1/0)",
    b"return struct.pack('l', -2^63)",
    b"return struct.pack('>I4', 2^32 - 1)",
    b"return struct.pack('>i4', -2^31)",
    b"return struct.pack('b', 1.9)",
    b"return struct.pack('b', -1.9)",
    b"return {struct.size(''), struct.size('  '), struct.size('!'), struct.size('i32x')}",
    b"return struct.size('?')",
    b"return struct.size()",
    # The tables are read-only, like Redis's.
    b"cjson.new = nil",
    b"cmsgpack.extra = 1",
    b"return {type(cjson), type(cmsgpack), type(bit), type(struct), type(cjson.null)}",
]


def json_number(rnd):
    roll = rnd.random()
    if roll < 0.4:
        return str(rnd.randint(-1000, 1000))
    if roll < 0.6:
        return str(rnd.choice([0, -1, 2 ** 31, -2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 1, 2 ** 63,
                               -2 ** 63, 2 ** 64, 10 ** 20, 123456789012345678901234567890]))
    if roll < 0.8:
        return repr(rnd.uniform(-1e6, 1e6))
    return rnd.choice(["1e308", "-1e-308", "1e400", "-0", "0.1", "1E5", "2.5e-3", "-0.0",
                       "3.14159265358979323846", "1e-400", "5e-324"])


def json_string(rnd, length_max=12):
    alphabet = ["a", "b", "Z", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f", "\x7f",
                "\u00e9", "\u20ac", "\U0001f600", "\U0001d11e", "\u4e2d", "\ufffd", "\u0800"]
    text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, length_max)))
    return json.dumps(text, ensure_ascii=rnd.random() < 0.5)


def json_document(rnd, depth=0):
    """JSON text: nested objects and arrays of strings, numbers, booleans and nulls."""
    roll = rnd.random()
    if depth < 5 and roll < 0.3:
        items = [json_document(rnd, depth + 1) for _ in range(rnd.randint(0, 6))]
        return "[" + ", ".join(items) + "]"
    if depth < 5 and roll < 0.55:
        # Keys shorter than 32 bytes: Redis's Lua hashes every byte of a string, Debian's
        # only some of a long one, so tables with long keys iterate in another order.
        keys = [json_string(rnd, 7) if rnd.random() < 0.3 else
                json.dumps("k%d" % rnd.randint(0, 30)) for _ in range(rnd.randint(0, 6))]
        return "{" + ",".join(f"{key}:{json_document(rnd, depth + 1)}" for key in keys) + "}"
    if roll < 0.7:
        return json_number(rnd)
    if roll < 0.85:
        return json_string(rnd)
    return rnd.choice(["true", "false", "null"])


def mutate(rnd, data):
    """The bytes with a few random deletions, insertions and replacements."""
    data = bytearray(data)
    for _ in range(rnd.randint(1, 3)):
        position = rnd.randint(0, len(data))
        roll = rnd.random()
        if roll < 0.3 and position < len(data):
            del data[position]
        elif roll < 0.6:
            data[position:position] = bytes([rnd.choice(b'[]{}:,"\\0-eE.tfnu ') if
                                             rnd.random() < 0.7 else rnd.getrandbits(8)])
        elif position < len(data):
            data[position] = rnd.getrandbits(8)
    return bytes(data)


def msgpack_item(rnd, depth=0, text_bytes_max=40):
    """MessagePack bytes of one random value, in every form (also those cmsgpack cannot
    read: bin, ext, 0xc1) and in forms larger than needed."""
    roll = rnd.random()
    if depth < 4 and roll < 0.15:
        count = rnd.randint(0, 5)
        head = rnd.choice([bytes([0x90 | count]), b"\xdc" + struct.pack(">H", count),
                           b"\xdd" + struct.pack(">I", count)])
        return head + b"".join(msgpack_item(rnd, depth + 1) for _ in range(count))
    if depth < 4 and roll < 0.3:
        count = rnd.randint(0, 4)
        head = rnd.choice([bytes([0x80 | count]), b"\xde" + struct.pack(">H", count),
                           b"\xdf" + struct.pack(">I", count)])
        pairs = b""
        for _ in range(count):
            # Keys under 32 bytes (see json_document).
            key = rnd.choice([msgpack_item(rnd, 4, 31), bytes([0xa1, rnd.choice(b"abc")]),
                              bytes([rnd.randint(0, 5)])])
            pairs += key + msgpack_item(rnd, depth + 1)
        return head + pairs
    if roll < 0.6:
        forms = [("B", 0xcc), ("H", 0xcd), ("I", 0xce), ("Q", 0xcf), ("b", 0xd0), ("h", 0xd1),
                 ("i", 0xd2), ("q", 0xd3)]
        code, first = rnd.choice(forms)
        size = struct.calcsize(code)
        if code.isupper():
            value = rnd.choice([0, 1, 127, 128, (1 << (8 * size)) - 1, rnd.getrandbits(8 * size)])
        else:
            limit = 1 << (8 * size - 1)
            value = rnd.choice([0, -1, -limit, limit - 1, rnd.randint(-limit, limit - 1)])
        return bytes([first]) + struct.pack(">" + code, value)
    if roll < 0.7:
        return rnd.choice([b"\xca" + struct.pack(">f", rnd.uniform(-1e6, 1e6)),
                           b"\xcb" + struct.pack(">d", rnd.uniform(-1e300, 1e300)),
                           b"\xcb" + struct.pack(">d", float("inf")), b"\xca\x7f\xc0\x00\x00",
                           bytes([rnd.randint(0, 0x7f)]), bytes([rnd.randint(0xe0, 0xff)])])
    if roll < 0.85:
        text = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, text_bytes_max)))
        head = rnd.choice([bytes([0xa0 | len(text)]) if len(text) < 32 else b"\xd9" +
                           bytes([len(text)]), b"\xd9" + bytes([len(text)]),
                           b"\xda" + struct.pack(">H", len(text)),
                           b"\xdb" + struct.pack(">I", len(text))])
        return head + text
    return rnd.choice([b"\xc0", b"\xc2", b"\xc3", b"\xc1", b"\xc4\x01x", b"\xd4\x01\x01",
                       b"\xc7\x01\x01x"])


BIT_NUMBERS = ["0", "1", "-1", "2147483647", "2147483648", "-2147483648", "-2147483649",
               "4294967295", "4294967296", "0.5", "1.5", "2.5", "-0.5", "-1.5", "1e10", "-1e10",
               "4503599627370496", "9007199254740993", "0x7fffffff", "0xdeadbeef", "1e20", "31",
               "32", "33", "-31", "abc", ""]
STRUCT_OPTIONS = ["b", "B", "h", "H", "l", "L", "T", "i", "I", "i1", "i2", "I3", "i5", "I8",
                  "i12", "f", "d", "x", "c3", "s", "c0", "<", ">", "!", "!2", "!4", " "]


def struct_value(rnd, option):
    if option[0] in "bBhHlLTiI":
        return str(rnd.choice([0, 1, -1, 127, 128, -128, 255, 65535, -32768, 2 ** 31,
                               -2 ** 31, 2 ** 40, -2 ** 40, rnd.randint(-10 ** 6, 10 ** 6)]))
    if option[0] in "fd":
        return rnd.choice(["0.5", "-2.25", "1e300", "3.4e38", "1/3", "0.1", "-0"])
    return rnd.choice(["'abc'", "'abcdef'", "'a'", "''", "'x\\0y'"])


class Generator:
    def __init__(self, rnd):
        self.rnd = rnd
        self.catalogue_index = 0

    def random_script(self):
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.3:
            document = json_document(rnd).encode()
            script = rnd.choice([
                b"return cjson.encode(cjson.decode(ARGV[1]))",
                b"return cmsgpack.pack(cjson.decode(ARGV[1]))",
                b"local ok, r = pcall(cjson.encode, cmsgpack.unpack(cmsgpack.pack("
                b"cjson.decode(ARGV[1])))) return r",
                b"local v = cjson.decode(ARGV[1]) if type(v) == 'table' then return #v end "
                b"return tostring(v)",
            ])
            return [b"EVAL", script, b"0", document]
        if roll < 0.45:
            document = mutate(rnd, json_document(rnd).encode())
            # A mutation may merge strings into a key of 32 bytes or more (see json_document),
            # so only the length of the re-encoded text is compared.
            return [b"EVAL", b"local ok, r = pcall(cjson.decode, ARGV[1]) if not ok then "
                    b"return r end local ok2, s = pcall(cjson.encode, r) "
                    b"if ok2 then return #s end return s", b"0", document]
        if roll < 0.65:
            data = b"".join(msgpack_item(rnd) for _ in range(rnd.randint(1, 3)))
            if rnd.random() < 0.3:
                # As for JSON: a mutated length may make a long key, so lengths only.
                return [b"EVAL", b"local r = {pcall(cmsgpack.unpack, ARGV[1])} "
                        b"if not r[1] then return r[2] end if #r < 2 then return 'none' end "
                        b"return #cmsgpack.pack(select(2, unpack(r)))", b"0", mutate(rnd, data)]
            script = rnd.choice([
                b"local r = {pcall(cmsgpack.unpack, ARGV[1])} if not r[1] then return r[2] end "
                b"if #r < 2 then return 'none' end return cmsgpack.pack(select(2, unpack(r)))",
                b"local ok, off, v = pcall(cmsgpack.unpack_one, ARGV[1], tonumber(ARGV[2])) "
                b"if not ok then return off end return {off, cmsgpack.pack(v)}",
                b"local r = {pcall(cmsgpack.unpack_limit, ARGV[1], 2, tonumber(ARGV[2]))} "
                b"if not r[1] then return r[2] end return {r[2], #r}",
            ])
            return [b"EVAL", script, b"0", data, b"%d" % rnd.randint(0, len(data) + 1)]
        if roll < 0.8:
            numbers = [rnd.choice(BIT_NUMBERS).encode() for _ in range(3)]
            script = (b"local a, b, c = tonumber(ARGV[1]) or ARGV[1], tonumber(ARGV[2]) or "
                      b"ARGV[2], tonumber(ARGV[3]) or ARGV[3] local function p(f, ...) "
                      b"local ok, r = pcall(f, ...) return r end "
                      b"return {p(bit.tobit, a), p(bit.bnot, a), p(bit.band, a, b), "
                      b"p(bit.bor, a, b, c), p(bit.bxor, a, b), p(bit.lshift, a, b), "
                      b"p(bit.rshift, a, b), p(bit.arshift, a, b), p(bit.rol, a, b), "
                      b"p(bit.ror, a, b), p(bit.bswap, a), p(bit.tohex, a), "
                      b"p(bit.tohex, a, ARGV[4])}")
            return [b"EVAL", script, b"0"] + numbers + [b"%d" % rnd.randint(-10, 10)]
        options = [rnd.choice(STRUCT_OPTIONS) for _ in range(rnd.randint(1, 6))]
        format_text = "".join(options)
        values = ", ".join(struct_value(rnd, option) for option in options
                           if option[0] not in "<>! x")
        script = ("local f = ARGV[1] local ok, s = pcall(struct.pack, f" +
                  (", " + values if values else "") + ") if not ok then return s end "
                  "local r = {pcall(struct.unpack, f, s)} local out = {#s, s} "
                  "for i = 1, #r do out[#out + 1] = tostring(r[i]) end "
                  "local ok2, n = pcall(struct.size, f) out[#out + 1] = n return out")
        return [b"EVAL", script.encode(), b"0", format_text.encode()]

    def command(self):
        if self.catalogue_index < len(CATALOGUE):
            body = CATALOGUE[self.catalogue_index]
            self.catalogue_index += 1
            return [b"EVAL", body, b"0"]
        return self.random_script()

    def wire(self, command):
        return kvtest.encode(*command)


# Scripts whose input fits the 1 MiB Lua heap but whose result (or working memory) does
# not: each calls one library function under pcall, which catches Lua's memory error, and
# returns "built" (the input fitted) with the error message.
HUGE_SCRIPTS = [
    b"local s = string.rep('x', 200) local t = {} for i = 1, 10000 do t[i] = s end "
    b"return {'built', select(2, pcall(cjson.encode, t))}",
    b"local t = {} for i = 1, 3000 do t['k' .. i] = 'value' end local u = {} "
    b"for i = 1, 30 do u[i] = t end return {'built', select(2, pcall(cjson.encode, u))}",
    b"local s = string.rep('y', 200) local t = {} for i = 1, 10000 do t[i] = s end "
    b"return {'built', select(2, pcall(cmsgpack.pack, t))}",
    b"local s = '[' .. string.rep('[],', 40000) .. '1]' "
    b"return {'built', select(2, pcall(cjson.decode, s))}",
    b"local s = '\\221\\0\\1\\0\\0' .. string.rep('\\144', 65536) "
    b"return {'built', select(2, pcall(cmsgpack.unpack, s))}",
    b"local s = string.rep('z', 150000) "
    b"return {'built', select(2, pcall(struct.pack, 'c0c0c0c0c0c0c0c0', s, s, s, s, s, s, s, s))}",
]


def heap_exhaustion(check):
    """kv alone: each library function that runs out of the Lua heap raises Lua's memory
    error (caught by pcall here, answered as a script error without it); kv serves on and
    the libraries still work in the next script."""
    with kvtest.start_kv(*KV_SMALL_HEAP_OPTIONS) as kv, kv.connect() as client:
        for body in HUGE_SCRIPTS:
            reply = client.call("EVAL", body, 0)
            check.starts(f"out of Lua heap inside the library: {body[:50]!r}",
                         b"*2\r\n$5\r\nbuilt\r\n", reply)
            check.true("... Lua's memory error", reply.endswith(b"not enough memory\r\n"),
                       reply[:300])
            check.equal("the libraries work in the next script", b"$7\r\n[1,\"a\"]\r\n",
                        client.call("EVAL", "return cjson.encode({1, 'a'})", 0))
        body = HUGE_SCRIPTS[0].replace(b"select(2, pcall(cjson.encode, t))", b"cjson.encode(t)")
        unprotected = client.call("EVAL", body, 0)
        check.starts("without pcall: a script error", b"-ERR Error running script", unprotected)
        check.true("... naming Lua's memory error", b"not enough memory" in unprotected,
                   unprotected[:300])
        check.equal("kv serves on", b"+PONG\r\n", client.call("PING"))
        check.equal("and a round trip of a moderate table still fits", b":2000\r\n",
                    client.call("EVAL", "local t = {} for i = 1, 2000 do t[i] = i end "
                                "return #cmsgpack.unpack(cmsgpack.pack(cjson.decode("
                                "cjson.encode(t))))", 0))


def main():
    check = kvtest.Checker("test_diff_lualibs", verbose=False)
    if not kvtest.KV_IS_REDIS:
        heap_exhaustion(check)
    kvtest.differential("test_diff_lualibs", Generator, len(CATALOGUE) + RANDOM_COUNT,
                        KV_OPTIONS, check=check,
                        final_probes=[[b"EVAL", b"return {cjson.encode_max_depth(), "
                                       b"cjson.decode_max_depth(), "
                                       b"cjson.encode_number_precision()}", b"0"]])


if __name__ == "__main__":
    main()
