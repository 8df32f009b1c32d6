// The dropout loops of one instruction set, as a table of function pointers:
// scalar in csrc/dropout.cpp (baseline x86-64), 8 Philox blocks per vector in
// csrc/dropout_avx2.cpp, 16 in csrc/dropout_avx512.cpp. Every entry handles
// elements [begin, end) of one call, begin a multiple of 4, and draws element
// i from Philox block offset + i / 4, word i % 4 (csrc/common/philox.h), so
// all tables write bit-identical masks and outputs, whatever the split into
// ranges. The forward draws, scales and stores in one pass; the mask is one
// uint8 per element (1 = kept).
#pragma once

#include <cstdint>

namespace pk {

struct DropoutDraw {
    uint64_t seed;
    uint64_t offset;     // in 4-element blocks
    uint32_t threshold;  // dropout_threshold(p): kept iff (word >> 8) >= threshold
};

struct DropoutKernels {
    // y = x * (keep ? scale : 0), mask = keep
    void (*forward_f32)(const float* x, float* y, uint8_t* mask, int64_t begin, int64_t end,
                        const DropoutDraw& d, float scale);
    void (*forward_f64)(const double* x, double* y, uint8_t* mask, int64_t begin, int64_t end,
                        const DropoutDraw& d, double scale);
    void (*mask)(uint8_t* mask, int64_t begin, int64_t end, const DropoutDraw& d);
    // gx = gy * (mask != 0 ? scale : 0)
    void (*backward_f32)(const float* gy, const uint8_t* mask, float* gx, int64_t begin,
                         int64_t end, float scale);
    void (*backward_f64)(const double* gy, const uint8_t* mask, double* gx, int64_t begin,
                         int64_t end, double scale);
};

// Elements before p + head is aligned to `align` bytes (NumPy's large arrays
// start 16 bytes into a page, so every 64-byte vector would straddle two cache
// lines). The forward also needs head % 4 == 0 to keep Philox blocks whole,
// so its callers use 0 when it is not.
template <class T>
inline int64_t align_head(const T* p, int64_t align) {
    const auto a = reinterpret_cast<uintptr_t>(p);
    if (a % sizeof(T) != 0) return 0;
    return static_cast<int64_t>((align - a % align) % align / sizeof(T));
}

DropoutKernels dropout_kernels_avx2();
DropoutKernels dropout_kernels_avx512();

}  // namespace pk
