// float32 activations with AVX2 + FMA (8 lanes): the templates of
// activation_simd.h; 2^n is applied as two exponent-field multiplies so that
// results between 2^-150 and 2^128 neither overflow nor flush early.
#include <immintrin.h>

#include "activation_kernels.h"
#include "activation_simd.h"

namespace pk {
namespace {

struct Avx2Ops {
    typedef float V __attribute__((vector_size(32)));
    typedef int32_t VI __attribute__((vector_size(32)));
    static V fma(V a, V b, V c) { return (V)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c); }
    static V round(V x) {
        return (V)_mm256_round_ps((__m256)x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    static V pow2(VI k) {  // 2^k for k in [-126, 127]
        const VI bits = (k + 127) << 23;
        return (V)bits;
    }
    static V scale(V p, V n) {
        const VI k = __builtin_convertvector(n, VI);
        const VI k1 = k >> 1;
        return p * pow2(k1) * pow2(k - k1);
    }
    static bool any(VI m) { return _mm256_movemask_ps((__m256)m) != 0; }
};

}  // namespace

bool activation_forward_avx2(Act a, const ActParams<float>& p, const float* x, float* y,
                             int64_t n) {
    return simd_act::forward<Avx2Ops>(a, p, x, y, n);
}

bool activation_backward_avx2(Act a, const ActParams<float>& p, const float* g, const float* x,
                              float* gx, int64_t n) {
    return simd_act::backward<Avx2Ops>(a, p, g, x, gx, n);
}

}  // namespace pk
