// AVX2 GEMM kernels: the templates of kernel_impl.h on 256-bit vectors, and
// this instruction set's entry of the kernel table (config.h). fp32 tile 6x16
// and fp64 tile 6x8 (6 broadcast rows x 2 ymm = 12 accumulators of the 16 ymm
// registers, as in BLIS's Haswell kernels); B~ blocks of 1 MiB for a 1+ MiB L2.
// Compiled with -mavx2 -mfma.
#include <immintrin.h>

#include "config.h"
#include "kernel_impl.h"

namespace pk {
namespace {

struct Avx2F32 {
    using T = float;
    using V = __m256;
    using M = __m256i;
    static constexpr int W = 8;
    static V zero() { return _mm256_setzero_ps(); }
    static V set1(T x) { return _mm256_set1_ps(x); }
    static V load(const T* p) { return _mm256_loadu_ps(p); }
    static V load_mask(const T* p, M m) { return _mm256_maskload_ps(p, m); }
    static V bcast(const T* p) { return _mm256_broadcast_ss(p); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
    static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
    static void store_mask(T* p, V v, M m) { _mm256_maskstore_ps(p, m, v); }
    static M mask(int64_t n) {
        const int k = n <= 0 ? 0 : n >= W ? W : static_cast<int>(n);
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static T reduce(V v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    // out[0..3] = lane sums of a, b, c, d (as the AVX-512 version, two lanes).
    static void reduce4(V a, V b, V c, V d, T* out) {
        const V ab = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
        const V cd = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
        const V abcd = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
        _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
    }
};

struct Avx2F64 {
    using T = double;
    using V = __m256d;
    using M = __m256i;
    static constexpr int W = 4;
    static V zero() { return _mm256_setzero_pd(); }
    static V set1(T x) { return _mm256_set1_pd(x); }
    static V load(const T* p) { return _mm256_loadu_pd(p); }
    static V load_mask(const T* p, M m) { return _mm256_maskload_pd(p, m); }
    static V bcast(const T* p) { return _mm256_broadcast_sd(p); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
    static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
    static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
    static void store_mask(T* p, V v, M m) { _mm256_maskstore_pd(p, m, v); }
    static M mask(int64_t n) {
        const int64_t k = n <= 0 ? 0 : n >= W ? W : n;
        return _mm256_cmpgt_epi64(_mm256_set1_epi64x(k), _mm256_setr_epi64x(0, 1, 2, 3));
    }
    static T reduce(V v) {
        __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
        s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
        return _mm_cvtsd_f64(s);
    }
    static void reduce4(V a, V b, V c, V d, T* out) {
        const V ab = _mm256_add_pd(_mm256_unpacklo_pd(a, b), _mm256_unpackhi_pd(a, b));
        const V cd = _mm256_add_pd(_mm256_unpacklo_pd(c, d), _mm256_unpackhi_pd(c, d));
        // ab = (a01, b01, a23, b23): swap the halves of the pair and add.
        const V lo = _mm256_permute2f128_pd(ab, cd, 0x20), hi = _mm256_permute2f128_pd(ab, cd, 0x31);
        _mm256_storeu_pd(out, _mm256_add_pd(lo, hi));
    }
};

constexpr int kMR = 6, kNV = 2;

void sgemm_avx2_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                     float alpha, float beta, int mr, int nr) {
    ukernel_packed<Avx2F32, kMR, kNV>(kc, a, b, c, ldc, alpha, beta, mr, nr);
}
void sgemm_avx2_6x16_direct(int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                            const float* b, int64_t ldb, float* c, int64_t ldc, float alpha,
                            float beta, int mr, int nr) {
    ukernel_direct<Avx2F32, kMR, kNV>(k, a, a_rs, a_cs, b, ldb, c, ldc, alpha, beta, mr, nr);
}
void sgemm_avx2_dot_3x4(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                        float* c, int64_t ldc, float alpha, float beta, int mr, int nr) {
    dot_kernel<Avx2F32, 3, 4>(k, a, lda, b, ldb, c, ldc, alpha, beta, mr, nr);
}
void sgemm_avx2_pack_a(bool trans, const float* a, int64_t lda, int64_t i0, int64_t mc,
                       int64_t p0, int64_t kc, float* dst) {
    pack_a<float, kMR>(trans, a, lda, i0, mc, p0, kc, dst);
}
void sgemm_avx2_pack_b(bool trans, const float* b, int64_t ldb, int64_t p0, int64_t kc,
                       int64_t j0, int64_t nc, float* dst) {
    pack_b<float, kNV * 8>(trans, b, ldb, p0, kc, j0, nc, dst);
}

void dgemm_avx2_6x8(int64_t kc, const double* a, const double* b, double* c, int64_t ldc,
                    double alpha, double beta, int mr, int nr) {
    ukernel_packed<Avx2F64, kMR, kNV>(kc, a, b, c, ldc, alpha, beta, mr, nr);
}
void dgemm_avx2_6x8_direct(int64_t k, const double* a, int64_t a_rs, int64_t a_cs,
                           const double* b, int64_t ldb, double* c, int64_t ldc, double alpha,
                           double beta, int mr, int nr) {
    ukernel_direct<Avx2F64, kMR, kNV>(k, a, a_rs, a_cs, b, ldb, c, ldc, alpha, beta, mr, nr);
}
void dgemm_avx2_dot_3x4(int64_t k, const double* a, int64_t lda, const double* b, int64_t ldb,
                        double* c, int64_t ldc, double alpha, double beta, int mr, int nr) {
    dot_kernel<Avx2F64, 3, 4>(k, a, lda, b, ldb, c, ldc, alpha, beta, mr, nr);
}
void dgemm_avx2_pack_a(bool trans, const double* a, int64_t lda, int64_t i0, int64_t mc,
                       int64_t p0, int64_t kc, double* dst) {
    pack_a<double, kMR>(trans, a, lda, i0, mc, p0, kc, dst);
}
void dgemm_avx2_pack_b(bool trans, const double* b, int64_t ldb, int64_t p0, int64_t kc,
                       int64_t j0, int64_t nc, double* dst) {
    pack_b<double, kNV * 4>(trans, b, ldb, p0, kc, j0, nc, dst);
}

}  // namespace

const GemmKernels<float>& sgemm_kernels_avx2() {
    static const GemmKernels<float> k{"sgemm_avx2_6x16",
                                      kMR, kNV * 8,
                                      /*mc=*/168, /*kc=*/256, /*nc=*/1024,
                                      3, 4,
                                      sgemm_avx2_6x16, sgemm_avx2_6x16_direct,
                                      sgemm_avx2_dot_3x4, sgemm_avx2_pack_a, sgemm_avx2_pack_b};
    return k;
}

const GemmKernels<double>& dgemm_kernels_avx2() {
    static const GemmKernels<double> k{"dgemm_avx2_6x8",
                                       kMR, kNV * 4,
                                       /*mc=*/72, /*kc=*/256, /*nc=*/512,
                                       3, 4,
                                       dgemm_avx2_6x8, dgemm_avx2_6x8_direct,
                                       dgemm_avx2_dot_3x4, dgemm_avx2_pack_a, dgemm_avx2_pack_b};
    return k;
}

double fma_loop_avx2(int64_t iters) { return fma_loop<Avx2F32, 12>(iters); }

}  // namespace pk
