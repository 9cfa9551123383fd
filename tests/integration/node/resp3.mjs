// node-redis 5 over RESP3 against one server (kv or redis-server), port in argv[2]: prints one
// JSON line per step, [name, value], so that ../test_node_redis.py compares kv's lines with
// redis-server's. Steps: HELLO 3 through createClient({RESP: 3}); replies of every RESP3 type
// (map, set, double, null, boolean from Lua, big number, verbatim), errors, MULTI/EXEC,
// blocking pops, RESP3 pub/sub pushes, and client-side caching (clientSideCache: CLIENT
// TRACKING with invalidation pushes) over KEY_COUNT keys, half of them changed by another
// client. Bounds: KEY_COUNT keys, MESSAGE_COUNT pub/sub messages, one run.
import { createClient } from 'redis';

const KEY_COUNT = 5000;
const MESSAGE_COUNT = 200;
const port = Number(process.argv[2]);
const url = `redis://127.0.0.1:${port}`;

// Values as JSON: Maps and objects with their keys sorted (node-redis builds maps as plain
// objects in arrival order, which Redis leaves to its dict), Sets and set-typed arrays sorted
// where the step says so, Buffers as text, bigints as strings.
function plain(value) {
    if (value instanceof Map) {
        return Object.fromEntries([...value.entries()].map(([k, v]) => [String(k), plain(v)])
            .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
    }
    if (value instanceof Set) {
        return [...value].map(plain).sort();
    }
    if (Buffer.isBuffer(value)) {
        return value.toString('latin1');
    }
    if (typeof value === 'number' && !Number.isFinite(value)) {
        return `number:${value}`;
    }
    if (typeof value === 'bigint') {
        return `bigint:${value}`;
    }
    if (Array.isArray(value)) {
        return value.map(plain);
    }
    if (value instanceof Error) {
        return `error:${value.message}`;
    }
    if (value !== null && typeof value === 'object') {
        const keys = Object.keys(value).sort();
        return Object.fromEntries(keys.map((k) => [k, plain(value[k])]));
    }
    return value;
}

function print(name, value) {
    process.stdout.write(JSON.stringify([name, plain(value)]) + '\n');
}

async function attempt(name, promise) {
    try {
        print(name, await promise);
    } catch (error) {
        print(name, error);
    }
}

async function types(client) {
    await client.flushAll();
    await attempt('set', client.set('s', 'v'));
    await attempt('get', client.get('s'));
    await attempt('get missing (null)', client.get('missing'));
    await attempt('hset', client.hSet('h', { a: '1', b: '2', c: '3' }));
    await attempt('hgetall (map)', client.hGetAll('h'));
    await attempt('hgetall missing (empty map)', client.hGetAll('nohash'));
    await attempt('sadd', client.sAdd('set', ['x', 'y', 'z', '1']));
    await attempt('smembers (set)', client.sMembers('set').then((m) => [...m].sort()));
    await attempt('sismember', client.sIsMember('set', 'x'));
    await attempt('zadd', client.zAdd('z', [{ score: 1.5, value: 'a' }, { score: -2, value: 'b' },
        { score: 3e30, value: 'c' }]));
    await attempt('zscore (double)', client.zScore('z', 'a'));
    await attempt('zscore inf', client.zAdd('z', { score: Infinity, value: 'inf' })
        .then(() => client.zScore('z', 'inf')));
    await attempt('zrange withscores', client.zRangeWithScores('z', 0, -1));
    await attempt('zincrby', client.zIncrBy('z', 0.25, 'a'));
    await attempt('incrbyfloat', client.incrByFloat('f', 1.1));
    await attempt('config get (map)', client.configGet('maxmemory-policy'));
    await attempt('xadd', client.xAdd('st', '1-1', { f: 'v', g: 'w' }));
    await attempt('xadd 2', client.xAdd('st', '2-0', { f: 'v2' }));
    await attempt('xrange', client.xRange('st', '-', '+'));
    await attempt('xread', client.xRead({ key: 'st', id: '0-0' }));
    await attempt('xlen', client.xLen('st'));
    await attempt('eval map (setresp 3)',
        client.eval("redis.setresp(3); return redis.call('hgetall', KEYS[1])", { keys: ['h'] }));
    await attempt('eval double', client.eval("return {double=3.25}"));
    await attempt('eval boolean', client.eval("redis.setresp(3); return redis.call('sismember', " +
        "KEYS[1], 'x') == 1", { keys: ['set'] }));
    await attempt('eval big number', client.eval("return {big_number='123456789012345678901234567890'}"));
    await attempt('eval verbatim', client.eval(
        "return {verbatim_string={format='txt', string='hello'}}"));
    await attempt('eval null (resp3)', client.eval("redis.setresp(3); return redis.call('get', 'nokey')"));
    await attempt('wrongtype error', client.get('h'));
    await attempt('unknown command', client.sendCommand(['NOSUCHCOMMAND', 'a']));
    await attempt('multi/exec', client.multi().set('m', '1').incr('m').hGetAll('h').exec());
    await attempt('object encoding', client.objectEncoding('s'));
    await attempt('type', client.type('z'));
}

async function blocking(client) {
    const blocker = client.duplicate();
    await blocker.connect();
    const popped = blocker.blPop('bq', 5);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await client.rPush('bq', ['one', 'two']);
    print('blpop woken', await popped);
    print('blpop timeout (null)', await blocker.blPop('bq-empty', 0.1));
    await blocker.quit();
}

async function pubsub(client) {
    const subscriber = client.duplicate();
    await subscriber.connect();
    const received = [];
    await subscriber.subscribe('news', (message, channel) => received.push([channel, message]));
    await subscriber.pSubscribe('n*', (message, channel) => received.push(['p', channel, message]));
    let receivers = 0;
    for (let index = 0; index < MESSAGE_COUNT; index++) {
        receivers += await client.publish(index % 2 === 0 ? 'news' : 'nope', `m${index}`);
    }
    // The subscriber's PING answers after every message sent before it on its connection.
    await subscriber.ping();
    print('publish receivers', receivers);
    print('messages', received);
    await subscriber.unsubscribe('news');
    await subscriber.pUnsubscribe('n*');
    await subscriber.quit();
}

async function caching(client) {
    const cached = createClient({ url, RESP: 3, unstableResp3: true,
        clientSideCache: { ttl: 0, maxEntries: 0, evictPolicy: 'LRU' } });
    await cached.connect();
    const keys = Array.from({ length: KEY_COUNT }, (_, index) => `c:${index}`);
    for (let index = 0; index < KEY_COUNT; index += 500) {
        await client.mSet(keys.slice(index, index + 500).map((key) => [key, `old:${key}`]));
    }
    // Read every key twice: a miss, then a hit served from the local cache.
    let oldReads = 0;
    for (const key of keys) {
        if ((await cached.get(key)) === `old:${key}`) oldReads += 1;
    }
    for (const key of keys) {
        if ((await cached.get(key)) === `old:${key}`) oldReads += 1;
    }
    print('old values read', oldReads);
    // Another client changes every other key; the invalidation pushes come before the
    // cached client's PING reply on its own connection.
    for (let index = 0; index < KEY_COUNT; index += 2) {
        await client.set(keys[index], `new:${keys[index]}`);
    }
    await cached.ping();
    let fresh = 0;
    let stale = 0;
    for (let index = 0; index < KEY_COUNT; index++) {
        const want = index % 2 === 0 ? `new:${keys[index]}` : `old:${keys[index]}`;
        if ((await cached.get(keys[index])) === want) fresh += 1; else stale += 1;
    }
    print('reads after changes: right, wrong', [fresh, stale]);
    const stats = cached.clientSideCache.stats();
    print('cache hits, misses', [stats.hitCount, stats.missCount]);
    // FLUSHALL invalidates everything (a null invalidation).
    await client.flushAll();
    await cached.ping();
    print('after flushall', await cached.get(keys[1]));
    print('cache size after flushall and one read', cached.clientSideCache.size());
    await cached.quit();
}

// unstableResp3: node-redis refuses the commands whose RESP3 shapes it may still change
// (XREAD among them) unless told; the shapes are the server's, which is what is compared.
const client = createClient({ url, RESP: 3, unstableResp3: true });
client.on('error', (error) => print('client error event', error));
await client.connect();
await types(client);
await blocking(client);
await pubsub(client);
await caching(client);
await client.quit();
print('done', true);
