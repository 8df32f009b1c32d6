// Fiber stacks of one OS thread, reused by every block it runs.
#pragma once

#include <cstddef>
#include <vector>

namespace simt {
namespace detail {

class FiberStacks {
public:
    // Kernels keep register tiles (64+ floats) and call chains on their
    // stacks; pages are committed only when touched, so a generous size is
    // cheap.
    static constexpr std::size_t kStackBytes = 256 * 1024;

    FiberStacks() = default;
    FiberStacks(const FiberStacks&) = delete;
    FiberStacks& operator=(const FiberStacks&) = delete;
    ~FiberStacks();

    // Makes at least n stacks available; throws std::runtime_error when the
    // memory cannot be mapped.
    void reserve(std::size_t n);
    void* stack(std::size_t i) const { return stacks_[i]; }

private:
    struct Mapping {
        void* base;
        std::size_t bytes;
    };
    std::vector<Mapping> mappings_;
    std::vector<void*> stacks_;
};

}  // namespace detail
}  // namespace simt
