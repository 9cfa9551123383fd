/*
 * The region: kv's only mmap, mlock and madvise. At startup it maps one run of memory of
 * the planned size, backed by the largest page size the host offers and the policy allows
 * (1 GiB or 2 MiB explicit hugepages, else normal pages with MADV_HUGEPAGE), locks it and
 * writes one byte per page so that every page is resident before the first client. A bump
 * cursor then carves every pool from it until region_seal(); from then on carving is a bug.
 * Page sizes are discovered with libhugetlbfs; free counts come from sysfs.
 */
#include "region.h"

#include <errno.h>
#include <hugetlbfs.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

#define REGION_PAGE_1G (1ull << 30)
#define REGION_PAGE_2M (2ull << 20)

/* Hugepage sizes the host supports, at most this many (x86-64 has two). */
#define REGION_HUGEPAGE_SIZES_MAX 8

static uint64_t round_up(uint64_t value, uint64_t unit)
{
    KV_ASSERT(unit != 0 && (unit & (unit - 1)) == 0);
    return (value + unit - 1) & ~(unit - 1);
}

static bool host_has_page_size(uint64_t page_bytes)
{
    long sizes[REGION_HUGEPAGE_SIZES_MAX];
    int count = gethugepagesizes(sizes, REGION_HUGEPAGE_SIZES_MAX);
    for (int i = 0; i < count; i++) {
        if ((uint64_t)sizes[i] == page_bytes) {
            return true;
        }
    }
    return false;
}

/* Free pages of one hugepage size, from sysfs; 0 when unreadable. */
static uint64_t hugepages_free(uint64_t page_bytes)
{
    char path[128];
    snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/free_hugepages",
             page_bytes / 1024);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return 0;
    }
    uint64_t count = 0;
    if (fscanf(file, "%" SCNu64, &count) != 1) {
        count = 0;
    }
    fclose(file);
    return count;
}

static int page_log2(uint64_t page_bytes)
{
    return __builtin_ctzll(page_bytes);
}

/* Tries one explicit hugepage size; NULL (with a logged reason) when it cannot be had. */
static void *map_hugetlb(uint64_t bytes, uint64_t page_bytes, bool asked)
{
    const char *name = page_bytes == REGION_PAGE_1G ? "1GiB" : "2MiB";
    if (!host_has_page_size(page_bytes)) {
        if (asked) {
            log_warn("region: this host has no %s hugepages; falling back", name);
        }
        return NULL;
    }
    uint64_t need = round_up(bytes, page_bytes) / page_bytes;
    uint64_t have = hugepages_free(page_bytes);
    if (have < need) {
        if (asked) {
            log_warn("region: %" PRIu64 " free %s hugepages, the plan needs %" PRIu64
                     "; reserve them (echo %" PRIu64 " > /sys/kernel/mm/hugepages/hugepages-"
                     "%" PRIu64 "kB/nr_hugepages, or hugeadm --pool-pages-min) ; falling back",
                     have, name, need, need, page_bytes / 1024);
        }
        return NULL;
    }
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (page_log2(page_bytes) << MAP_HUGE_SHIFT);
    void *base = mmap(NULL, need * page_bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (base == MAP_FAILED) {
        log_warn("region: mmap of %" PRIu64 " %s hugepages failed (%s); falling back", need, name,
                 strerror(errno));
        return NULL;
    }
    return base;
}

static int map_pages(struct region *region, uint64_t bytes, enum config_hugepages hugepages,
                     char *error, size_t error_bytes)
{
    bool try_1g = hugepages == CONFIG_HUGEPAGES_AUTO || hugepages == CONFIG_HUGEPAGES_1G;
    bool try_2m = hugepages != CONFIG_HUGEPAGES_OFF;
    if (try_1g) {
        /* In auto mode a 1 GiB page only pays when the plan fills most of one. */
        bool worth = hugepages == CONFIG_HUGEPAGES_1G || bytes >= REGION_PAGE_1G / 2;
        void *base = worth ? map_hugetlb(bytes, REGION_PAGE_1G, hugepages == CONFIG_HUGEPAGES_1G)
                           : NULL;
        if (base != NULL) {
            region->base = base;
            region->page_bytes = REGION_PAGE_1G;
            region->hugetlb = true;
            return 0;
        }
    }
    if (try_2m) {
        void *base = map_hugetlb(bytes, REGION_PAGE_2M, hugepages != CONFIG_HUGEPAGES_AUTO);
        if (base != NULL) {
            region->base = base;
            region->page_bytes = REGION_PAGE_2M;
            region->hugetlb = true;
            return 0;
        }
    }
    uint64_t page_bytes = (uint64_t)sysconf(_SC_PAGESIZE);
    void *base = mmap(NULL, round_up(bytes, page_bytes), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        int code = errno;
        snprintf(error, error_bytes, "region: mmap of %" PRIu64 " bytes failed: %s", bytes,
                 strerror(code));
        return -code;
    }
    if (hugepages != CONFIG_HUGEPAGES_OFF) {
        log_warn("region: no hugepages reserved for the plan; using %" PRIu64 "-byte pages with "
                 "transparent hugepages advised (see README: reserving hugepages)", page_bytes);
    }
    /* Transparent hugepages, where the host allows them, cut TLB misses on the pools. */
    (void)madvise(base, round_up(bytes, page_bytes), MADV_HUGEPAGE);
    region->base = base;
    region->page_bytes = page_bytes;
    region->hugetlb = false;
    return 0;
}

static int lock_pages(struct region *region, enum config_mlock mlock_policy, char *error,
                      size_t error_bytes)
{
    if (mlock_policy == CONFIG_MLOCK_OFF) {
        return 0;
    }
    if (mlock(region->base, region->bytes) == 0) {
        region->locked = true;
        return 0;
    }
    int code = errno;
    if (mlock_policy == CONFIG_MLOCK_REQUIRED) {
        snprintf(error, error_bytes,
                 "region: mlock of %" PRIu64 " bytes refused (%s) and mlock is required: raise "
                 "the memlock limit (ulimit -l, LimitMEMLOCK=infinity) or grant CAP_IPC_LOCK",
                 region->bytes, strerror(code));
        return -code;
    }
    log_warn("region: mlock of %" PRIu64 " bytes refused (%s); serving unlocked memory: raise "
             "the memlock limit (ulimit -l, LimitMEMLOCK=infinity) or grant CAP_IPC_LOCK",
             region->bytes, strerror(code));
    return 0;
}

/* Touches every page so that no page fault waits for the first client. */
static void prefault(struct region *region)
{
    volatile uint8_t *bytes = region->base;
    for (uint64_t offset = 0; offset < region->bytes; offset += region->page_bytes) {
        bytes[offset] = 0;
    }
}

int region_map(struct region *region, uint64_t bytes, enum config_hugepages hugepages,
               enum config_mlock mlock_policy, char *error, size_t error_bytes)
{
    KV_ASSERT(bytes > 0);
    memset(region, 0, sizeof(*region));
    int result = map_pages(region, bytes, hugepages, error, error_bytes);
    if (result != 0) {
        return result;
    }
    region->bytes = round_up(bytes, region->page_bytes);
    result = lock_pages(region, mlock_policy, error, error_bytes);
    if (result != 0) {
        region_unmap(region);
        return result;
    }
    prefault(region);
    KV_ASSERT(region->carved_bytes == 0);
    return 0;
}

void *region_carve(struct region *region, uint64_t bytes, uint64_t align)
{
    KV_ASSERT(!region->sealed);
    KV_ASSERT(align != 0 && (align & (align - 1)) == 0);
    uint64_t start = round_up(region->carved_bytes, align);
    /* Asking for more than the plan reserved is a plan bug, not a runtime condition. */
    KV_ASSERT(start <= region->bytes && bytes <= region->bytes - start);
    region->carved_bytes = start + bytes;
    return region->base + start;
}

void region_seal(struct region *region)
{
    KV_ASSERT(!region->sealed);
    KV_ASSERT(region->carved_bytes <= region->bytes);
    region->sealed = true;
}

void region_unmap(struct region *region)
{
    if (region->base != NULL) {
        KV_ASSERT(munmap(region->base, region->bytes) == 0);
    }
    memset(region, 0, sizeof(*region));
}

const char *region_page_name(const struct region *region)
{
    switch (region->page_bytes) {
    case REGION_PAGE_1G:
        return "1GiB";
    case REGION_PAGE_2M:
        return "2MiB";
    case 4096:
        return "4KiB";
    default:
        return "other";
    }
}
