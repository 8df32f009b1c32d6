// Runs the threads of one block as cooperative fibers on the calling OS thread.
#pragma once

#include <functional>
#include <memory>

#include "simt.h"

namespace simt {
namespace detail {

class BlockRunner {
public:
    BlockRunner();
    ~BlockRunner();
    BlockRunner(const BlockRunner&) = delete;
    BlockRunner& operator=(const BlockRunner&) = delete;

    // Runs `body` for every thread of the block described by `coords` until
    // all have returned. Re-throws an exception thrown by the body (the
    // block's other threads are abandoned where they stand) and throws
    // std::runtime_error when no thread can make progress.
    void run(const BlockCoords* coords, const std::function<void()>& body);

    struct State;  // defined in block.cpp, where the barriers use it

private:
    std::unique_ptr<State> state_;
};

// True while the calling OS thread is running a block.
bool inside_block();

}  // namespace detail
}  // namespace simt
