// float32 activations with AVX-512 (16 lanes): the templates of
// activation_simd.h with scalef for 2^n (exact overflow and underflow).
#include <immintrin.h>

#include "activation_kernels.h"
#include "activation_simd.h"

namespace pk {
namespace {

struct Avx512Ops {
    typedef float V __attribute__((vector_size(64)));
    typedef int32_t VI __attribute__((vector_size(64)));
    static V fma(V a, V b, V c) { return (V)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c); }
    // The masked forms (all lanes) avoid GCC 12's -Wmaybe-uninitialized on the
    // unmasked intrinsics' undefined pass-through operand.
    static V round(V x) {
        return (V)_mm512_mask_roundscale_ps((__m512)x, 0xffff, (__m512)x,
                                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    static V scale(V p, V n) {
        return (V)_mm512_mask_scalef_ps((__m512)p, 0xffff, (__m512)p, (__m512)n);
    }
    static bool any(VI m) { return _mm512_movepi32_mask((__m512i)m) != 0; }
};

}  // namespace

bool activation_forward_avx512(Act a, const ActParams<float>& p, const float* x, float* y,
                               int64_t n) {
    return simd_act::forward<Avx512Ops>(a, p, x, y, n);
}

bool activation_backward_avx512(Act a, const ActParams<float>& p, const float* g,
                                const float* x, float* gx, int64_t n) {
    return simd_act::backward<Avx512Ops>(a, p, g, x, gx, n);
}

}  // namespace pk
