#!/usr/bin/env bash
# Installs the Debian packages kv builds, tests and benchmarks with (root, or sudo).
set -euo pipefail
packages=(build-essential cmake pkg-config clang liburing-dev libhugetlbfs-dev libhugetlbfs-bin
          libjemalloc-dev libsystemd-dev liblua5.1-0-dev systemd redis-server redis-tools python3 python3-redis
          python3-seccomp python3-celery python3-rq python3-limits valgrind strace nutcracker)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi
# The Debian redis-server package may start a service on 6379, kv's default port. kv's tests
# start their own redis-server on free ports, so stop the service this script just installed.
if printf '%s\n' "${missing[@]}" | grep -qx redis-server; then
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
        systemctl disable --now redis-server >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/redis-server ]; then
        /etc/init.d/redis-server stop >/dev/null 2>&1 || true
    fi
fi
# node-redis 5 (npm `redis`, version pinned by tests/integration/node/package-lock.json) for
# the RESP3 client test: Debian's nodejs and npm when no node is installed, then npm ci
# (from the npm registry) when its modules are missing.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq nodejs npm
fi
node_dir="$(dirname "$0")/../tests/integration/node"
if [ ! -f "$node_dir/node_modules/redis/package.json" ]; then
    npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error
fi
