// pk.ops.dropout on the CPU: inverted dropout with a counter-based mask,
//     mask[i] = (u_i >= p),   y[i] = x[i] * mask[i] / (1 - p),
// where u_i comes from Philox4x32-10 on (seed, offset + i / 4), word i % 4
// (csrc/common/philox.h). Like torch.nn.functional.dropout(x, p, training=True),
// except that the mask is a function of (seed, offset, i) only: the same on
// every backend and for any thread count.
//
// The loops live in per-ISA tables (csrc/dropout_kernels.h): AVX-512 and AVX2
// draw 16 or 8 blocks per vector in registers and write y and the mask in the
// same pass; the scalar table below is for CPUs without them. The driver cuts
// the array into fixed ranges, so the split (and the thread count) never
// changes a value.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>

#include "bind/array_view.h"
#include "bind/dropout_checks.h"
#include "common/philox.h"
#include "dropout_kernels.h"
#include "runtime/cpu_features.h"
#include "runtime/threads.h"

namespace pk {

namespace {

constexpr int64_t kLanes = 16;          // Philox blocks drawn together by the scalar loops
constexpr int64_t kGroup = 4 * kLanes;  // elements per group
// Fixed ranges handed to threads (multiples of every table's step). Arrays of
// one range run on the calling thread: a parallel region costs more than it
// saves there, and much more when other processes hold the cores.
constexpr int64_t kForwardRange = 1 << 15;
constexpr int64_t kBackwardRange = 1 << 16;

// The words of blocks first .. first + kLanes - 1 in element order: words[4 l + j]
// is word j of block first + l, i.e. the word of element 4 (first + l) + j.
// The same arithmetic as philox4x32_10, laid out across lanes.
inline void philox_lanes(uint64_t seed, uint64_t first, uint32_t (&words)[kGroup]) {
    uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
    for (int64_t l = 0; l < kLanes; ++l) {
        const uint64_t b = first + static_cast<uint64_t>(l);
        c0[l] = static_cast<uint32_t>(b);
        c1[l] = static_cast<uint32_t>(b >> 32);
        c2[l] = 0u;
        c3[l] = 0u;
    }
    uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    for (int r = 0; r < 10; ++r) {
        if (r) {
            k0 += kPhiloxW0;
            k1 += kPhiloxW1;
        }
        for (int64_t l = 0; l < kLanes; ++l) philox_round(c0[l], c1[l], c2[l], c3[l], k0, k1);
    }
    for (int64_t l = 0; l < kLanes; ++l) {
        words[4 * l + 0] = c0[l];
        words[4 * l + 1] = c1[l];
        words[4 * l + 2] = c2[l];
        words[4 * l + 3] = c3[l];
    }
}

// Calls f(first element, count, words) for consecutive groups of up to kGroup
// elements covering [begin, end), begin a multiple of 4.
template <class F>
void for_each_group(int64_t begin, int64_t end, const DropoutDraw& d, F f) {
    uint32_t words[kGroup];
    for (int64_t i = begin; i < end; i += kGroup) {
        philox_lanes(d.seed, d.offset + static_cast<uint64_t>(i / 4), words);
        f(i, end - i < kGroup ? end - i : kGroup, words);
    }
}

template <class T>
void scalar_forward(const T* x, T* y, uint8_t* mask, int64_t begin, int64_t end,
                    const DropoutDraw& d, T scale) {
    // x * 0 rather than 0 for dropped elements: inf and NaN become NaN, as in
    // PyTorch's x * mask * scale.
    for_each_group(begin, end, d, [=](int64_t i, int64_t m, const uint32_t* words) {
        for (int64_t k = 0; k < m; ++k) {
            const uint8_t keep = dropout_keep(words[k], d.threshold);
            mask[i + k] = keep;
            y[i + k] = x[i + k] * (keep ? scale : T(0));
        }
    });
}

void scalar_mask(uint8_t* mask, int64_t begin, int64_t end, const DropoutDraw& d) {
    for_each_group(begin, end, d, [=](int64_t i, int64_t m, const uint32_t* words) {
        for (int64_t k = 0; k < m; ++k) mask[i + k] = dropout_keep(words[k], d.threshold);
    });
}

template <class T>
void scalar_backward(const T* gy, const uint8_t* mask, T* gx, int64_t begin, int64_t end,
                     T scale) {
    for (int64_t i = begin; i < end; ++i) gx[i] = gy[i] * (mask[i] ? scale : T(0));
}

// A table is built only once its path is chosen: the builders are compiled
// with their ISA's flags and may themselves use its instructions (GCC fills
// the AVX-512 table with vinserti128), which a CPU without it cannot run.
const DropoutKernels& kernels() {
    static const DropoutKernels generic = {scalar_forward<float>, scalar_forward<double>,
                                           scalar_mask, scalar_backward<float>,
                                           scalar_backward<double>};
    switch (simd_path()) {
        case SimdPath::avx512: {
            static const DropoutKernels avx512 = dropout_kernels_avx512();
            return avx512;
        }
        case SimdPath::avx2: {
            static const DropoutKernels avx2 = dropout_kernels_avx2();
            return avx2;
        }
        default: return generic;
    }
}

// f(begin, end) over fixed ranges of [0, n), in parallel when there are several.
template <class F>
void for_each_range(int64_t n, int64_t range, F f) {
    const int64_t tasks = (n + range - 1) / range;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (tasks > 1)
    for (int64_t t = 0; t < tasks; ++t) f(t * range, n < (t + 1) * range ? n : (t + 1) * range);
}

DropoutDraw draw(double p, uint64_t seed, uint64_t offset) {
    return DropoutDraw{seed, offset, dropout_threshold(p)};
}

template <class T>
void dropout_forward(const T* x, T* y, uint8_t* mask, int64_t n, double p, uint64_t seed,
                     uint64_t offset) {
    const DropoutDraw d = draw(p, seed, offset);
    const T scale = static_cast<T>(dropout_scale(p));
    const DropoutKernels& k = kernels();
    for_each_range(n, kForwardRange, [&](int64_t b, int64_t e) {
        if constexpr (sizeof(T) == 4)
            k.forward_f32(x, y, mask, b, e, d, scale);
        else
            k.forward_f64(x, y, mask, b, e, d, scale);
    });
}

void dropout_mask_fill(uint8_t* mask, int64_t n, double p, uint64_t seed, uint64_t offset) {
    const DropoutDraw d = draw(p, seed, offset);
    const DropoutKernels& k = kernels();
    for_each_range(n, kForwardRange, [&](int64_t b, int64_t e) { k.mask(mask, b, e, d); });
}

template <class T>
void dropout_backward(const T* gy, const uint8_t* mask, T* gx, int64_t n, double p) {
    const T scale = static_cast<T>(dropout_scale(p));
    const DropoutKernels& k = kernels();
    for_each_range(n, kBackwardRange, [&](int64_t b, int64_t e) {
        if constexpr (sizeof(T) == 4)
            k.backward_f32(gy, mask, gx, b, e, scale);
        else
            k.backward_f64(gy, mask, gx, b, e, scale);
    });
}

}  // namespace

void bind_dropout(py::module_& m) {
    m.def(
        "dropout",
        [](py::handle x_obj, py::handle y_obj, py::handle mask_obj, double p, uint64_t seed,
           uint64_t offset) {
            const ArrayView x = host_view(x_obj, "x", "cpu");
            const ArrayView y = host_view(y_obj, "y", "cpu");
            const ArrayView mask = host_view(mask_obj, "mask", "cpu");
            dropout_checks(x, y, mask, p);
            py::gil_scoped_release release;
            if (x.dtype == DType::f32)
                dropout_forward<float>(x.ptr<const float>(), y.ptr<float>(), mask.ptr<uint8_t>(),
                                       x.size(), p, seed, offset);
            else
                dropout_forward<double>(x.ptr<const double>(), y.ptr<double>(),
                                        mask.ptr<uint8_t>(), x.size(), p, seed, offset);
        },
        py::arg("x"), py::arg("y"), py::arg("mask"), py::arg("p"), py::arg("seed"),
        py::arg("offset"),
        "y = x * mask / (1 - p) with mask[i] = (Philox uniform(seed, offset, i) >= p), uint8.");
    m.def(
        "dropout_mask",
        [](py::handle mask_obj, double p, uint64_t seed, uint64_t offset) {
            const ArrayView mask = host_view(mask_obj, "mask", "cpu");
            dropout_mask_checks(mask, p);
            py::gil_scoped_release release;
            dropout_mask_fill(mask.ptr<uint8_t>(), mask.size(), p, seed, offset);
        },
        py::arg("mask"), py::arg("p"), py::arg("seed"), py::arg("offset"),
        "Fills the uint8 mask that dropout(x, p, seed, offset) would draw for x of mask's shape.");
    m.def(
        "dropout_backward",
        [](py::handle gy_obj, py::handle mask_obj, py::handle gx_obj, double p) {
            const ArrayView gy = host_view(gy_obj, "grad_y", "cpu");
            const ArrayView mask = host_view(mask_obj, "mask", "cpu");
            const ArrayView gx = host_view(gx_obj, "grad_x", "cpu");
            dropout_backward_checks(gy, mask, gx, p);
            py::gil_scoped_release release;
            if (gy.dtype == DType::f32)
                dropout_backward<float>(gy.ptr<const float>(), mask.ptr<const uint8_t>(),
                                        gx.ptr<float>(), gy.size(), p);
            else
                dropout_backward<double>(gy.ptr<const double>(), mask.ptr<const uint8_t>(),
                                         gx.ptr<double>(), gy.size(), p);
        },
        py::arg("grad_y"), py::arg("mask"), py::arg("grad_x"), py::arg("p"),
        "grad_x = grad_y * mask / (1 - p).");
    m.def(
        "philox4x32_10",
        [](std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
            const Philox4 r = philox4x32_10(counter[0], counter[1], counter[2], counter[3],
                                            key[0], key[1]);
            return std::array<uint32_t, 4>{r.w[0], r.w[1], r.w[2], r.w[3]};
        },
        py::arg("counter"), py::arg("key"),
        "Test hook: one Philox4x32-10 block of csrc/common/philox.h (4 words) for a 4-word "
        "counter and a 2-word key.");
}

}  // namespace pk
