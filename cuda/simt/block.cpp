// The scheduler of one block's fibers and the barriers they meet.
//
// A fiber that reaches a barrier marks itself waiting and switches directly to
// the next runnable fiber of the block (in linear thread order, wrapping
// around). The last arrival at a barrier releases it and keeps running, so no
// central loop is involved in the common case. Control returns to the
// scheduler (the OS thread's own stack) only when no fiber is runnable: every
// thread has returned, a kernel threw, or the block is deadlocked.

#include "block.h"

#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "context.h"
#include "fiber_stacks.h"

namespace simt {
namespace detail {

__thread const ThreadCoords* current_thread = nullptr;
__thread const BlockCoords* current_block = nullptr;

namespace {

constexpr unsigned int kMaxThreads = 1024;
constexpr unsigned int kMaxWarps = kMaxThreads / 32;

enum class WarpOp : unsigned char { sync, exchange, vote };

const char* warp_op_name(WarpOp op) {
    switch (op) {
        case WarpOp::sync: return "__syncwarp";
        case WarpOp::exchange: return "a shuffle";
        case WarpOp::vote: return "a vote (__ballot/__any/__all)";
    }
    return "?";
}

struct Fiber {
    ThreadCoords coords;
    Context ctx;
    unsigned int index;
    // Posted on arrival at a barrier, read when it releases.
    WarpOp op;
    unsigned int mask;
    unsigned int src;
    int predicate;
    std::uint64_t value;
    std::uint64_t result;
};

}  // namespace

struct BlockRunner::State {
    std::vector<Fiber> fibers = std::vector<Fiber>(kMaxThreads);
    FiberStacks stacks;
    Context scheduler;
    const BlockCoords* coords = nullptr;
    const std::function<void()>* body = nullptr;
    Fiber* running = nullptr;
    std::exception_ptr error;  // set: stop the block now

    unsigned int nthreads = 0, nwarps = 0, live = 0;
    unsigned int block_waiting = 0;  // threads waiting at __syncthreads*
    BlockSync sync_mode = BlockSync::plain;
    int sync_result = 0;
    // One bit per lane, one word per warp.
    std::uint32_t live_mask[kMaxWarps];
    std::uint32_t runnable[kMaxWarps];  // includes the running fiber
    std::uint32_t block_wait[kMaxWarps];
    std::uint32_t warp_wait[kMaxWarps];
};

namespace {

using State = BlockRunner::State;

__thread State* current = nullptr;

Fiber* next_runnable(State& s, unsigned int after) {
    const unsigned int w0 = after >> 5, l0 = after & 31u;
    std::uint32_t m = l0 == 31 ? 0u : s.runnable[w0] & (~0u << (l0 + 1));
    if (m) return &s.fibers[(w0 << 5) + static_cast<unsigned int>(__builtin_ctz(m))];
    unsigned int w = w0;
    for (unsigned int k = 0; k < s.nwarps; ++k) {
        w = w + 1 == s.nwarps ? 0 : w + 1;
        if (s.runnable[w])
            return &s.fibers[(w << 5) + static_cast<unsigned int>(__builtin_ctz(s.runnable[w]))];
    }
    return nullptr;
}

// `f` has stopped being runnable: pass the OS thread on. Returns once `f`
// is released and scheduled again.
void yield_from(State& s, Fiber* f) {
    Fiber* next = next_runnable(s, f->index);
    if (next == f) return;
    if (next) {
        s.running = next;
        current_thread = &next->coords;
        context_switch(&f->ctx, &next->ctx);
    } else {
        context_switch(&f->ctx, &s.scheduler);
    }
}

[[noreturn]] void fail(State& s, Fiber* f, const std::string& what) {
    s.error = std::make_exception_ptr(std::runtime_error(what));
    context_switch(&f->ctx, &s.scheduler);
    __builtin_unreachable();  // the scheduler abandons this block
}

std::string block_name(const State& s) {
    const uint3 b = s.coords->block_idx;
    return "block (" + std::to_string(b.x) + "," + std::to_string(b.y) + "," + std::to_string(b.z) + ")";
}

std::string hex(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

void release_block(State& s) {
    if (s.sync_mode != BlockSync::plain) {
        unsigned int count = 0;
        for (unsigned int w = 0; w < s.nwarps; ++w)
            for (std::uint32_t m = s.block_wait[w]; m; m &= m - 1)
                count += s.fibers[(w << 5) + static_cast<unsigned int>(__builtin_ctz(m))].predicate != 0;
        switch (s.sync_mode) {
            case BlockSync::count: s.sync_result = static_cast<int>(count); break;
            case BlockSync::all: s.sync_result = count == s.block_waiting; break;
            case BlockSync::any: s.sync_result = count != 0; break;
            case BlockSync::plain: break;
        }
    }
    for (unsigned int w = 0; w < s.nwarps; ++w) {
        s.runnable[w] |= s.block_wait[w];
        s.block_wait[w] = 0;
    }
    s.block_waiting = 0;
}

// Releases every group of warp `w` whose participating lanes (those named in
// the mask and not returned) have all arrived. `f` is the fiber running.
void release_warp(State& s, Fiber* f, unsigned int w) {
    Fiber* lanes = &s.fibers[w << 5];
    std::uint32_t pending = s.warp_wait[w];
    while (pending) {
        const unsigned int l = static_cast<unsigned int>(__builtin_ctz(pending));
        const Fiber& lead = lanes[l];
        const std::uint32_t group = lead.mask & s.live_mask[w];
        pending &= ~group & ~(1u << l);
        if (group & ~s.warp_wait[w]) continue;  // someone still on the way
        for (std::uint32_t m = group; m; m &= m - 1) {
            const Fiber& g = lanes[__builtin_ctz(m)];
            if ((g.mask & s.live_mask[w]) != group || g.op != lead.op)
                fail(s, f,
                     "simt: inconsistent warp-level operation in " + block_name(s) + ", warp " +
                         std::to_string(w) + ": lane " + std::to_string(l) + " is at " +
                         warp_op_name(lead.op) + " with mask " + hex(lead.mask) + " while lane " +
                         std::to_string(g.coords.lane) + " is at " + warp_op_name(g.op) +
                         " with mask " + hex(g.mask));
        }
        if (lead.op == WarpOp::exchange) {
            for (std::uint32_t m = group; m; m &= m - 1) {
                Fiber& g = lanes[__builtin_ctz(m)];
                g.result = (g.src < 32 && ((group >> g.src) & 1u)) ? lanes[g.src].value : g.value;
            }
        } else if (lead.op == WarpOp::vote) {
            std::uint32_t ballot = 0;
            for (std::uint32_t m = group; m; m &= m - 1) {
                const unsigned int j = static_cast<unsigned int>(__builtin_ctz(m));
                if (lanes[j].predicate) ballot |= 1u << j;
            }
            const std::uint64_t r = ballot | (static_cast<std::uint64_t>(group) << 32);
            for (std::uint32_t m = group; m; m &= m - 1) lanes[__builtin_ctz(m)].result = r;
        }
        s.warp_wait[w] &= ~group;
        s.runnable[w] |= group;
    }
}

std::uint64_t warp_op(WarpOp op, unsigned int mask, std::uint64_t value, unsigned int src,
                      int predicate) {
    State& s = *current;
    Fiber* f = s.running;
    const unsigned int w = f->index >> 5;
    const std::uint32_t bit = 1u << (f->index & 31u);
    f->op = op;
    f->mask = mask | bit;
    f->value = value;
    f->src = src;
    f->predicate = predicate;
    s.runnable[w] &= ~bit;
    s.warp_wait[w] |= bit;
    release_warp(s, f, w);
    if (!(s.runnable[w] & bit)) yield_from(s, f);
    return f->result;
}

[[noreturn]] void finish(State& s, Fiber* f) {
    const unsigned int w = f->index >> 5;
    const std::uint32_t bit = 1u << (f->index & 31u);
    --s.live;
    s.live_mask[w] &= ~bit;
    s.runnable[w] &= ~bit;
    // A returned thread no longer holds back the barriers it would have met.
    if (s.block_waiting && s.block_waiting == s.live) release_block(s);
    if (s.warp_wait[w]) release_warp(s, f, w);
    yield_from(s, f);
    __builtin_unreachable();  // never scheduled again
}

void fiber_entry(void* arg) {
    context_started();
    Fiber* f = static_cast<Fiber*>(arg);
    State& s = *current;
    try {
        (*s.body)();
    } catch (...) {
        s.error = std::current_exception();
    }
    // Switch only after leaving the handler: a handler left suspended would
    // stay on this OS thread's list of exceptions being handled.
    if (s.error) context_switch(&f->ctx, &s.scheduler);
    finish(s, f);
}

std::string deadlock_message(const State& s) {
    std::string msg = "simt: deadlock in " + block_name(s) + ": of " + std::to_string(s.nthreads) +
                      " threads, " + std::to_string(s.nthreads - s.live) + " returned, " +
                      std::to_string(s.block_waiting) + " wait at __syncthreads";
    unsigned int at_warp = 0;
    std::string detail;
    for (unsigned int w = 0; w < s.nwarps; ++w) {
        if (!s.warp_wait[w]) continue;
        at_warp += static_cast<unsigned int>(__builtin_popcount(s.warp_wait[w]));
        const Fiber& lead = s.fibers[(w << 5) + static_cast<unsigned int>(__builtin_ctz(s.warp_wait[w]))];
        detail += "; warp " + std::to_string(w) + ": lanes " + hex(s.warp_wait[w]) + " wait at " +
                  warp_op_name(lead.op) + " with mask " + hex(lead.mask) + ", lanes " +
                  hex(s.block_wait[w]) + " at __syncthreads";
    }
    msg += ", " + std::to_string(at_warp) + " wait at warp-level operations" + detail +
           " (every barrier must be reached by all threads it names that have not returned)";
    return msg;
}

}  // namespace

BlockRunner::BlockRunner() : state_(new State) {}
BlockRunner::~BlockRunner() = default;

void BlockRunner::run(const BlockCoords* coords, const std::function<void()>& body) {
    State& s = *state_;
    const dim3 dim = coords->block_dim;
    s.nthreads = dim.x * dim.y * dim.z;
    s.nwarps = (s.nthreads + 31) / 32;
    s.live = s.nthreads;
    s.block_waiting = 0;
    s.sync_mode = BlockSync::plain;
    s.coords = coords;
    s.body = &body;
    s.error = nullptr;
    s.stacks.reserve(s.nthreads);
    for (unsigned int w = 0; w < s.nwarps; ++w) {
        const unsigned int lanes = s.nthreads - (w << 5);
        s.live_mask[w] = lanes >= 32 ? ~0u : (1u << lanes) - 1;
        s.runnable[w] = s.live_mask[w];
        s.block_wait[w] = 0;
        s.warp_wait[w] = 0;
    }
    for (unsigned int i = 0; i < s.nthreads; ++i) {
        Fiber& f = s.fibers[i];
        f.index = i;
        f.coords.thread_idx = uint3{i % dim.x, (i / dim.x) % dim.y, i / (dim.x * dim.y)};
        f.coords.lane = i & 31u;
        // Stacks are a multiple of the page size apart, so their tops would all
        // fall into the same cache sets; shifting each top by a few cache lines
        // keeps the fibers' hot frames from evicting one another.
        const std::size_t color = (i % 256) * 64;
        context_init(&f.ctx, s.stacks.stack(i), FiberStacks::kStackBytes - color, &fiber_entry, &f);
    }

    current = &s;
    current_block = coords;
    s.running = &s.fibers[0];
    current_thread = &s.fibers[0].coords;
    context_switch(&s.scheduler, &s.fibers[0].ctx);
    current = nullptr;
    current_thread = nullptr;
    current_block = nullptr;

    if (s.error) std::rethrow_exception(std::exchange(s.error, nullptr));
    if (s.live) throw std::runtime_error(deadlock_message(s));
}

bool inside_block() { return current != nullptr; }

int block_sync(BlockSync mode, int predicate) {
    State& s = *current;
    Fiber* f = s.running;
    const unsigned int w = f->index >> 5;
    const std::uint32_t bit = 1u << (f->index & 31u);
    if (s.block_waiting == 0)
        s.sync_mode = mode;
    else if (s.sync_mode != mode)
        fail(s, f, "simt: threads of " + block_name(s) +
                       " wait at different kinds of __syncthreads (plain/_count/_and/_or)");
    f->predicate = predicate;
    s.runnable[w] &= ~bit;
    s.block_wait[w] |= bit;
    if (++s.block_waiting == s.live)
        release_block(s);
    else
        yield_from(s, f);
    return s.sync_result;
}

void warp_sync(unsigned int mask) { warp_op(WarpOp::sync, mask, 0, 0, 0); }

std::uint64_t warp_exchange(unsigned int mask, std::uint64_t bits, unsigned int src_lane) {
    return warp_op(WarpOp::exchange, mask, bits, src_lane, 0);
}

std::uint64_t warp_vote(unsigned int mask, int predicate) {
    return warp_op(WarpOp::vote, mask, 0, 0, predicate);
}

unsigned int active_mask() {
    const State& s = *current;
    return s.live_mask[s.running->index >> 5];
}

}  // namespace detail
}  // namespace simt
