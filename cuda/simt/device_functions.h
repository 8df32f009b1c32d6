// Device math, bit and conversion functions kernels may call, as host code.
#pragma once

#include <math.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

// glibc's math.h already declares __expf, __logf, ... as its own internal
// entry points, so CUDA's fast-math names are function-like macros instead of
// functions. The emulator computes them exactly (CUDA's are approximations).
#define __expf(x) expf(x)
#define __exp10f(x) exp10f(x)
#define __logf(x) logf(x)
#define __log2f(x) log2f(x)
#define __log10f(x) log10f(x)
#define __powf(x, y) powf(x, y)
#define __sinf(x) sinf(x)
#define __cosf(x) cosf(x)
#define __tanf(x) tanf(x)

namespace simt {
namespace math {
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
}  // namespace math
}  // namespace simt
// C23 adds rsqrt/rsqrtf to math.h; newer glibc may declare them, so route
// kernels' calls to the emulator's own versions rather than redefine them.
#define rsqrtf(x) ::simt::math::rsqrtf(x)
#define rsqrt(x) ::simt::math::rsqrt(x)

inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x == x ? x : 0.0f)); }

inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline int __float2int_rd(float x) { return static_cast<int>(std::floor(x)); }
inline int __float2int_ru(float x) { return static_cast<int>(std::ceil(x)); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }

namespace simt {
namespace detail {
template <class To, class From>
inline To bit_cast(From v) {
    static_assert(sizeof(To) == sizeof(From), "bit_cast size");
    To r;
    std::memcpy(&r, &v, sizeof r);
    return r;
}
}  // namespace detail
}  // namespace simt

inline int __float_as_int(float x) { return simt::detail::bit_cast<int>(x); }
inline unsigned int __float_as_uint(float x) { return simt::detail::bit_cast<unsigned int>(x); }
inline float __int_as_float(int x) { return simt::detail::bit_cast<float>(x); }
inline float __uint_as_float(unsigned int x) { return simt::detail::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return simt::detail::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return simt::detail::bit_cast<double>(x); }

inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned int>(x)); }
inline int __clzll(long long x) {
    return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x));
}
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned int __brev(unsigned int x) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    return __builtin_bswap32(x);
}
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return static_cast<unsigned int>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline int __mulhi(int a, int b) {
    return static_cast<int>((static_cast<long long>(a) * b) >> 32);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    __extension__ typedef unsigned __int128 u128;
    return static_cast<unsigned long long>((static_cast<u128>(a) * b) >> 64);
}
inline int __mul24(int a, int b) {
    // Only the low 24 bits of each operand take part, as on the hardware.
    auto low24 = [](int v) { return static_cast<int>(static_cast<unsigned int>(v) << 8) >> 8; };
    return static_cast<int>(static_cast<long long>(low24(a)) * low24(b));
}
inline unsigned int __umul24(unsigned int a, unsigned int b) {
    return (a & 0xffffffu) * (b & 0xffffffu);
}

template <class T>
inline T __ldg(const T* p) {
    return *p;
}

// CUDA's global min/max accept any mix of arithmetic types (int with
// unsigned, float with double); floating-point ones follow fminf/fmaxf and
// return the other operand when one is NaN.
template <class A, class B,
          class = std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value>>
inline std::common_type_t<A, B> min(A a, B b) {
    using C = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point<C>::value)
        return std::fmin(static_cast<C>(a), static_cast<C>(b));
    else
        return static_cast<C>(b) < static_cast<C>(a) ? static_cast<C>(b) : static_cast<C>(a);
}
template <class A, class B,
          class = std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value>>
inline std::common_type_t<A, B> max(A a, B b) {
    using C = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point<C>::value)
        return std::fmax(static_cast<C>(a), static_cast<C>(b));
    else
        return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}
