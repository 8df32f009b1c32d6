// Dropout loops for AVX2 (-mavx2 -mfma): Philox4x32-10 (csrc/common/philox.h)
// on 8 counters per vector, 32 elements per step. vpmuludq gives the
// 32 x 32 -> 64-bit products of the even lanes and of the odd lanes shifted
// down; blends put the high and low halves back in the 8 lanes. Words are
// compared with the threshold in block order (lane l, word j), and the
// resulting lane masks are transposed in registers into element order
// (element 4 l + j), then y = x * (keep ? scale : 0) and the uint8 mask are
// written; the last partial step goes through a small buffer. No pdep: it is
// microcoded and slow on the AMD CPUs that take this path. Same arithmetic as
// the scalar path, so bit-identical.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "common/philox.h"
#include "dropout_kernels.h"

namespace pk {
namespace {

constexpr int64_t kStep = 32;  // elements per step: 8 blocks of 4

struct Keys {
    __m256i k0[10], k1[10];
};

Keys round_keys(uint64_t seed) {
    Keys k;
    uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    for (int r = 0; r < 10; ++r) {
        if (r) {
            k0 += kPhiloxW0;
            k1 += kPhiloxW1;
        }
        k.k0[r] = _mm256_set1_epi32(static_cast<int>(k0));
        k.k1[r] = _mm256_set1_epi32(static_cast<int>(k1));
    }
    return k;
}

// hi:lo = a * m lane by lane (32 x 32 -> 64 bits); m holds the multiplier in every lane.
inline void mul_hilo(__m256i a, __m256i m, __m256i& hi, __m256i& lo) {
    const __m256i even = _mm256_mul_epu32(a, m);
    const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
    lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

// Drop masks (all ones = dropped) of elements 4 first .. 4 first + 31, in
// element order, 8 per vector: e[v] holds elements 8 v .. 8 v + 7.
inline void drop_masks(uint64_t first, const Keys& keys, __m256i threshold, __m256i (&e)[4]) {
    const __m256i sign = _mm256_set1_epi32(static_cast<int>(0x80000000u));
    const __m256i base_lo = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(first)));
    __m256i c0 = _mm256_add_epi32(base_lo, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    // the low word wrapped (c0 < base, unsigned): carry into the high word
    const __m256i carry = _mm256_cmpgt_epi32(_mm256_xor_si256(base_lo, sign),
                                             _mm256_xor_si256(c0, sign));
    __m256i c1 = _mm256_sub_epi32(
        _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(first >> 32))), carry);
    __m256i c2 = _mm256_setzero_si256(), c3 = _mm256_setzero_si256();
    const __m256i m0 = _mm256_set1_epi32(static_cast<int>(kPhiloxM0));
    const __m256i m1 = _mm256_set1_epi32(static_cast<int>(kPhiloxM1));
    for (int r = 0; r < 10; ++r) {
        __m256i hi0, lo0, hi1, lo1;
        mul_hilo(c0, m0, hi0, lo0);
        mul_hilo(c2, m1, hi1, lo1);
        c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), keys.k0[r]);
        c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), keys.k1[r]);
        c1 = lo1;
        c3 = lo0;
    }
    // dropped iff threshold > (word >> 8); both below 2^25, so a signed compare
    const __m256i d0 = _mm256_cmpgt_epi32(threshold, _mm256_srli_epi32(c0, 8));
    const __m256i d1 = _mm256_cmpgt_epi32(threshold, _mm256_srli_epi32(c1, 8));
    const __m256i d2 = _mm256_cmpgt_epi32(threshold, _mm256_srli_epi32(c2, 8));
    const __m256i d3 = _mm256_cmpgt_epi32(threshold, _mm256_srli_epi32(c3, 8));
    // 4 x 8 transpose: (word j, block l) -> element 4 l + j
    const __m256i a0 = _mm256_unpacklo_epi32(d0, d1);  // blocks 0, 1 | 4, 5: words 0, 1
    const __m256i a1 = _mm256_unpackhi_epi32(d0, d1);  // blocks 2, 3 | 6, 7: words 0, 1
    const __m256i a2 = _mm256_unpacklo_epi32(d2, d3);
    const __m256i a3 = _mm256_unpackhi_epi32(d2, d3);
    const __m256i t0 = _mm256_unpacklo_epi64(a0, a2);  // blocks 0 | 4
    const __m256i t1 = _mm256_unpackhi_epi64(a0, a2);  // blocks 1 | 5
    const __m256i t2 = _mm256_unpacklo_epi64(a1, a3);  // blocks 2 | 6
    const __m256i t3 = _mm256_unpackhi_epi64(a1, a3);  // blocks 3 | 7
    e[0] = _mm256_permute2x128_si256(t0, t1, 0x20);
    e[1] = _mm256_permute2x128_si256(t2, t3, 0x20);
    e[2] = _mm256_permute2x128_si256(t0, t1, 0x31);
    e[3] = _mm256_permute2x128_si256(t2, t3, 0x31);
}

// The 32 mask bytes (1 = kept) of the drop masks e.
inline __m256i mask_bytes(const __m256i (&e)[4]) {
    const __m256i w01 = _mm256_packs_epi32(e[0], e[1]);  // e0 0..3, e1 0..3 | e0 4..7, e1 4..7
    const __m256i w23 = _mm256_packs_epi32(e[2], e[3]);
    const __m256i b = _mm256_packs_epi16(w01, w23);     // dwords e0 e1 e2 e3 | e0 e1 e2 e3
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i ordered = _mm256_permutevar8x32_epi32(b, order);
    return _mm256_add_epi8(ordered, _mm256_set1_epi8(1));  // -1 -> 0, 0 -> 1
}

// x * 0 rather than 0 for dropped elements: inf and NaN become NaN, as in the
// scalar loop and PyTorch's x * mask * scale.
inline void scale_f32(const float* x, float* y, const __m256i (&e)[4], __m256 scale) {
    for (int v = 0; v < 4; ++v) {
        const __m256 s = _mm256_andnot_ps(_mm256_castsi256_ps(e[v]), scale);
        _mm256_storeu_ps(y + 8 * v, _mm256_mul_ps(_mm256_loadu_ps(x + 8 * v), s));
    }
}

inline void scale_f64(const double* x, double* y, const __m256i (&e)[4], __m256d scale) {
    for (int v = 0; v < 4; ++v) {
        const __m256i lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(e[v]));
        const __m256i hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(e[v], 1));
        const __m256d slo = _mm256_andnot_pd(_mm256_castsi256_pd(lo), scale);
        const __m256d shi = _mm256_andnot_pd(_mm256_castsi256_pd(hi), scale);
        _mm256_storeu_pd(y + 8 * v, _mm256_mul_pd(_mm256_loadu_pd(x + 8 * v), slo));
        _mm256_storeu_pd(y + 8 * v + 4, _mm256_mul_pd(_mm256_loadu_pd(x + 8 * v + 4), shi));
    }
}

// Steps of [begin, end): a first partial one of `head` elements (a multiple
// of 4, so steps start on block boundaries) that brings the output to a
// 32-byte boundary and the last partial one go through tail(i, m, mask bytes),
// whole steps through full(i, e).
template <class Full, class Tail>
inline void for_each_step(int64_t begin, int64_t end, int64_t head, const DropoutDraw& d,
                          Full full, Tail tail) {
    const Keys keys = round_keys(d.seed);
    const __m256i threshold = _mm256_set1_epi32(static_cast<int>(d.threshold));
    __m256i e[4];
    alignas(32) uint8_t bytes[kStep];
    int64_t i = begin;
    if (head % 4 == 0 && head > 0 && head < end - begin) {
        drop_masks(d.offset + static_cast<uint64_t>(i / 4), keys, threshold, e);
        _mm256_store_si256(reinterpret_cast<__m256i*>(bytes), mask_bytes(e));
        tail(i, head, bytes);
        i += head;
    }
    for (; i + kStep <= end; i += kStep) {
        drop_masks(d.offset + static_cast<uint64_t>(i / 4), keys, threshold, e);
        full(i, e);
    }
    if (i < end) {
        drop_masks(d.offset + static_cast<uint64_t>(i / 4), keys, threshold, e);
        _mm256_store_si256(reinterpret_cast<__m256i*>(bytes), mask_bytes(e));
        tail(i, end - i, bytes);
    }
}

template <class T>
void forward(const T* x, T* y, uint8_t* mask, int64_t begin, int64_t end, const DropoutDraw& d,
             T scale) {
    for_each_step(
        begin, end, align_head(y + begin, 32), d,
        [&](int64_t i, const __m256i (&e)[4]) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(mask + i), mask_bytes(e));
            if constexpr (sizeof(T) == 4)
                scale_f32(x + i, y + i, e, _mm256_set1_ps(scale));
            else
                scale_f64(x + i, y + i, e, _mm256_set1_pd(scale));
        },
        [&](int64_t i, int64_t m, const uint8_t* bytes) {
            for (int64_t k = 0; k < m; ++k) {
                mask[i + k] = bytes[k];
                y[i + k] = x[i + k] * (bytes[k] ? scale : T(0));
            }
        });
}

void forward_f32(const float* x, float* y, uint8_t* mask, int64_t begin, int64_t end,
                 const DropoutDraw& d, float scale) {
    forward<float>(x, y, mask, begin, end, d, scale);
}

void forward_f64(const double* x, double* y, uint8_t* mask, int64_t begin, int64_t end,
                 const DropoutDraw& d, double scale) {
    forward<double>(x, y, mask, begin, end, d, scale);
}

void mask_fill(uint8_t* mask, int64_t begin, int64_t end, const DropoutDraw& d) {
    for_each_step(
        begin, end, align_head(mask + begin, 32), d,
        [&](int64_t i, const __m256i (&e)[4]) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(mask + i), mask_bytes(e));
        },
        [&](int64_t i, int64_t m, const uint8_t* bytes) { std::memcpy(mask + i, bytes, m); });
}

// Scalar head to a 32-byte boundary of gx, whole vectors, scalar tail.
void backward_f32(const float* gy, const uint8_t* mask, float* gx, int64_t begin, int64_t end,
                  float scale) {
    const __m256 s = _mm256_set1_ps(scale);
    const __m256i zero = _mm256_setzero_si256();
    int64_t i = begin;
    for (const int64_t h = begin + std::min(align_head(gx + begin, 32), end - begin); i < h; ++i)
        gx[i] = gy[i] * (mask[i] ? scale : 0.0f);
    for (; i + 8 <= end; i += 8) {
        const __m256i m = _mm256_cvtepu8_epi32(
            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(mask + i)));
        const __m256 drop = _mm256_castsi256_ps(_mm256_cmpeq_epi32(m, zero));
        _mm256_storeu_ps(gx + i, _mm256_mul_ps(_mm256_loadu_ps(gy + i), _mm256_andnot_ps(drop, s)));
    }
    for (; i < end; ++i) gx[i] = gy[i] * (mask[i] ? scale : 0.0f);
}

void backward_f64(const double* gy, const uint8_t* mask, double* gx, int64_t begin, int64_t end,
                  double scale) {
    const __m256d s = _mm256_set1_pd(scale);
    const __m256i zero = _mm256_setzero_si256();
    int64_t i = begin;
    for (const int64_t h = begin + std::min(align_head(gx + begin, 32), end - begin); i < h; ++i)
        gx[i] = gy[i] * (mask[i] ? scale : 0.0);
    for (; i + 4 <= end; i += 4) {
        int32_t word;
        std::memcpy(&word, mask + i, 4);
        const __m256i m = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128(word));
        const __m256d drop = _mm256_castsi256_pd(_mm256_cmpeq_epi64(m, zero));
        _mm256_storeu_pd(gx + i, _mm256_mul_pd(_mm256_loadu_pd(gy + i), _mm256_andnot_pd(drop, s)));
    }
    for (; i < end; ++i) gx[i] = gy[i] * (mask[i] ? scale : 0.0);
}

}  // namespace

DropoutKernels dropout_kernels_avx2() {
    return {forward_f32, forward_f64, mask_fill, backward_f32, backward_f64};
}

}  // namespace pk
