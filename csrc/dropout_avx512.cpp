// Dropout loops for AVX-512 (-mavx512f -mavx512bw -mavx512dq -mavx512vl
// -mbmi2; every AVX-512 CPU has BMI2): Philox4x32-10 (csrc/common/philox.h)
// on 16 counters per vector, 64 elements per step. The 32 x 32 -> 64-bit
// products of a round come from vpmuludq on the even lanes and on the odd
// lanes shifted down; a masked vpshufd puts their high and low halves back in
// the 16 lanes. The keep bits of words j = 0..3 of the 16 blocks are
// interleaved with pdep into element order (element 4 l + j), then
// y = x * (keep ? scale : 0) and the uint8 mask are written under that 64-bit
// mask. A first partial step brings y to a 64-byte boundary (NumPy's arrays
// start 16 bytes past one, and split vectors cost ~15% of the bandwidth), the
// last one is cut to the elements left. Same arithmetic as the scalar path, so
// bit-identical.
#include <immintrin.h>

#include <cstring>

#include "common/philox.h"
#include "dropout_kernels.h"

// GCC 12 reports the _mm512_undefined_* pass-through operand inside
// _mm512_mul_epu32 and _mm512_srli_epi32 as maybe-uninitialized (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace pk {
namespace {

constexpr int64_t kStep = 64;  // elements per step: 16 blocks of 4

struct Keys {
    __m512i k0[10], k1[10];
};

Keys round_keys(uint64_t seed) {
    Keys k;
    uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    for (int r = 0; r < 10; ++r) {
        if (r) {
            k0 += kPhiloxW0;
            k1 += kPhiloxW1;
        }
        k.k0[r] = _mm512_set1_epi32(static_cast<int>(k0));
        k.k1[r] = _mm512_set1_epi32(static_cast<int>(k1));
    }
    return k;
}

// hi:lo = a * m lane by lane (32 x 32 -> 64 bits); m holds the multiplier in every lane.
inline void mul_hilo(__m512i a, __m512i m, __m512i& hi, __m512i& lo) {
    const __m512i even = _mm512_mul_epu32(a, m);
    const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    hi = _mm512_mask_shuffle_epi32(odd, 0x5555, even, _MM_PERM_CDAB);
    lo = _mm512_mask_shuffle_epi32(even, 0xAAAA, odd, _MM_PERM_CDAB);
}

// Keep bits of the 64 elements 4 first .. 4 first + 63 (bit e = element 4 first + e),
// i.e. of blocks first .. first + 15 (counters wrap modulo 2^64 as in philox_block).
inline uint64_t keep_bits(uint64_t first, const Keys& keys, __m512i threshold) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i base_lo = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(first)));
    __m512i c0 = _mm512_add_epi32(base_lo, iota);
    __m512i c1 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(first >> 32)));
    // the low word wrapped: carry into the high word
    c1 = _mm512_mask_add_epi32(c1, _mm512_cmplt_epu32_mask(c0, base_lo), c1,
                               _mm512_set1_epi32(1));
    __m512i c2 = _mm512_setzero_si512(), c3 = _mm512_setzero_si512();
    const __m512i m0 = _mm512_set1_epi32(static_cast<int>(kPhiloxM0));
    const __m512i m1 = _mm512_set1_epi32(static_cast<int>(kPhiloxM1));
    for (int r = 0; r < 10; ++r) {
        __m512i hi0, lo0, hi1, lo1;
        mul_hilo(c0, m0, hi0, lo0);
        mul_hilo(c2, m1, hi1, lo1);
        // 0x96: three-way xor
        c0 = _mm512_ternarylogic_epi32(hi1, c1, keys.k0[r], 0x96);
        c2 = _mm512_ternarylogic_epi32(hi0, c3, keys.k1[r], 0x96);
        c1 = lo1;
        c3 = lo0;
    }
    // (word >> 8) >= threshold, threshold <= 2^24
    const auto bits = [threshold](__m512i c) -> uint64_t {
        return _cvtmask16_u32(_mm512_cmpge_epu32_mask(_mm512_srli_epi32(c, 8), threshold));
    };
    const uint64_t w0 = bits(c0), w1 = bits(c1), w2 = bits(c2), w3 = bits(c3);
    return _pdep_u64(w0, 0x1111111111111111ull) | _pdep_u64(w1, 0x2222222222222222ull) |
           _pdep_u64(w2, 0x4444444444444444ull) | _pdep_u64(w3, 0x8888888888888888ull);
}

inline uint64_t tail_bits(int64_t m) { return m >= 64 ? ~0ull : (1ull << m) - 1; }

inline void store_mask(uint8_t* mask, uint64_t keep, uint64_t valid) {
    _mm512_mask_storeu_epi8(mask, valid, _mm512_maskz_mov_epi8(keep, _mm512_set1_epi8(1)));
}

// x * 0 rather than 0 for dropped elements: inf and NaN become NaN, as in the
// scalar loop and PyTorch's x * mask * scale.
inline void scale_f32(const float* x, float* y, uint64_t keep, uint64_t valid, __m512 scale) {
    for (int v = 0; v < 4; ++v) {
        const __mmask16 k = static_cast<__mmask16>(keep >> (16 * v));
        const __mmask16 t = static_cast<__mmask16>(valid >> (16 * v));
        const __m512 xv = _mm512_maskz_loadu_ps(t, x + 16 * v);
        _mm512_mask_storeu_ps(y + 16 * v, t, _mm512_mul_ps(xv, _mm512_maskz_mov_ps(k, scale)));
    }
}

inline void scale_f64(const double* x, double* y, uint64_t keep, uint64_t valid, __m512d scale) {
    for (int v = 0; v < 8; ++v) {
        const __mmask8 k = static_cast<__mmask8>(keep >> (8 * v));
        const __mmask8 t = static_cast<__mmask8>(valid >> (8 * v));
        const __m512d xv = _mm512_maskz_loadu_pd(t, x + 8 * v);
        _mm512_mask_storeu_pd(y + 8 * v, t, _mm512_mul_pd(xv, _mm512_maskz_mov_pd(k, scale)));
    }
}

// Calls f(i, keep bits, valid bits) for the steps of [begin, end): a first
// partial one of `head` elements (a multiple of 4, so steps start on block
// boundaries) that brings the output to a 64-byte boundary, then whole steps
// and a partial last one.
template <class F>
inline void for_each_step(int64_t begin, int64_t end, int64_t head, const DropoutDraw& d, F f) {
    const Keys keys = round_keys(d.seed);
    const __m512i threshold = _mm512_set1_epi32(static_cast<int>(d.threshold));
    int64_t i = begin;
    if (head % 4 == 0 && head > 0 && head < end - begin) {
        f(i, keep_bits(d.offset + static_cast<uint64_t>(i / 4), keys, threshold), tail_bits(head));
        i += head;
    }
    for (; i < end; i += kStep) {
        const uint64_t keep = keep_bits(d.offset + static_cast<uint64_t>(i / 4), keys, threshold);
        f(i, keep, tail_bits(end - i));
    }
}

void forward_f32(const float* x, float* y, uint8_t* mask, int64_t begin, int64_t end,
                 const DropoutDraw& d, float scale) {
    const __m512 s = _mm512_set1_ps(scale);
    const int64_t head = align_head(y + begin, 64);
    for_each_step(begin, end, head, d, [&](int64_t i, uint64_t keep, uint64_t valid) {
        store_mask(mask + i, keep, valid);
        scale_f32(x + i, y + i, keep, valid, s);
    });
}

void forward_f64(const double* x, double* y, uint8_t* mask, int64_t begin, int64_t end,
                 const DropoutDraw& d, double scale) {
    const __m512d s = _mm512_set1_pd(scale);
    const int64_t head = align_head(y + begin, 64);
    for_each_step(begin, end, head, d, [&](int64_t i, uint64_t keep, uint64_t valid) {
        store_mask(mask + i, keep, valid);
        scale_f64(x + i, y + i, keep, valid, s);
    });
}

void mask_fill(uint8_t* mask, int64_t begin, int64_t end, const DropoutDraw& d) {
    const int64_t head = align_head(mask + begin, 64);
    for_each_step(begin, end, head, d, [&](int64_t i, uint64_t keep, uint64_t valid) {
        store_mask(mask + i, keep, valid);
    });
}

inline uint64_t mask_bits(const uint8_t* mask, uint64_t valid) {
    const __m512i b = _mm512_maskz_loadu_epi8(valid, mask);
    return _cvtmask64_u64(_mm512_test_epi8_mask(b, b));
}

// Masked head to a 64-byte boundary of gx, whole vectors, masked tail.
void backward_f32(const float* gy, const uint8_t* mask, float* gx, int64_t begin, int64_t end,
                  float scale) {
    const __m512 s = _mm512_set1_ps(scale);
    int64_t i = begin;
    const int64_t head = align_head(gx + begin, 64);
    if (head > 0 && head < end - begin) {
        const uint64_t valid = tail_bits(head);
        scale_f32(gy + i, gx + i, mask_bits(mask + i, valid), valid, s);
        i += head;
    }
    for (; i + 16 <= end; i += 16) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(mask + i));
        const __mmask16 k = _mm_test_epi8_mask(b, b);
        const __m512 g = _mm512_loadu_ps(gy + i);
        _mm512_storeu_ps(gx + i, _mm512_mul_ps(g, _mm512_maskz_mov_ps(k, s)));
    }
    if (i < end) {
        const uint64_t valid = tail_bits(end - i);
        scale_f32(gy + i, gx + i, mask_bits(mask + i, valid), valid, s);
    }
}

void backward_f64(const double* gy, const uint8_t* mask, double* gx, int64_t begin, int64_t end,
                  double scale) {
    const __m512d s = _mm512_set1_pd(scale);
    int64_t i = begin;
    const int64_t head = align_head(gx + begin, 64);
    if (head > 0 && head < end - begin) {
        const uint64_t valid = tail_bits(head);
        scale_f64(gy + i, gx + i, mask_bits(mask + i, valid), valid, s);
        i += head;
    }
    for (; i + 8 <= end; i += 8) {
        int64_t word;
        std::memcpy(&word, mask + i, 8);
        const __m128i b = _mm_cvtsi64_si128(word);
        const __mmask8 k = static_cast<__mmask8>(_mm_test_epi8_mask(b, b));
        const __m512d g = _mm512_loadu_pd(gy + i);
        _mm512_storeu_pd(gx + i, _mm512_mul_pd(g, _mm512_maskz_mov_pd(k, s)));
    }
    if (i < end) {
        const uint64_t valid = tail_bits(end - i);
        scale_f64(gy + i, gx + i, mask_bits(mask + i, valid), valid, s);
    }
}

}  // namespace

DropoutKernels dropout_kernels_avx512() {
    return {forward_f32, forward_f64, mask_fill, backward_f32, backward_f64};
}

}  // namespace pk
