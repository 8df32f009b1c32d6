// Philox4x32-10 counter-based random numbers and the dropout mask built on
// them, shared by the CPU loops (csrc/dropout.cpp) and the CUDA kernels
// (cuda/dropout.cu) so both draw bit-identical masks.
//
// Reference: J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel
// random numbers: as easy as 1, 2, 3", SC'11, section 4.2; constants from
// Random123's philox.h. One round maps the counter (R0, R1, L0, L1) with the
// key (k0, k1) to
//     hi0:lo0 = M0 * R0,   hi1:lo1 = M1 * L0        (32 x 32 -> 64-bit products)
//     (hi1 ^ R1 ^ k0, lo1, hi0 ^ L1 ^ k1, lo0)
// and the key is bumped by the Weyl constants (W0, W1) between rounds; ten
// rounds. Checked against Random123's known-answer vectors (tests/kat_vectors)
// by tests/test_dropout.py.
//
// How pykernels uses it (pk.ops.dropout, dropout_mask):
//   key     = the 64-bit seed as two words, low word first;
//   counter = (offset + i / 4) as a 128-bit number: words 0 and 1 are the low
//             and high halves of that 64-bit sum (wrapping modulo 2^64),
//             words 2 and 3 are zero;
//   element i of the C-order array takes output word i % 4 of its block;
//   u = (word >> 8) * 2^-24, a float in [0, 1) with 24 random bits;
//   the element is kept iff u >= p, so P(keep) = 1 - p up to 2^-24.
// `offset` therefore counts 4-element blocks: a call over n elements uses
// counters offset .. offset + ceil(n / 4) - 1, and the next independent call
// starts at offset + ceil(n / 4).
#pragma once

#include <cstdint>

#include "hd.h"

namespace pk {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;  // sqrt(3) - 1

struct Philox4 {
    uint32_t w[4];
};

PK_HD inline void philox_round(uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3,
                               uint32_t k0, uint32_t k1) {
    const uint64_t p0 = static_cast<uint64_t>(kPhiloxM0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kPhiloxM1) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
}

// Philox4x32-10 of one 128-bit counter under a 64-bit key.
PK_HD inline Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                   uint32_t k0, uint32_t k1) {
#if defined(__CUDACC__)
#pragma unroll
#endif
    for (int r = 0; r < 10; ++r) {
        if (r) {
            k0 += kPhiloxW0;
            k1 += kPhiloxW1;
        }
        philox_round(c0, c1, c2, c3, k0, k1);
    }
    return Philox4{{c0, c1, c2, c3}};
}

// The four words of block `block` (= offset + i / 4) for a seed.
PK_HD inline Philox4 philox_block(uint64_t seed, uint64_t block) {
    return philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0u, 0u,
                         static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// u = (word >> 8) * 2^-24 is exact in float; u >= p  <=>  (word >> 8) >= p * 2^24
// <=> (word >> 8) >= ceil(p * 2^24), so the host turns p into this integer
// once and kernels compare integers (p * 2^24 is exact in double).
PK_HD inline uint32_t dropout_threshold(double p) {
    const double t = p * 16777216.0;
    const uint32_t ti = static_cast<uint32_t>(t);
    return static_cast<double>(ti) < t ? ti + 1u : ti;
}

PK_HD inline float philox_uniform(uint32_t word) {
    return static_cast<float>(word >> 8) * (1.0f / 16777216.0f);
}

PK_HD inline uint8_t dropout_keep(uint32_t word, uint32_t threshold) {
    return (word >> 8) >= threshold ? 1u : 0u;
}

}  // namespace pk
