// CUDA atomics as real atomics between OS threads: blocks of one launch run
// in parallel, so device-wide atomics must be atomic on the host too.
// Sequentially consistent everywhere, which is at least as strong as CUDA's
// relaxed atomics plus __threadfence.
#pragma once

#include <cstring>
#include <type_traits>

namespace simt {
namespace detail {

template <class T>
inline T atomic_fetch_update(T* address, T (*op)(T, T), T val) {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "atomic operand size");
    using Bits = std::conditional_t<sizeof(T) == 4, unsigned int, unsigned long long>;
    Bits* p = reinterpret_cast<Bits*>(address);
    Bits expected = __atomic_load_n(p, __ATOMIC_RELAXED);
    for (;;) {
        T old;
        std::memcpy(&old, &expected, sizeof old);
        T updated = op(old, val);
        Bits desired;
        std::memcpy(&desired, &updated, sizeof desired);
        if (__atomic_compare_exchange_n(p, &expected, desired, true, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED))
            return old;
    }
}

template <class T> inline T op_add(T a, T b) { return a + b; }
template <class T> inline T op_max(T a, T b) { return a < b ? b : a; }
template <class T> inline T op_min(T a, T b) { return b < a ? b : a; }

}  // namespace detail
}  // namespace simt

#define SIMT_ATOMIC_INTEGER(T)                                                        \
    inline T atomicAdd(T* a, T v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); } \
    inline T atomicSub(T* a, T v) { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); } \
    inline T atomicAnd(T* a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); } \
    inline T atomicOr(T* a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); }   \
    inline T atomicXor(T* a, T v) { return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST); } \
    inline T atomicExch(T* a, T v) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); } \
    inline T atomicCAS(T* a, T compare, T v) {                                        \
        __atomic_compare_exchange_n(a, &compare, v, false, __ATOMIC_SEQ_CST,          \
                                    __ATOMIC_SEQ_CST);                                \
        return compare;                                                               \
    }                                                                                 \
    inline T atomicMax(T* a, T v) {                                                   \
        return simt::detail::atomic_fetch_update<T>(a, simt::detail::op_max<T>, v);   \
    }                                                                                 \
    inline T atomicMin(T* a, T v) {                                                   \
        return simt::detail::atomic_fetch_update<T>(a, simt::detail::op_min<T>, v);   \
    }

SIMT_ATOMIC_INTEGER(int)
SIMT_ATOMIC_INTEGER(unsigned int)
SIMT_ATOMIC_INTEGER(long long)
SIMT_ATOMIC_INTEGER(unsigned long long)
#undef SIMT_ATOMIC_INTEGER

inline float atomicAdd(float* a, float v) {
    return simt::detail::atomic_fetch_update<float>(a, simt::detail::op_add<float>, v);
}
inline double atomicAdd(double* a, double v) {
    return simt::detail::atomic_fetch_update<double>(a, simt::detail::op_add<double>, v);
}
inline float atomicExch(float* a, float v) {
    return simt::detail::bit_cast<float>(
        __atomic_exchange_n(reinterpret_cast<unsigned int*>(a), simt::detail::bit_cast<unsigned int>(v),
                            __ATOMIC_SEQ_CST));
}
// CUDA's wrap-around counters.
inline unsigned int atomicInc(unsigned int* a, unsigned int limit) {
    return simt::detail::atomic_fetch_update<unsigned int>(
        a, [](unsigned int old, unsigned int lim) { return old >= lim ? 0u : old + 1; }, limit);
}
inline unsigned int atomicDec(unsigned int* a, unsigned int limit) {
    return simt::detail::atomic_fetch_update<unsigned int>(
        a, [](unsigned int old, unsigned int lim) { return (old == 0 || old > lim) ? lim : old - 1; },
        limit);
}

inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
// A block's threads share one OS thread, so only the compiler must not reorder.
inline void __threadfence_block() { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
