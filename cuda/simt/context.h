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

// AddressSanitizer keeps shadow state per stack; every switch between stacks
// is announced to it, or it mistakes fiber frames for overflows of the OS
// thread's stack (and unpoisons the wrong range when an exception unwinds).
#if defined(__SANITIZE_ADDRESS__)
#define SIMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIMT_ASAN 1
#endif
#endif

namespace simt {
namespace detail {

struct Context {
#if defined(SIMT_UCONTEXT)
    ucontext_t uc;
#else
    void* sp = nullptr;
#endif
#if defined(SIMT_ASAN)
    // The stack this context runs on (learnt from the sanitizer for the OS
    // thread's own stack) and the sanitizer's fake frames while suspended.
    const void* stack_bottom = nullptr;
    std::size_t stack_size = 0;
    void* fake_stack = nullptr;
#endif
};

// Makes `ctx` start `entry(arg)` on the stack [stack, stack + size) when first
// switched to. `entry` must never return.
void context_init(Context* ctx, void* stack, std::size_t size, void (*entry)(void*), void* arg);

// Saves the running context into `from` and resumes `to`.
void context_switch(Context* from, Context* to);

// The first thing a fresh context's entry function calls (completes the
// sanitizer's view of the switch into it; nothing otherwise).
void context_started();

}  // namespace detail
}  // namespace simt
