// AVX-512 GEMM kernels: the templates of kernel_impl.h instantiated on 512-bit
// vectors, and this instruction set's entry of the kernel table (config.h).
// fp32 tile 12x32 (12 broadcast rows x 2 zmm of columns = 24 accumulators) and
// fp64 tile 12x16: 24 FMAs per 14 loads each k step, enough independent chains
// to keep both FMA ports busy through the 4-cycle latency. Blocking for
// 48 KiB L1d / 2 MiB L2 (Sapphire Rapids): A~ block MC x KC fills about half of
// L2, the B~ micro-panel KC x NR stays in L1 across the MC/MR kernel calls.
// Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma.
#include <immintrin.h>

#include "config.h"
#include "kernel_impl.h"

namespace pk {
namespace {

struct Avx512F32 {
    using T = float;
    using V = __m512;
    using M = __mmask16;
    static constexpr int W = 16;
    static V zero() { return _mm512_setzero_ps(); }
    static V set1(T x) { return _mm512_set1_ps(x); }
    static V load(const T* p) { return _mm512_loadu_ps(p); }
    static V load_mask(const T* p, M m) { return _mm512_maskz_loadu_ps(m, p); }
    static V bcast(const T* p) { return _mm512_set1_ps(*p); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
    static void store(T* p, V v) { _mm512_storeu_ps(p, v); }
    static void store_mask(T* p, V v, M m) { _mm512_mask_storeu_ps(p, m, v); }
    static M mask(int64_t n) {
        return n <= 0 ? M(0) : n >= W ? M(0xFFFF) : static_cast<M>((1u << n) - 1u);
    }
    static T reduce(V v) { return _mm512_reduce_add_ps(v); }
};

struct Avx512F64 {
    using T = double;
    using V = __m512d;
    using M = __mmask8;
    static constexpr int W = 8;
    static V zero() { return _mm512_setzero_pd(); }
    static V set1(T x) { return _mm512_set1_pd(x); }
    static V load(const T* p) { return _mm512_loadu_pd(p); }
    static V load_mask(const T* p, M m) { return _mm512_maskz_loadu_pd(m, p); }
    static V bcast(const T* p) { return _mm512_set1_pd(*p); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
    static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
    static void store(T* p, V v) { _mm512_storeu_pd(p, v); }
    static void store_mask(T* p, V v, M m) { _mm512_mask_storeu_pd(p, m, v); }
    static M mask(int64_t n) {
        return n <= 0 ? M(0) : n >= W ? M(0xFF) : static_cast<M>((1u << n) - 1u);
    }
    static T reduce(V v) { return _mm512_reduce_add_pd(v); }
};

constexpr int kSMR = 12, kSNV = 2, kDMR = 12, kDNV = 2;

void sgemm_avx512_12x32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                        float alpha, float beta, int mr, int nr) {
    ukernel_packed<Avx512F32, kSMR, kSNV>(kc, a, b, c, ldc, alpha, beta, mr, nr);
}
void sgemm_avx512_12x32_direct(int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                               const float* b, int64_t ldb, float* c, int64_t ldc, float alpha,
                               float beta, int mr, int nr) {
    ukernel_direct<Avx512F32, kSMR, kSNV>(k, a, a_rs, a_cs, b, ldb, c, ldc, alpha, beta, mr, nr);
}
void sgemm_avx512_dot_4x4(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                          float* c, int64_t ldc, float alpha, float beta, int mr, int nr) {
    dot_kernel<Avx512F32, 4, 4>(k, a, lda, b, ldb, c, ldc, alpha, beta, mr, nr);
}
void sgemm_avx512_pack_a(bool trans, const float* a, int64_t lda, int64_t i0, int64_t mc,
                         int64_t p0, int64_t kc, float* dst) {
    pack_a<float, kSMR>(trans, a, lda, i0, mc, p0, kc, dst);
}
void sgemm_avx512_pack_b(bool trans, const float* b, int64_t ldb, int64_t p0, int64_t kc,
                         int64_t j0, int64_t nc, float* dst) {
    pack_b<float, kSNV * 16>(trans, b, ldb, p0, kc, j0, nc, dst);
}

void dgemm_avx512_12x16(int64_t kc, const double* a, const double* b, double* c, int64_t ldc,
                        double alpha, double beta, int mr, int nr) {
    ukernel_packed<Avx512F64, kDMR, kDNV>(kc, a, b, c, ldc, alpha, beta, mr, nr);
}
void dgemm_avx512_12x16_direct(int64_t k, const double* a, int64_t a_rs, int64_t a_cs,
                               const double* b, int64_t ldb, double* c, int64_t ldc,
                               double alpha, double beta, int mr, int nr) {
    ukernel_direct<Avx512F64, kDMR, kDNV>(k, a, a_rs, a_cs, b, ldb, c, ldc, alpha, beta, mr, nr);
}
void dgemm_avx512_dot_4x4(int64_t k, const double* a, int64_t lda, const double* b, int64_t ldb,
                          double* c, int64_t ldc, double alpha, double beta, int mr, int nr) {
    dot_kernel<Avx512F64, 4, 4>(k, a, lda, b, ldb, c, ldc, alpha, beta, mr, nr);
}
void dgemm_avx512_pack_a(bool trans, const double* a, int64_t lda, int64_t i0, int64_t mc,
                         int64_t p0, int64_t kc, double* dst) {
    pack_a<double, kDMR>(trans, a, lda, i0, mc, p0, kc, dst);
}
void dgemm_avx512_pack_b(bool trans, const double* b, int64_t ldb, int64_t p0, int64_t kc,
                         int64_t j0, int64_t nc, double* dst) {
    pack_b<double, kDNV * 8>(trans, b, ldb, p0, kc, j0, nc, dst);
}

}  // namespace

const GemmKernels<float>& sgemm_kernels_avx512() {
    static const GemmKernels<float> k{"sgemm_avx512_12x32",
                                      kSMR, kSNV * 16,
                                      /*mc=*/480, /*kc=*/256, /*nc=*/3072,
                                      4, 4,
                                      sgemm_avx512_12x32, sgemm_avx512_12x32_direct,
                                      sgemm_avx512_dot_4x4, sgemm_avx512_pack_a,
                                      sgemm_avx512_pack_b};
    return k;
}

const GemmKernels<double>& dgemm_kernels_avx512() {
    static const GemmKernels<double> k{"dgemm_avx512_12x16",
                                       kDMR, kDNV * 8,
                                       /*mc=*/240, /*kc=*/256, /*nc=*/3072,
                                       4, 4,
                                       dgemm_avx512_12x16, dgemm_avx512_12x16_direct,
                                       dgemm_avx512_dot_4x4, dgemm_avx512_pack_a,
                                       dgemm_avx512_pack_b};
    return k;
}

double fma_loop_avx512(int64_t iters) { return fma_loop<Avx512F32, 16>(iters); }

}  // namespace pk
