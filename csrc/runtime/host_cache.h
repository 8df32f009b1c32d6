// A cache of large freed result buffers on the host.
//
// Why: glibc serves allocations of 32 MiB and more straight from mmap and
// hands them back to the OS on free, so a loop that makes a fresh 64 MiB
// result each call pays a page fault, and the kernel's zeroing, for every
// page it writes: at 16M float32 elements that costs as much as an
// elementwise kernel itself. Blocks kept here after their array dies are
// handed out again to the next result of about the same size, already
// mapped. The same idea as PyTorch's CUDA caching allocator, on the host.
//
// Blocks are 2 MiB aligned (transparent huge pages where the kernel allows).
// The cache holds at most limit() bytes of free blocks, evicting the least
// recently freed first; PYKERNELS_HOST_CACHE_MB sets the limit at start-up
// (0 turns the cache off). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pk {
namespace host_cache {

// A block of at least `bytes` bytes (its capacity is written to *capacity),
// or nullptr when memory is exhausted.
void* acquire(size_t bytes, size_t* capacity);

// Gives back a block from acquire(); kept for reuse or freed.
void release(void* block, size_t capacity);

// Frees every cached block.
void clear();

struct Stats {
    size_t cached_bytes;   // free blocks held for reuse
    size_t cached_blocks;
    size_t limit_bytes;
    uint64_t hits;         // acquires served from the cache
    uint64_t misses;       // acquires that had to map new memory
};
Stats stats();

// Sets the most bytes of free blocks kept (evicting at once if over it).
void set_limit(size_t bytes);

}  // namespace host_cache
}  // namespace pk
