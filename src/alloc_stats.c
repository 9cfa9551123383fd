/*
 * jemalloc's statistics through mallctl: "epoch" refreshes them, then the all-arenas
 * counters give how many allocations were ever made and how many bytes are live. The
 * sanitizer build runs on the sanitizer's allocator and reports the counters unavailable.
 * The process's resident set comes from /proc/self/statm (a read of a few bytes).
 */
#include "alloc_stats.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kv_assert.h"

#ifdef KV_JEMALLOC
#include <jemalloc/jemalloc.h>

static uint64_t read_counter(const char *name)
{
    uint64_t value = 0;
    size_t value_bytes = sizeof(value);
    if (mallctl(name, &value, &value_bytes, NULL, 0) != 0) {
        return 0;
    }
    return value;
}

void alloc_stats_read(struct alloc_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    uint64_t epoch = 1;
    size_t epoch_bytes = sizeof(epoch);
    if (mallctl("epoch", &epoch, &epoch_bytes, &epoch, epoch_bytes) != 0) {
        return;
    }
    /* 4096 is MALLCTL_ARENAS_ALL: the sum over every arena. */
    stats->allocations = read_counter("stats.arenas.4096.small.nmalloc") +
                         read_counter("stats.arenas.4096.large.nmalloc");
    size_t allocated = 0;
    size_t allocated_bytes = sizeof(allocated);
    if (mallctl("stats.allocated", &allocated, &allocated_bytes, NULL, 0) == 0) {
        stats->allocated_bytes = allocated;
    }
    stats->available = true;
}
#else
void alloc_stats_read(struct alloc_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    stats->available = false;
}
#endif

uint64_t alloc_stats_rss_bytes(void)
{
    char text[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    ssize_t length = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (length <= 0) {
        return 0;
    }
    KV_ASSERT((size_t)length < sizeof(text)); /* read no more than it was asked */
    text[length] = '\0';
    unsigned long long size_pages = 0;
    unsigned long long resident_pages = 0;
    if (sscanf(text, "%llu %llu", &size_pages, &resident_pages) != 2) {
        return 0;
    }
    long page_bytes = sysconf(_SC_PAGESIZE);
    KV_ASSERT(page_bytes > 0); /* fails only for a name the system lacks */
    return resident_pages * (uint64_t)page_bytes;
}
