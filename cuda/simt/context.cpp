#include "context.h"

#include <cstdint>
#include <cstdlib>

#if defined(SIMT_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace simt {
namespace detail {

#if defined(SIMT_ASAN)
namespace {
// The context being left by the switch in progress on this OS thread: the
// side that resumes records that context's stack bounds as the sanitizer
// reports them (the only way to learn the OS thread's own stack).
thread_local Context* leaving = nullptr;

void announce_switch(Context* from, Context* to) {
    leaving = from;
    __sanitizer_start_switch_fiber(&from->fake_stack, to->stack_bottom, to->stack_size);
}

void complete_switch(void* fake_stack) {
    const void* bottom = nullptr;
    std::size_t size = 0;
    __sanitizer_finish_switch_fiber(fake_stack, &bottom, &size);
    if (leaving) {
        leaving->stack_bottom = bottom;
        leaving->stack_size = size;
    }
}
}  // namespace

void context_started() { complete_switch(nullptr); }
#else
void context_started() {}
#endif

// Records the stack of a fresh context for the sanitizer; nothing otherwise.
// Stacks are reused by later blocks, and a fiber abandoned mid-kernel (a
// failed launch) leaves its frames' redzones poisoned: they are cleared, or
// the next fiber on that stack would be reported for touching its own frames.
static void remember_stack(Context* ctx, void* stack, std::size_t size) {
#if defined(SIMT_ASAN)
    ASAN_UNPOISON_MEMORY_REGION(stack, size);
    ctx->stack_bottom = stack;
    ctx->stack_size = size;
    ctx->fake_stack = nullptr;
#else
    (void)ctx, (void)stack, (void)size;
#endif
}

}  // namespace detail
}  // namespace simt

#if !defined(SIMT_UCONTEXT)

// simt_context_switch(void** save_sp, void* new_sp): pushes the callee-saved
// registers and the SSE/x87 control words (a kernel may change rounding), saves
// the stack pointer, then pops the same from the other stack. Loading MXCSR is
// slow, so the control words are loaded only when they differ; MXCSR's sticky
// exception flags are not preserved.
// simt_context_start: where a fresh context's first switch "returns" to; the
// initial frame leaves the argument in r12 and the entry point in r13.
asm(R"(
    .text
    .p2align 4
    .globl simt_context_switch
    .hidden simt_context_switch
    .type simt_context_switch, @function
simt_context_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movl (%rsp), %eax
    andl $0xffffffc0, %eax
    movl %eax, (%rsp)
    movzwl 4(%rsp), %ecx
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    cmpl (%rsp), %eax
    jne 2f
    cmpw 4(%rsp), %cx
    jne 2f
1:
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
2:
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    jmp 1b
    .size simt_context_switch, .-simt_context_switch

    .p2align 4
    .globl simt_context_start
    .hidden simt_context_start
    .type simt_context_start, @function
simt_context_start:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size simt_context_start, .-simt_context_start
)");

extern "C" void simt_context_switch(void** save_sp, void* new_sp);
extern "C" void simt_context_start();

namespace simt {
namespace detail {

void context_init(Context* ctx, void* stack, std::size_t size, void (*entry)(void*), void* arg) {
    remember_stack(ctx, stack, size);
    auto top = (reinterpret_cast<std::uintptr_t>(stack) + size) & ~std::uintptr_t{15};
    // After the switch's `ret`, rsp = top - 16, 16-byte aligned as the ABI
    // requires before simt_context_start's call.
    auto* frame = reinterpret_cast<std::uint64_t*>(top - 80);
    std::uint32_t mxcsr;
    std::uint16_t fpucw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpucw));
    frame[0] = static_cast<std::uint64_t>(mxcsr & ~0x3fu) | (static_cast<std::uint64_t>(fpucw) << 32);
    frame[1] = 0;                                                  // r15
    frame[2] = 0;                                                  // r14
    frame[3] = reinterpret_cast<std::uint64_t>(entry);             // r13
    frame[4] = reinterpret_cast<std::uint64_t>(arg);               // r12
    frame[5] = 0;                                                  // rbx
    frame[6] = 0;                                                  // rbp
    frame[7] = reinterpret_cast<std::uint64_t>(&simt_context_start);  // return address
    frame[8] = 0;  // fake return address of simt_context_start, for debuggers
    ctx->sp = frame;
}

void context_switch(Context* from, Context* to) {
#if defined(SIMT_ASAN)
    announce_switch(from, to);
    simt_context_switch(&from->sp, to->sp);
    complete_switch(from->fake_stack);
#else
    simt_context_switch(&from->sp, to->sp);
#endif
}

}  // namespace detail
}  // namespace simt

#else  // portable fallback

namespace simt {
namespace detail {

namespace {
// makecontext passes int arguments only, so pointers travel in two halves.
void ucontext_entry(unsigned int entry_hi, unsigned int entry_lo, unsigned int arg_hi,
                    unsigned int arg_lo) {
    auto join = [](unsigned int hi, unsigned int lo) {
        return static_cast<std::uintptr_t>((static_cast<std::uint64_t>(hi) << 32) | lo);
    };
    auto entry = reinterpret_cast<void (*)(void*)>(join(entry_hi, entry_lo));
    entry(reinterpret_cast<void*>(join(arg_hi, arg_lo)));
    std::abort();  // entry never returns
}
}  // namespace

void context_init(Context* ctx, void* stack, std::size_t size, void (*entry)(void*), void* arg) {
    remember_stack(ctx, stack, size);
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = stack;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = nullptr;
    auto e = reinterpret_cast<std::uintptr_t>(entry);
    auto a = reinterpret_cast<std::uintptr_t>(arg);
    makecontext(&ctx->uc, reinterpret_cast<void (*)()>(&ucontext_entry), 4,
                static_cast<unsigned int>(static_cast<std::uint64_t>(e) >> 32),
                static_cast<unsigned int>(e), static_cast<unsigned int>(static_cast<std::uint64_t>(a) >> 32),
                static_cast<unsigned int>(a));
}

void context_switch(Context* from, Context* to) {
#if defined(SIMT_ASAN)
    announce_switch(from, to);
    swapcontext(&from->uc, &to->uc);
    complete_switch(from->fake_stack);
#else
    swapcontext(&from->uc, &to->uc);
#endif
}

}  // namespace detail
}  // namespace simt

#endif
