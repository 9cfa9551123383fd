#!/usr/bin/env bash
# Applies the runtime part of kv's host tuning, or undoes it. Root only; loopback-safe.
#   tuning/kv-tune.sh apply [KV_CONFIG]   reserve hugepages for the plan of KV_CONFIG
#                                         (default /etc/kv/kv.conf), THP madvise, sysctls,
#                                         performance governor; saves the previous values
#   tuning/kv-tune.sh undo                restores what apply saved
#   tuning/kv-tune.sh show                prints the current values
# Boot-time settings (1 GiB pages, isolcpus, nohz_full, irqbalance bans) are in README.md.
set -euo pipefail
state=/var/lib/kv-tune/saved
here=$(cd "$(dirname "$0")" && pwd)
kv=${KV_BIN:-$(command -v kv || echo "$here/../build/kv")}
sysctls=(vm.swappiness net.core.somaxconn net.ipv4.tcp_max_syn_backlog
         net.ipv4.tcp_slow_start_after_idle net.ipv4.tcp_tw_reuse net.ipv4.tcp_fin_timeout
         net.core.busy_poll net.core.busy_read vm.nr_hugepages)
thp=/sys/kernel/mm/transparent_hugepage/enabled

save() {
    mkdir -p "$(dirname "$state")"
    : > "$state"
    for name in "${sysctls[@]}"; do
        echo "sysctl $name $(sysctl -n "$name")" >> "$state"
    done
    [ -w "$thp" ] && echo "thp $(sed 's/.*\[\(.*\)\].*/\1/' "$thp")" >> "$state"
    for governor in /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor; do
        [ -w "$governor" ] && echo "governor $governor $(cat "$governor")" >> "$state"
    done
    return 0
}

apply() {
    local config=${1:-/etc/kv/kv.conf}
    [ -f "$state" ] || save
    local total pages
    total=$("$kv" --config "$config" --plan | awk '/^total/ {print $2}')
    pages=$(( (total + 2097151) / 2097152 ))
    # Only ever raise the pool: other users' pages stay reserved.
    [ "$pages" -gt "$(sysctl -n vm.nr_hugepages)" ] && sysctl -q -w vm.nr_hugepages="$pages"
    echo "hugepages: $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) x 2 MiB reserved (plan needs $pages)"
    while read -r name value; do
        sysctl -q -w "$name=$value" || echo "warning: cannot set $name"
    done < <(grep -E '^[a-z]' "$here/99-kv.conf" | tr -d ' ' | tr '=' ' ')
    [ -w "$thp" ] && echo madvise > "$thp"
    for governor in /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor; do
        [ -w "$governor" ] && echo performance > "$governor"
    done
    show
}

undo() {
    [ -f "$state" ] || { echo "nothing to undo"; return 0; }
    while read -r kind a b; do
        case "$kind" in
            sysctl) sysctl -q -w "$a=$b" ;;
            thp) echo "$a" > "$thp" ;;
            governor) echo "$b" > "$a" ;;
        esac
    done < "$state"
    rm -f "$state"
    show
}

show() {
    for name in "${sysctls[@]}"; do echo "$name = $(sysctl -n "$name")"; done
    [ -r "$thp" ] && echo "transparent_hugepage = $(cat "$thp")"
    return 0
}

case "${1:-}" in
    apply) shift; apply "$@" ;;
    undo) undo ;;
    show) show ;;
    *) echo "usage: $0 apply [KV_CONFIG] | undo | show" >&2; exit 2 ;;
esac
