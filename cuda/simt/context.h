// Minimal execution contexts for fibers.
//
// glibc's swapcontext saves and restores the signal mask with a system call
// on every switch, which dominates barrier-heavy kernels; on x86-64 a switch
// here saves only what the calling convention says a callee must preserve.
#pragma once

#include <cstddef>

#if !defined(__x86_64__) || defined(SIMT_USE_UCONTEXT)
#define SIMT_UCONTEXT 1
#include <ucontext.h>
#endif

namespace simt {
namespace detail {

struct Context {
#if defined(SIMT_UCONTEXT)
    ucontext_t uc;
#else
    void* sp = nullptr;
#endif
};

// Makes `ctx` start `entry(arg)` on the stack [stack, stack + size) when first
// switched to. `entry` must never return.
void context_init(Context* ctx, void* stack, std::size_t size, void (*entry)(void*), void* arg);

// Saves the running context into `from` and resumes `to`.
void context_switch(Context* from, Context* to);

}  // namespace detail
}  // namespace simt
