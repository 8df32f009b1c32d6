// AVX-512 GEMM kernels: the templates of kernel_impl.h instantiated on 512-bit
// vectors, and this instruction set's entry of the kernel table (config.h).
// fp32 tile 12x32 (12 broadcast rows x 2 zmm of columns = 24 accumulators) and
// fp64 tile 12x16: 24 FMAs per 14 loads each k step, enough independent chains
// to keep both FMA ports busy through the 4-cycle latency (12x32 and 14x32
// measured the same; 12 rows pack with whole 16-lane transposes). Blocking for
// 48 KiB L1d / 2 MiB L2 (Sapphire Rapids): the A~ micro-panel KC x MR (12 KiB)
// stays in L1 while the B~ block KC x NC (1 MiB) streams from L2.
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
    // Halving tree written out, with zero-masked extracts: the unmasked ones
    // (and _mm512_reduce_add_ps) trip GCC 12's -Wuninitialized.
    static T reduce(V v) {
        const __m256 h = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xFF, v, 0),
                                       _mm512_maskz_extractf32x8_ps(0xFF, v, 1));
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    // out[0..3] = lane sums of a, b, c, d.
    static void reduce4(V a, V b, V c, V d, T* out) {
        // Within each 128-bit lane: (a0+a2, b0+b2, a1+a3, b1+b3), then the
        // same for c, d, then interleave and add: (a, b, c, d) per lane.
        const V ab = _mm512_add_ps(_mm512_maskz_unpacklo_ps(0xFFFF, a, b),
                                   _mm512_maskz_unpackhi_ps(0xFFFF, a, b));
        const V cd = _mm512_add_ps(_mm512_maskz_unpacklo_ps(0xFFFF, c, d),
                                   _mm512_maskz_unpackhi_ps(0xFFFF, c, d));
        const V abcd = _mm512_add_ps(_mm512_maskz_shuffle_ps(0xFFFF, ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_maskz_shuffle_ps(0xFFFF, ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
        const __m256 h = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xFF, abcd, 0),
                                       _mm512_maskz_extractf32x8_ps(0xFF, abcd, 1));
        _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
    }
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
    static T reduce(V v) {
        const __m256d h = _mm256_add_pd(_mm512_maskz_extractf64x4_pd(0xF, v, 0),
                                        _mm512_maskz_extractf64x4_pd(0xF, v, 1));
        __m128d s = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
        s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
        return _mm_cvtsd_f64(s);
    }
    static void reduce4(V a, V b, V c, V d, T* out) {
        // Per 128-bit lane (a0+a1, b0+b1), (c0+c1, d0+d1); then the four lanes.
        const V ab = _mm512_add_pd(_mm512_maskz_unpacklo_pd(0xFF, a, b),
                                   _mm512_maskz_unpackhi_pd(0xFF, a, b));
        const V cd = _mm512_add_pd(_mm512_maskz_unpacklo_pd(0xFF, c, d),
                                   _mm512_maskz_unpackhi_pd(0xFF, c, d));
        // Lanes 0+2 and 1+3 of each, then (ab, cd) halves side by side.
        const V s = _mm512_add_pd(_mm512_maskz_shuffle_f64x2(0xFF, ab, cd, 0x88),
                                  _mm512_maskz_shuffle_f64x2(0xFF, ab, cd, 0xdd));
        // s = [ab(0+1), ab(2+3), cd(0+1), cd(2+3)] as 128-bit lanes.
        const __m256d lo = _mm512_maskz_extractf64x4_pd(0xF, s, 0);
        const __m256d hi = _mm512_maskz_extractf64x4_pd(0xF, s, 1);
        _mm_storeu_pd(out, _mm_add_pd(_mm256_castpd256_pd128(lo), _mm256_extractf128_pd(lo, 1)));
        _mm_storeu_pd(out + 2, _mm_add_pd(_mm256_castpd256_pd128(hi), _mm256_extractf128_pd(hi, 1)));
    }
};

// ---------------------------------------------------------------- packing
// Packing a transposed operand (A when op(A) = A, B when op(B) = B^T) turns
// rows contiguous along k into groups of MR / NR values per k index: a
// transpose. In registers it runs 16x16 (fp32) or 8x8 (fp64) at a time, about
// twice as fast as element-by-element copies, which matters for the
// training-sized products where packing is a tenth of the work.

// dst[p * dst_stride + r] = src[r * ld + p] for r < rows (rows >= rows are
// zero), p < kc; `lanes` (<= 16) values are stored per p.
void transpose_pack_f32(const float* src, int64_t ld, int rows, int64_t kc, float* dst,
                        int64_t dst_stride, int lanes) {
    const __mmask16 store_mask = static_cast<__mmask16>((1u << lanes) - 1u);
    int64_t p = 0;
    // Zero-masked forms of the shuffles: same instructions, but the unmasked
    // intrinsics trip GCC 12's -Wmaybe-uninitialized here.
    for (; p + 16 <= kc; p += 16) {
        __m512 r[16], t[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i)
            r[i] = i < rows ? _mm512_loadu_ps(src + i * ld + p) : _mm512_setzero_ps();
#pragma GCC unroll 16
        for (int i = 0; i < 16; i += 2) {
            t[i] = _mm512_maskz_unpacklo_ps(0xFFFF, r[i], r[i + 1]);
            t[i + 1] = _mm512_maskz_unpackhi_ps(0xFFFF, r[i], r[i + 1]);
        }
#pragma GCC unroll 16
        for (int i = 0; i < 16; i += 4) {
            r[i] = _mm512_maskz_shuffle_ps(0xFFFF, t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
            r[i + 1] = _mm512_maskz_shuffle_ps(0xFFFF, t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
            r[i + 2] = _mm512_maskz_shuffle_ps(0xFFFF, t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
            r[i + 3] = _mm512_maskz_shuffle_ps(0xFFFF, t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
        }
#pragma GCC unroll 16
        for (int i = 0; i < 4; ++i) {
            t[i] = _mm512_maskz_shuffle_f32x4(0xFFFF, r[i], r[i + 4], 0x88);
            t[i + 4] = _mm512_maskz_shuffle_f32x4(0xFFFF, r[i], r[i + 4], 0xdd);
            t[i + 8] = _mm512_maskz_shuffle_f32x4(0xFFFF, r[i + 8], r[i + 12], 0x88);
            t[i + 12] = _mm512_maskz_shuffle_f32x4(0xFFFF, r[i + 8], r[i + 12], 0xdd);
        }
#pragma GCC unroll 16
        for (int i = 0; i < 4; ++i) {
            r[i] = _mm512_maskz_shuffle_f32x4(0xFFFF, t[i], t[i + 8], 0x88);
            r[i + 8] = _mm512_maskz_shuffle_f32x4(0xFFFF, t[i], t[i + 8], 0xdd);
            r[i + 4] = _mm512_maskz_shuffle_f32x4(0xFFFF, t[i + 4], t[i + 12], 0x88);
            r[i + 12] = _mm512_maskz_shuffle_f32x4(0xFFFF, t[i + 4], t[i + 12], 0xdd);
        }
#pragma GCC unroll 16
        for (int j = 0; j < 16; ++j) _mm512_mask_storeu_ps(dst + (p + j) * dst_stride, store_mask, r[j]);
    }
    for (; p < kc; ++p)
        for (int i = 0; i < lanes; ++i) dst[p * dst_stride + i] = i < rows ? src[i * ld + p] : 0.0f;
}

void transpose_pack_f64(const double* src, int64_t ld, int rows, int64_t kc, double* dst,
                        int64_t dst_stride, int lanes) {
    const __mmask8 store_mask = static_cast<__mmask8>((1u << lanes) - 1u);
    int64_t p = 0;
    // Zero-masked forms of the shuffles: same instructions, but the unmasked
    // intrinsics trip GCC 12's -Wmaybe-uninitialized here.
    for (; p + 8 <= kc; p += 8) {
        __m512d r[8], t[8];
#pragma GCC unroll 16
        for (int i = 0; i < 8; ++i)
            r[i] = i < rows ? _mm512_loadu_pd(src + i * ld + p) : _mm512_setzero_pd();
#pragma GCC unroll 16
        for (int i = 0; i < 8; i += 2) {
            t[i] = _mm512_maskz_unpacklo_pd(0xFF, r[i], r[i + 1]);
            t[i + 1] = _mm512_maskz_unpackhi_pd(0xFF, r[i], r[i + 1]);
        }
#pragma GCC unroll 16
        for (int i = 0; i < 2; ++i) {
            r[i] = _mm512_maskz_shuffle_f64x2(0xFF, t[i], t[i + 2], 0x88);
            r[i + 2] = _mm512_maskz_shuffle_f64x2(0xFF, t[i], t[i + 2], 0xdd);
            r[i + 4] = _mm512_maskz_shuffle_f64x2(0xFF, t[i + 4], t[i + 6], 0x88);
            r[i + 6] = _mm512_maskz_shuffle_f64x2(0xFF, t[i + 4], t[i + 6], 0xdd);
        }
#pragma GCC unroll 16
        for (int i = 0; i < 4; ++i) {
            t[i] = _mm512_maskz_shuffle_f64x2(0xFF, r[i], r[i + 4], 0x88);
            t[i + 4] = _mm512_maskz_shuffle_f64x2(0xFF, r[i], r[i + 4], 0xdd);
        }
#pragma GCC unroll 16
        for (int j = 0; j < 8; ++j) _mm512_mask_storeu_pd(dst + (p + j) * dst_stride, store_mask, t[j]);
    }
    for (; p < kc; ++p)
        for (int i = 0; i < lanes; ++i) dst[p * dst_stride + i] = i < rows ? src[i * ld + p] : 0.0;
}

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
    if (trans) {
        // One masked 12-lane copy per k index.
        for (int64_t ip = 0; ip < mc; ip += kSMR, dst += kSMR * kc) {
            const __mmask16 m = Avx512F32::mask(mc - ip);
            const float* src = a + p0 * lda + i0 + ip;
            for (int64_t p = 0; p < kc; ++p)
                _mm512_mask_storeu_ps(dst + p * kSMR, 0xFFF, _mm512_maskz_loadu_ps(m, src + p * lda));
        }
        return;
    }
    for (int64_t ip = 0; ip < mc; ip += kSMR, dst += kSMR * kc)
        transpose_pack_f32(a + (i0 + ip) * lda + p0, lda, static_cast<int>(min_of<int64_t>(kSMR, mc - ip)),
                           kc, dst, kSMR, kSMR);
}
void sgemm_avx512_pack_b(bool trans, const float* b, int64_t ldb, int64_t p0, int64_t kc,
                         int64_t j0, int64_t nc, float* dst) {
    constexpr int NR = kSNV * 16;
    if (!trans) {
        pack_b<float, NR>(trans, b, ldb, p0, kc, j0, nc, dst);
        return;
    }
    for (int64_t jp = 0; jp < nc; jp += NR, dst += NR * kc)
        for (int h = 0; h < NR; h += 16)
            transpose_pack_f32(b + (j0 + jp + h) * ldb + p0, ldb,
                               static_cast<int>(min_of<int64_t>(16, nc - jp - h)), kc, dst + h, NR, 16);
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
    if (trans) {
        // Two masked copies (8 + 4 lanes) per k index.
        for (int64_t ip = 0; ip < mc; ip += kDMR, dst += kDMR * kc) {
            const __mmask8 m0 = Avx512F64::mask(mc - ip), m1 = Avx512F64::mask(mc - ip - 8);
            const double* src = a + p0 * lda + i0 + ip;
            for (int64_t p = 0; p < kc; ++p) {
                _mm512_storeu_pd(dst + p * kDMR, _mm512_maskz_loadu_pd(m0, src + p * lda));
                _mm512_mask_storeu_pd(dst + p * kDMR + 8, 0xF, _mm512_maskz_loadu_pd(m1, src + p * lda + 8));
            }
        }
        return;
    }
    for (int64_t ip = 0; ip < mc; ip += kDMR, dst += kDMR * kc) {
        const int64_t rows = min_of<int64_t>(kDMR, mc - ip);
        const double* src = a + (i0 + ip) * lda + p0;
        for (int h = 0; h < kDMR; h += 8)
            transpose_pack_f64(src + h * lda, lda, static_cast<int>(rows - h < 0 ? 0 : rows - h), kc,
                               dst + h, kDMR, min_of(8, kDMR - h));
    }
}
void dgemm_avx512_pack_b(bool trans, const double* b, int64_t ldb, int64_t p0, int64_t kc,
                         int64_t j0, int64_t nc, double* dst) {
    constexpr int NR = kDNV * 8;
    if (!trans) {
        pack_b<double, NR>(trans, b, ldb, p0, kc, j0, nc, dst);
        return;
    }
    for (int64_t jp = 0; jp < nc; jp += NR, dst += NR * kc)
        for (int h = 0; h < NR; h += 8)
            transpose_pack_f64(b + (j0 + jp + h) * ldb + p0, ldb,
                               static_cast<int>(min_of<int64_t>(8, nc - jp - h)), kc, dst + h, NR, 8);
}

}  // namespace

const GemmKernels<float>& sgemm_kernels_avx512() {
    static const GemmKernels<float> k{"sgemm_avx512_12x32",
                                      kSMR, kSNV * 16,
                                      /*mc=*/480, /*kc=*/256, /*nc=*/1024,
                                      4, 4,
                                      sgemm_avx512_12x32, sgemm_avx512_12x32_direct,
                                      sgemm_avx512_dot_4x4, sgemm_avx512_pack_a,
                                      sgemm_avx512_pack_b};
    return k;
}

const GemmKernels<double>& dgemm_kernels_avx512() {
    static const GemmKernels<double> k{"dgemm_avx512_12x16",
                                       kDMR, kDNV * 8,
                                       /*mc=*/240, /*kc=*/256, /*nc=*/512,
                                       4, 4,
                                       dgemm_avx512_12x16, dgemm_avx512_12x16_direct,
                                       dgemm_avx512_dot_4x4, dgemm_avx512_pack_a,
                                       dgemm_avx512_pack_b};
    return k;
}

double fma_loop_avx512(int64_t iters) { return fma_loop<Avx512F32, 16>(iters); }

}  // namespace pk
