// The host block cache of host_cache.h: a short list of free blocks, searched
// for the smallest one that fits without wasting more than a quarter of it.
#include "runtime/host_cache.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace pk {
namespace host_cache {

namespace {

constexpr size_t kAlign = size_t(2) << 20;  // one transparent huge page

struct FreeBlock {
    void* ptr;
    size_t capacity;
    uint64_t freed_at;  // release order, for least-recently-freed eviction
};

size_t default_limit() {
    if (const char* env = std::getenv("PYKERNELS_HOST_CACHE_MB")) {
        char* end = nullptr;
        const unsigned long long mb = std::strtoull(env, &end, 10);
        if (end != env && *end == '\0') return static_cast<size_t>(mb) << 20;
    }
    size_t limit = size_t(1) << 30;
#if defined(__linux__)
    // Never more than an eighth of the machine's memory.
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) limit = std::min(limit, size_t(pages) * size_t(page) / 8);
#endif
    return limit;
}

struct Cache {
    std::mutex mutex;
    std::vector<FreeBlock> free_blocks;
    size_t cached_bytes = 0;
    size_t limit = default_limit();
    uint64_t tick = 0, hits = 0, misses = 0;

    // Frees least recently freed blocks until `incoming` more bytes fit.
    void evict_for(size_t incoming) {
        while (!free_blocks.empty() && cached_bytes + incoming > limit) {
            auto oldest = std::min_element(
                free_blocks.begin(), free_blocks.end(),
                [](const FreeBlock& a, const FreeBlock& b) { return a.freed_at < b.freed_at; });
            cached_bytes -= oldest->capacity;
            std::free(oldest->ptr);
            free_blocks.erase(oldest);
        }
    }
};

// Never destroyed: arrays may die during interpreter shutdown, after static
// destructors would have run.
Cache& cache() {
    static Cache* c = new Cache();
    return *c;
}

void* map_new(size_t capacity) {
    void* p = std::aligned_alloc(kAlign, capacity);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p) madvise(p, capacity, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
    return p;
}

}  // namespace

void* acquire(size_t bytes, size_t* capacity) {
    const size_t rounded = std::max<size_t>(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
    Cache& c = cache();
    {
        std::lock_guard<std::mutex> lock(c.mutex);
        auto best = c.free_blocks.end();
        for (auto it = c.free_blocks.begin(); it != c.free_blocks.end(); ++it)
            if (it->capacity >= rounded && it->capacity - rounded <= rounded / 4 &&
                (best == c.free_blocks.end() || it->capacity < best->capacity))
                best = it;
        if (best != c.free_blocks.end()) {
            void* p = best->ptr;
            *capacity = best->capacity;
            c.cached_bytes -= best->capacity;
            c.free_blocks.erase(best);
            ++c.hits;
            return p;
        }
        ++c.misses;
    }
    void* p = map_new(rounded);
    if (!p) {  // the cached blocks may be what is missing
        clear();
        p = map_new(rounded);
    }
    *capacity = rounded;
    return p;
}

void release(void* block, size_t capacity) {
    if (!block) return;
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (capacity > c.limit) {
        std::free(block);
        return;
    }
    c.evict_for(capacity);
    c.free_blocks.push_back({block, capacity, ++c.tick});
    c.cached_bytes += capacity;
}

void clear() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    for (const FreeBlock& b : c.free_blocks) std::free(b.ptr);
    c.free_blocks.clear();
    c.cached_bytes = 0;
}

Stats stats() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    return {c.cached_bytes, c.free_blocks.size(), c.limit, c.hits, c.misses};
}

void set_limit(size_t bytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.limit = bytes;
    c.evict_for(0);
}

}  // namespace host_cache
}  // namespace pk
