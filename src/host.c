/*
 * `kv --check-host`: one row per host property, each compared with what the plan needs.
 * A row fails only when kv would refuse to start as configured (mlock required but refused,
 * io_uring unavailable); anything kv works around (no hugepages, THP "always", swap, a
 * power-saving governor, several NUMA nodes, a small listen backlog) warns with the remedy.
 * Reads /proc and /sys only; never changes the host.
 */
#include "host.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *const verdict_names[] = {
    [HOST_PASS] = "pass",
    [HOST_WARN] = "warn",
    [HOST_FAIL] = "FAIL",
};

struct host_report {
    FILE *out;
    enum host_verdict worst;
};

static void row(struct host_report *report, enum host_verdict verdict, const char *name,
                const char *detail)
{
    fprintf(report->out, "%-6s %-18s %s\n", verdict_names[verdict], name, detail);
    if (verdict > report->worst) {
        report->worst = verdict;
    }
}

/* First line of a small text file, without its newline; false when unreadable. */
static bool read_line(const char *path, char *text, size_t text_bytes)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return false;
    }
    bool ok = fgets(text, (int)text_bytes, file) != NULL;
    fclose(file);
    if (ok) {
        text[strcspn(text, "\n")] = '\0';
    }
    return ok;
}

static uint64_t read_number(const char *path)
{
    char text[64];
    return read_line(path, text, sizeof(text)) ? strtoull(text, NULL, 10) : 0;
}

static void check_hugepages(struct host_report *report, uint64_t region_bytes)
{
    static const struct {
        uint64_t page_bytes;
        const char *name;
    } sizes[] = {{1ull << 30, "1GiB"}, {2ull << 20, "2MiB"}};
    char detail[256];
    bool enough = false;
    size_t used = 0;
    for (size_t index = 0; index < 2; index++) {
        char path[128];
        snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/free_hugepages",
                 sizes[index].page_bytes / 1024);
        uint64_t free_pages = read_number(path);
        uint64_t need = (region_bytes + sizes[index].page_bytes - 1) / sizes[index].page_bytes;
        enough |= free_pages >= need;
        used += (size_t)snprintf(detail + used, sizeof(detail) - used, "%s%s: %" PRIu64
                                 " free, %" PRIu64 " needed", index ? "; " : "", sizes[index].name,
                                 free_pages, need);
    }
    if (!enough) {
        snprintf(detail + used, sizeof(detail) - used, " (kv falls back to 4 KiB pages; "
                 "tuning/kv-tune.sh apply reserves them)");
    }
    row(report, enough ? HOST_PASS : HOST_WARN, "hugepages", detail);
}

static void check_memlock(struct host_report *report, const struct config *config,
                          uint64_t region_bytes)
{
    struct rlimit limit;
    char detail[256];
    getrlimit(RLIMIT_MEMLOCK, &limit);
    bool unlimited = limit.rlim_cur == RLIM_INFINITY;
    bool enough = unlimited || geteuid() == 0 || limit.rlim_cur >= region_bytes;
    if (unlimited) {
        snprintf(detail, sizeof(detail), "unlimited, region %" PRIu64 " bytes", region_bytes);
    } else {
        snprintf(detail, sizeof(detail), "%" PRIu64 " bytes%s, region %" PRIu64 " bytes",
                 (uint64_t)limit.rlim_cur, geteuid() == 0 ? " (root may exceed it)" : "",
                 region_bytes);
    }
    enum host_verdict verdict = HOST_PASS;
    if (!enough && config->mlock != CONFIG_MLOCK_OFF) {
        verdict = config->mlock == CONFIG_MLOCK_REQUIRED ? HOST_FAIL : HOST_WARN;
        strncat(detail, ": raise LimitMEMLOCK / ulimit -l or grant CAP_IPC_LOCK",
                sizeof(detail) - strlen(detail) - 1);
    }
    row(report, verdict, "memlock", detail);
}

static void check_thp(struct host_report *report)
{
    char text[128];
    if (!read_line("/sys/kernel/mm/transparent_hugepage/enabled", text, sizeof(text))) {
        row(report, HOST_WARN, "transparent_hp", "unreadable");
        return;
    }
    /* "always" lets khugepaged compact and collapse pages under kv: latency spikes. */
    bool always = strstr(text, "[always]") != NULL;
    char detail[192];
    snprintf(detail, sizeof(detail), "%s%s", text,
             always ? " (set madvise: tuning/kv-tune.sh apply)" : "");
    row(report, always ? HOST_WARN : HOST_PASS, "transparent_hp", detail);
}

static void check_swap(struct host_report *report)
{
    FILE *file = fopen("/proc/swaps", "r");
    unsigned lines = 0;
    char line[256];
    while (file != NULL && fgets(line, sizeof(line), file) != NULL && lines < 1000) {
        lines++;
    }
    if (file != NULL) {
        fclose(file);
    }
    bool swap_on = lines > 1; /* the first line is the header */
    row(report, swap_on ? HOST_WARN : HOST_PASS, "swap",
        swap_on ? "enabled: keep kv's region locked, or swapoff" : "off");
}

static void check_governor(struct host_report *report)
{
    char text[64];
    if (!read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", text, sizeof(text))) {
        row(report, HOST_WARN, "cpu_governor", "not exposed (virtual machine?): check the host's");
        return;
    }
    char detail[128];
    bool performance = strcmp(text, "performance") == 0;
    snprintf(detail, sizeof(detail), "%s%s", text,
             performance ? "" : " (set performance: tuning/kv-tune.sh apply)");
    row(report, performance ? HOST_PASS : HOST_WARN, "cpu_governor", detail);
}

static void check_numa(struct host_report *report)
{
    char text[64];
    if (!read_line("/sys/devices/system/node/online", text, sizeof(text))) {
        row(report, HOST_PASS, "numa", "no NUMA information: one node");
        return;
    }
    bool one_node = strchr(text, '-') == NULL && strchr(text, ',') == NULL;
    char detail[160];
    snprintf(detail, sizeof(detail), "nodes %s%s", text,
             one_node ? "" : ": pin kv (CPUAffinity=) to CPUs of one node, near its NIC");
    row(report, one_node ? HOST_PASS : HOST_WARN, "numa", detail);
}

static void check_io_uring(struct host_report *report, int io_uring_result)
{
    uint64_t disabled = read_number("/proc/sys/kernel/io_uring_disabled");
    char detail[160];
    snprintf(detail, sizeof(detail), "kernel.io_uring_disabled=%" PRIu64 ", setup %s", disabled,
             io_uring_result == 0 ? "works" : strerror(-io_uring_result));
    row(report, io_uring_result == 0 ? HOST_PASS : HOST_FAIL, "io_uring", detail);
}

static void check_somaxconn(struct host_report *report, const struct config *config)
{
    uint64_t somaxconn = read_number("/proc/sys/net/core/somaxconn");
    /* kv listens with a backlog of 511, as Redis does; bursts of connects want room. */
    uint64_t want = config->connections_max < 511 ? config->connections_max : 511;
    char detail[128];
    snprintf(detail, sizeof(detail), "%" PRIu64 " (connections_max %u)%s", somaxconn,
             config->connections_max, somaxconn >= want ? "" : ": raise net.core.somaxconn");
    row(report, somaxconn >= want ? HOST_PASS : HOST_WARN, "somaxconn", detail);
}

enum host_verdict host_check(const struct config *config, uint64_t region_bytes,
                             int io_uring_result, FILE *out)
{
    struct host_report report = {.out = out, .worst = HOST_PASS};
    fprintf(out, "kv host check: region %" PRIu64 " bytes for this configuration\n",
            region_bytes);
    check_hugepages(&report, region_bytes);
    check_memlock(&report, config, region_bytes);
    check_thp(&report);
    check_swap(&report);
    check_governor(&report);
    check_numa(&report);
    check_io_uring(&report, io_uring_result);
    check_somaxconn(&report, config);
    fprintf(out, "result: %s\n", report.worst == HOST_FAIL ? "kv cannot start as configured"
                                  : report.worst == HOST_WARN ? "kv can start; see the warnings"
                                                              : "ready for kv");
    return report.worst;
}
