#include "fiber_stacks.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace simt {
namespace detail {

FiberStacks::~FiberStacks() {
    for (const Mapping& m : mappings_) munmap(m.base, m.bytes);
}

void FiberStacks::reserve(std::size_t n) {
    if (stacks_.size() >= n) return;
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    // Each stack sits above a PROT_NONE guard page so that an overflow faults
    // instead of silently corrupting the neighbouring fiber's stack.
    const std::size_t slot = kStackBytes + page;
    const std::size_t count = n - stacks_.size();
    const std::size_t bytes = slot * count;
    void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        throw std::runtime_error("simt: cannot map fiber stacks: " + std::string(std::strerror(errno)));
    mappings_.push_back({base, bytes});
    for (std::size_t i = 0; i < count; ++i) {
        char* guard = static_cast<char*>(base) + i * slot;
        if (mprotect(guard, page, PROT_NONE) != 0)
            throw std::runtime_error("simt: cannot protect fiber stack guard page: " +
                                     std::string(std::strerror(errno)));
        stacks_.push_back(guard + page);
    }
}

}  // namespace detail
}  // namespace simt
