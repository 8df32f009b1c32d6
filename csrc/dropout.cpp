// pk.ops.dropout on the CPU: inverted dropout with a counter-based mask,
//     mask[i] = (u_i >= p),   y[i] = x[i] * mask[i] / (1 - p),
// where u_i comes from Philox4x32-10 on (seed, offset + i / 4), word i % 4
// (csrc/common/philox.h). Like torch.nn.functional.dropout(x, p, training=True),
// except that the mask is a function of (seed, offset, i) only: the same on
// every backend and for any thread count.
//
// Each 4-element block costs one Philox call (10 rounds of two 32x32->64
// multiplies); blocks are drawn 16 at a time in lane arrays so the compiler
// can vectorise the rounds (pmuludq), then applied in index order.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>

#include "bind/array_view.h"
#include "bind/dropout_checks.h"
#include "common/philox.h"
#include "runtime/threads.h"

namespace pk {

namespace {

constexpr int64_t kLanes = 16;             // Philox blocks drawn together
constexpr int64_t kGroup = 4 * kLanes;     // elements per group
constexpr int64_t kGroupsPerTask = 256;    // 16 Ki elements per OpenMP task

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
// elements covering [0, n), in parallel over fixed runs of groups; the words
// (hence the mask) depend only on (seed, offset, element index).
template <class F>
void for_each_group(int64_t n, uint64_t seed, uint64_t offset, F f) {
    const int64_t groups = (n + kGroup - 1) / kGroup;
    const int64_t tasks = (groups + kGroupsPerTask - 1) / kGroupsPerTask;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (tasks > 1)
    for (int64_t t = 0; t < tasks; ++t) {
        const int64_t g_end = groups < (t + 1) * kGroupsPerTask ? groups : (t + 1) * kGroupsPerTask;
        uint32_t words[kGroup];
        for (int64_t g = t * kGroupsPerTask; g < g_end; ++g) {
            const int64_t base = g * kGroup;
            philox_lanes(seed, offset + static_cast<uint64_t>(base / 4), words);
            f(base, n - base < kGroup ? n - base : kGroup, words);
        }
    }
}

template <class T>
void dropout_forward(const T* x, T* y, uint8_t* mask, int64_t n, double p, uint64_t seed,
                     uint64_t offset) {
    const T scale = static_cast<T>(dropout_scale(p));
    const uint32_t threshold = dropout_threshold(p);
    // x * 0 rather than 0 for dropped elements: inf and NaN become NaN, as in
    // PyTorch's x * mask * scale.
    for_each_group(n, seed, offset, [=](int64_t base, int64_t m, const uint32_t* words) {
        for (int64_t k = 0; k < m; ++k) {
            const uint8_t keep = dropout_keep(words[k], threshold);
            mask[base + k] = keep;
            y[base + k] = x[base + k] * (keep ? scale : T(0));
        }
    });
}

void dropout_mask_fill(uint8_t* mask, int64_t n, double p, uint64_t seed, uint64_t offset) {
    const uint32_t threshold = dropout_threshold(p);
    for_each_group(n, seed, offset, [=](int64_t base, int64_t m, const uint32_t* words) {
        for (int64_t k = 0; k < m; ++k) mask[base + k] = dropout_keep(words[k], threshold);
    });
}

template <class T>
void dropout_backward(const T* gy, const uint8_t* mask, T* gx, int64_t n, double p) {
    const T scale = static_cast<T>(dropout_scale(p));
    const int64_t chunk = 1 << 16;
    const int64_t tasks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (tasks > 1)
    for (int64_t t = 0; t < tasks; ++t) {
        const int64_t end = n < (t + 1) * chunk ? n : (t + 1) * chunk;
        for (int64_t i = t * chunk; i < end; ++i) gx[i] = gy[i] * (mask[i] ? scale : T(0));
    }
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
