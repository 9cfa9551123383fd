#!/usr/bin/env bash
# Forms one Redis Cluster out of kv instances already running with `cluster-enabled yes` and
# no slots (one per core: kv@core0, kv@core1, ... see systemd/kv@.service), whatever their
# count, one or more: the 16,384 slots are split evenly in the order given, every node meets
# the first over the cluster bus, and the script waits (at most 60 s) until every node says
# cluster_state:ok. With three or more nodes `redis-cli --cluster create HOST:PORT ...
# --cluster-yes` does the same (Redis's own tool refuses fewer than three masters).
#   scripts/cluster-form.sh 127.0.0.1:7000 127.0.0.1:7001
# A node's bus port is its cluster-port, by default port + 10000; give HOST:PORT@BUSPORT when
# it is another.
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 HOST:PORT[@BUSPORT] ..." >&2
    exit 2
fi
count=$#
per=$((16384 / count))
first_host="" first_port="" first_bus=""
index=0
for node in "$@"; do
    address=${node%@*}
    host=${address%:*}
    port=${address##*:}
    bus=$((port + 10000))
    [ "$node" != "$address" ] && bus=${node##*@}
    low=$((index * per))
    high=$((index == count - 1 ? 16383 : (index + 1) * per - 1))
    redis-cli -h "$host" -p "$port" cluster addslotsrange "$low" "$high" >/dev/null
    if [ "$index" -eq 0 ]; then
        first_host=$host first_port=$port first_bus=$bus
    else
        redis-cli -h "$host" -p "$port" cluster meet "$first_host" "$first_port" "$first_bus" \
            >/dev/null
    fi
    index=$((index + 1))
done
# Bounded: 300 rounds of 0.2 s.
for _ in $(seq 300); do
    ready=0
    for node in "$@"; do
        address=${node%@*}
        info=$(redis-cli -h "${address%:*}" -p "${address##*:}" cluster info)
        if grep -q "cluster_state:ok" <<<"$info" &&
            grep -q "cluster_known_nodes:$count" <<<"$info"; then
            ready=$((ready + 1))
        fi
    done
    if [ "$ready" -eq "$count" ]; then
        echo "cluster of $count node(s): ok"
        exit 0
    fi
    sleep 0.2
done
echo "the nodes did not agree within 60 s" >&2
exit 1
