// pk.ops.batch_norm and batch_norm_backward on the CPU (formulas in
// common/batch_norm.h; PyTorch: torch.nn.functional.batch_norm).
//
// x is viewed as (N, C, S), S = product of the spatial sizes. Two layouts:
//   S == 1  ("rows"): a channel is a column of an (N, C) matrix. Tasks own a
//           group of rows and a slice of <= 4096 channels and walk the rows
//           contiguously, accumulating one double per channel.
//   S >  1  ("segments"): a channel is N contiguous runs of S values. Tasks
//           own one channel and a group of pieces of <= 2048 values.
// Forward (training): one read of x for the statistics (each block of rows or
// piece is reduced twice while it is in cache, in double), one read + one
// write for y. Backward: one read of (x, dy) for sum(dy) and
// sum(dy (x - mean)) together, one read of (x, dy) + one write for dx
// (evaluation mode: dy only, and no reduction unless weight/bias gradients
// are asked for). The loops themselves are in batch_norm_loops.h, compiled
// for SSE2 (this file), AVX2 and AVX-512 and chosen by pk::simd_path().
//
// Determinism: groups, blocks and pieces are cut from the shape alone; each
// task writes its own partial results and a final loop merges them per
// channel in group order, so results do not depend on the number of threads.
//
// Backward context: the Python layer keeps x (a reference, no copy) plus the
// per-channel mean and invstd in float64; x_hat is recomputed in the backward
// pass, which costs a subtract and a multiply per element instead of storing
// and re-reading a second N*C*S array.
// batch_norm_loops.h comes first: it forces the shared formulas inline (see there).
#include "batch_norm_loops.h"

#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "bind/array_view.h"
#include "bind/batch_norm_checks.h"
#include "runtime/cpu_features.h"
#include "runtime/threads.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pk {

BnKernels<float> batch_norm_kernels_f32_generic() { return make_batch_norm_kernels<float>(); }
BnKernels<double> batch_norm_kernels_f64_generic() { return make_batch_norm_kernels<double>(); }

namespace {

template <class T>
const BnKernels<T>& kernels();

template <>
const BnKernels<float>& kernels<float>() {
    static const BnKernels<float> k[3] = {batch_norm_kernels_f32_generic(),
                                          batch_norm_kernels_f32_avx2(),
                                          batch_norm_kernels_f32_avx512()};
    return k[static_cast<int>(simd_path())];
}

template <>
const BnKernels<double>& kernels<double>() {
    static const BnKernels<double> k[3] = {batch_norm_kernels_f64_generic(),
                                           batch_norm_kernels_f64_avx2(),
                                           batch_norm_kernels_f64_avx512()};
    return k[static_cast<int>(simd_path())];
}

constexpr int64_t kBlockValues = 32768;  // rows: a block of rows re-read from L2 (128 KiB float)
constexpr int64_t kGroupValues = 65536;  // rows: values per group (task) at least
constexpr int64_t kMaxGroups = 16;
constexpr int64_t kSlice = 4096;         // rows: channels per task at most
constexpr int64_t kPiece = 2048;         // segments: values reduced twice while in L1
constexpr int64_t kTaskValues = 16384;   // elementwise passes: values per task
constexpr int64_t kBackwardsValues = 1 << 21;  // elementwise passes: see for_each_value
constexpr int64_t kParallelMin = 1 << 15;  // fewer values than this stay on one thread

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// How the reduction over one channel's values is cut into groups (one task
// each, per channel slice or channel). Depends on the shape only.
struct Plan {
    BnDims d;
    bool rows;
    int64_t groups;      // partials per channel
    int64_t per_group;   // rows (rows layout) or pieces (segments layout) per group
    int64_t pieces = 1;  // segments layout: pieces per segment
    int64_t slices = 1;  // rows layout: channel slices
    int64_t block_rows = 1;

    explicit Plan(BnDims dims) : d(dims), rows(dims.s == 1) {
        const int64_t c = std::max<int64_t>(d.c, 1);
        if (rows) {
            block_rows = std::max<int64_t>(1, kBlockValues / c);
            const int64_t blocks = std::max<int64_t>(1, ceil_div(d.n, block_rows));
            const int64_t g = std::clamp<int64_t>(d.n * c / kGroupValues, 1, kMaxGroups);
            per_group = ceil_div(blocks, std::min(g, blocks)) * block_rows;
            groups = std::max<int64_t>(1, ceil_div(d.n, per_group));
            slices = ceil_div(c, kSlice);
        } else {
            pieces = ceil_div(d.s, kPiece);
            const int64_t total = d.n * pieces;
            groups = std::clamp<int64_t>(ceil_div(64, c), 1, std::max<int64_t>(total, 1));
            per_group = std::max<int64_t>(1, ceil_div(total, groups));
        }
    }
    int64_t tasks() const { return rows ? groups * slices : groups * d.c; }
    bool parallel() const { return tasks() > 1 && d.n * d.c * d.s >= kParallelMin; }
    // Values of each channel that group g covers.
    double group_count(int64_t g) const {
        if (rows) return static_cast<double>(std::max<int64_t>(0, std::min(d.n, (g + 1) * per_group) - g * per_group));
        int64_t count = 0;
        for (int64_t p = g * per_group; p < std::min(d.n * pieces, (g + 1) * per_group); ++p)
            count += piece_len(p);
        return static_cast<double>(count);
    }
    int64_t piece_len(int64_t p) const { return std::min(kPiece, d.s - (p % pieces) * kPiece); }
    int64_t piece_at(int64_t p, int64_t c) const {  // offset of piece p of channel c
        return ((p / pieces) * d.c + c) * d.s + (p % pieces) * kPiece;
    }
};

// Per-group partial results, laid out [group][channel], allocated uninitialised.
struct Partials {
    std::unique_ptr<double[]> buf;
    double *a, *b;
    Partials(int64_t groups, int64_t c) : buf(new double[static_cast<size_t>(2 * groups * c + 1)]) {
        a = buf.get();
        b = a + groups * c;
    }
};

// Partial moments (mean in a, M2 in b) of every (group, channel).
template <class T>
void batch_moments(const T* x, const Plan& pl, Partials& out) {
    const BnKernels<T>& k = kernels<T>();
    const int64_t C = pl.d.c;
    std::unique_ptr<double[]> scratch;
    if (pl.rows) scratch.reset(new double[static_cast<size_t>(2 * pl.groups * C + 1)]);
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (pl.parallel())
    for (int64_t task = 0; task < pl.tasks(); ++task) {
        if (pl.rows) {
            const int64_t g = task / pl.slices, c0 = (task % pl.slices) * kSlice;
            const int64_t w = std::min(kSlice, C - c0);
            const int64_t r0 = g * pl.per_group, r1 = std::min(pl.d.n, r0 + pl.per_group);
            if (r1 <= r0) continue;
            double* s = scratch.get() + 2 * (g * C + c0);  // s and q: w values each
            k.rows_moments(x + r0 * C + c0, C, w, r1 - r0, pl.block_rows, out.a + g * C + c0,
                           out.b + g * C + c0, s, s + w);
        } else {
            const int64_t g = task / C, c = task % C;
            const int64_t p0 = g * pl.per_group, p1 = std::min(pl.d.n * pl.pieces, p0 + pl.per_group);
            double count = 0.0, mean = 0.0, m2 = 0.0;
            for (int64_t p = p0; p < p1; ++p) {
                const int64_t len = pl.piece_len(p);
                double pm, pq;
                k.seg_moments(x + pl.piece_at(p, c), len, &pm, &pq);
                bn_merge_moments(count, mean, m2, static_cast<double>(len), pm, pq);
            }
            out.a[g * C + c] = mean;
            out.b[g * C + c] = m2;
        }
    }
}

// Partial sum(dy) (in a) and sum(dy (x - mean)) (in b) of every (group, channel).
template <class T>
void grad_sums(const T* x, const T* dy, const T* hi, const T* lo, const Plan& pl, Partials& out) {
    const BnKernels<T>& k = kernels<T>();
    const int64_t C = pl.d.c;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (pl.parallel())
    for (int64_t task = 0; task < pl.tasks(); ++task) {
        if (pl.rows) {
            const int64_t g = task / pl.slices, c0 = (task % pl.slices) * kSlice;
            const int64_t w = std::min(kSlice, C - c0);
            const int64_t r0 = g * pl.per_group, r1 = std::min(pl.d.n, r0 + pl.per_group);
            double* sa = out.a + g * C + c0;
            double* sb = out.b + g * C + c0;
            std::fill(sa, sa + w, 0.0);
            std::fill(sb, sb + w, 0.0);
            if (r1 > r0)
                k.rows_grad_sums(x + r0 * C + c0, dy + r0 * C + c0, C, w, r1 - r0, hi + c0,
                                 lo + c0, sa, sb);
        } else {
            const int64_t g = task / C, c = task % C;
            const int64_t p0 = g * pl.per_group, p1 = std::min(pl.d.n * pl.pieces, p0 + pl.per_group);
            const BnCentre<T> m{hi[c], lo[c]};
            double sa = 0.0, sb = 0.0;
            for (int64_t p = p0; p < p1; ++p) {
                const int64_t at = pl.piece_at(p, c);
                double pa, pb;
                k.seg_grad_sums(x + at, dy + at, pl.piece_len(p), m, &pa, &pb);
                sa += pa;
                sb += pb;
            }
            out.a[g * C + c] = sa;
            out.b[g * C + c] = sb;
        }
    }
}

// Elementwise pass over every value: f.rows(first row, rows) or
// f.segment(first value, channel), in tasks of about kTaskValues values. Each
// thread takes a contiguous range of tasks, as the static schedule of the
// reduction pass before it gave it rows. Rows of up to kBackwardsValues
// values are walked backwards, so what a thread reduced last, still in its
// L2 cache, is used first (larger arrays stream from L3 or memory, where
// walking forwards keeps the prefetchers on: measured 5-10% either way).
template <class F>
void for_each_value(const BnDims& d, const F& f) {
    const int64_t total = d.n * d.c * d.s;
    const bool rows = d.s == 1;
    const int64_t units = rows ? d.n : d.n * d.c;  // rows or segments
    const int64_t per_task =
        std::max<int64_t>(1, kTaskValues / std::max<int64_t>(rows ? d.c : d.s, 1));
    const int64_t tasks = ceil_div(units, per_task);
    auto run = [&](int64_t t) {
        const int64_t u0 = t * per_task, u1 = std::min(units, u0 + per_task);
        if (rows)
            f.rows(u0, u1 - u0);
        else
            for (int64_t i = u0; i < u1; ++i) f.segment(i * d.s, i % d.c);
    };
    const bool backwards = rows && total <= kBackwardsValues;
#pragma omp parallel num_threads(num_threads()) if (tasks > 1 && total >= kParallelMin)
    {
#ifdef _OPENMP
        const int64_t th = omp_get_thread_num(), nth = omp_get_num_threads();
#else
        const int64_t th = 0, nth = 1;
#endif
        const int64_t t0 = tasks * th / nth, t1 = tasks * (th + 1) / nth;
        if (backwards)
            for (int64_t t = t1 - 1; t >= t0; --t) run(t);
        else
            for (int64_t t = t0; t < t1; ++t) run(t);
    }
}

// Per-channel coefficients are kept as separate arrays (structure of arrays)
// so the rows loops read them with plain vector loads.
template <class T>
struct NormalizeLoop {
    const BnKernels<T>& k;
    const BnDims& d;
    const T* x;
    T* y;
    const T *hi, *lo, *scale, *shift;
    void rows(int64_t r0, int64_t nr) const {
        k.rows_normalise(x + r0 * d.c, y + r0 * d.c, d.c, d.c, nr, hi, lo, scale, shift);
    }
    void segment(int64_t at, int64_t c) const {
        k.seg_normalise(x + at, y + at, d.s, BnForward<T>{{hi[c], lo[c]}, scale[c], shift[c]});
    }
};

template <class T>
struct BackwardLoop {
    const BnKernels<T>& k;
    const BnDims& d;
    const T* x;
    const T* dy;
    T* dx;
    const T *hi, *lo, *ca, *cb, *cc;
    bool batch_stats;
    void rows(int64_t r0, int64_t nr) const {
        const int64_t at = r0 * d.c;
        k.rows_backward(x + at, dy + at, dx + at, d.c, d.c, nr, hi, lo, ca, cb, cc, batch_stats);
    }
    void segment(int64_t at, int64_t c) const {
        k.seg_backward(x + at, dy + at, dx + at, d.s, BnBackward<T>{{hi[c], lo[c]}, ca[c], cb[c], cc[c]},
                       batch_stats);
    }
};

inline double opt_value(const BnOptional& o, int64_t c, double dflt) {
    if (!o.present) return dflt;
    return o.view.dtype == DType::f32 ? static_cast<double>(o.view.ptr<const float>()[c])
                                      : o.view.ptr<const double>()[c];
}

template <class T>
void forward(const ArrayView& xv, const BnOptional& weight, const BnOptional& bias,
             const BnOptional& running_mean, const BnOptional& running_var, const ArrayView& yv,
             double* save_mean, double* save_invstd, bool training, double momentum, double eps,
             BnDims d) {
    const T* x = xv.ptr<const T>();
    const int64_t C = d.c;
    if (training) {
        const Plan pl(d);
        Partials part(pl.groups, C);
        batch_moments(x, pl, part);
        T* rm = running_mean.present ? running_mean.view.ptr<T>() : nullptr;
        T* rv = running_var.present ? running_var.view.ptr<T>() : nullptr;
        double* m2 = save_invstd;  // holds M2 until invstd replaces it
        std::fill(save_mean, save_mean + C, 0.0);
        std::fill(m2, m2 + C, 0.0);
        double count = 0.0;
        for (int64_t g = 0; g < pl.groups; ++g) {
            const double nb = pl.group_count(g);
            if (nb == 0.0) continue;
            const double* pm = part.a + g * C;
            const double* pq = part.b + g * C;
            if (count == 0.0) {
                std::copy(pm, pm + C, save_mean);
                std::copy(pq, pq + C, m2);
            } else {
                for (int64_t c = 0; c < C; ++c) {
                    double n = count;
                    bn_merge_moments(n, save_mean[c], m2[c], nb, pm[c], pq[c]);
                }
            }
            count += nb;
        }
        for (int64_t c = 0; c < C; ++c) {
            // An empty batch leaves the running statistics alone, as PyTorch does.
            if (rm != nullptr && count > 0.0)
                bn_update_running(rm[c], rv[c], save_mean[c], m2[c], count, momentum);
            save_invstd[c] = bn_invstd(count > 0.0 ? m2[c] / count : 0.0, eps);
        }
    } else {
        const T* rm = running_mean.view.ptr<const T>();
        const T* rv = running_var.view.ptr<const T>();
        for (int64_t c = 0; c < C; ++c) {
            save_mean[c] = static_cast<double>(rm[c]);
            save_invstd[c] = bn_invstd(static_cast<double>(rv[c]), eps);
        }
    }
    std::unique_ptr<T[]> coef(new T[static_cast<size_t>(4 * C + 1)]);
    T *hi = coef.get(), *lo = hi + C, *scale = lo + C, *shift = scale + C;
    for (int64_t c = 0; c < C; ++c) {
        const BnForward<T> f = bn_forward_coefs<T>(save_mean[c], save_invstd[c],
                                                   opt_value(weight, c, 1.0), opt_value(bias, c, 0.0));
        hi[c] = f.mean.hi;
        lo[c] = f.mean.lo;
        scale[c] = f.scale;
        shift[c] = f.shift;
    }
    for_each_value(d, NormalizeLoop<T>{kernels<T>(), d, x, yv.ptr<T>(), hi, lo, scale, shift});
}

template <class T>
void backward(const ArrayView& gyv, const ArrayView& xv, const BnOptional& weight,
              const double* mean, const double* invstd, const ArrayView& gxv,
              const BnOptional& grad_weight, const BnOptional& grad_bias, bool batch_stats,
              BnDims d) {
    const T* x = xv.ptr<const T>();
    const T* dy = gyv.ptr<const T>();
    const int64_t C = d.c;
    const double count = static_cast<double>(d.count());
    std::unique_ptr<T[]> coef(new T[static_cast<size_t>(5 * C + 1)]);
    T *hi = coef.get(), *lo = hi + C, *ca = lo + C, *cb = ca + C, *cc = cb + C;
    for (int64_t c = 0; c < C; ++c) {
        const BnCentre<T> m = bn_split_mean<T>(mean[c]);
        hi[c] = m.hi;
        lo[c] = m.lo;
    }
    std::vector<double> s_dy(static_cast<size_t>(C), 0.0), s_dyx(static_cast<size_t>(C), 0.0);
    if (batch_stats || grad_weight.present || grad_bias.present) {
        const Plan pl(d);
        Partials part(pl.groups, C);
        grad_sums(x, dy, hi, lo, pl, part);
        for (int64_t g = 0; g < pl.groups; ++g)
            for (int64_t c = 0; c < C; ++c) {
                s_dy[c] += part.a[g * C + c];
                s_dyx[c] += part.b[g * C + c];
            }
    }
    for (int64_t c = 0; c < C; ++c) {
        if (grad_weight.present) grad_weight.view.ptr<T>()[c] = static_cast<T>(invstd[c] * s_dyx[c]);
        if (grad_bias.present) grad_bias.view.ptr<T>()[c] = static_cast<T>(s_dy[c]);
    }
    for (int64_t c = 0; c < C; ++c) {
        const BnBackward<T> g = bn_backward_coefs<T>(mean[c], invstd[c], opt_value(weight, c, 1.0),
                                                     s_dy[c], s_dyx[c], count, batch_stats);
        ca[c] = g.a;
        cb[c] = g.b;
        cc[c] = g.c;
    }
    for_each_value(d, BackwardLoop<T>{kernels<T>(), d, x, dy, gxv.ptr<T>(), hi, lo, ca, cb, cc,
                                      batch_stats});
}

ArrayView cpu_view(py::handle obj, const char* name) { return host_view(obj, name, "cpu"); }

}  // namespace

void bind_batch_norm(py::module_& m) {
    m.def(
        "batch_norm_forward",
        [](py::handle x_obj, py::handle w_obj, py::handle b_obj, py::handle rm_obj,
           py::handle rv_obj, py::handle y_obj, py::handle sm_obj, py::handle si_obj,
           bool training, double momentum, double eps) {
            const ArrayView x = cpu_view(x_obj, "x");
            const BnOptional w = bn_optional(w_obj, "weight", cpu_view);
            const BnOptional b = bn_optional(b_obj, "bias", cpu_view);
            const BnOptional rm = bn_optional(rm_obj, "running_mean", cpu_view);
            const BnOptional rv = bn_optional(rv_obj, "running_var", cpu_view);
            const ArrayView y = cpu_view(y_obj, "y");
            const ArrayView sm = cpu_view(sm_obj, "save_mean");
            const ArrayView si = cpu_view(si_obj, "save_invstd");
            const BnDims d = batch_norm_forward_checks(x, w, b, rm, rv, y, sm, si, training);
            py::gil_scoped_release release;
            if (x.dtype == DType::f32)
                forward<float>(x, w, b, rm, rv, y, sm.ptr<double>(), si.ptr<double>(), training,
                               momentum, eps, d);
            else
                forward<double>(x, w, b, rm, rv, y, sm.ptr<double>(), si.ptr<double>(), training,
                                momentum, eps, d);
        },
        py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("running_mean"),
        py::arg("running_var"), py::arg("y"), py::arg("save_mean"), py::arg("save_invstd"),
        py::arg("training"), py::arg("momentum"), py::arg("eps"),
        "y = batch_norm(x); training: batch statistics, running statistics (if given) updated in "
        "place; writes the per-channel mean and invstd used (float64) for the backward pass.");
    m.def(
        "batch_norm_backward",
        [](py::handle gy_obj, py::handle x_obj, py::handle w_obj, py::handle sm_obj,
           py::handle si_obj, py::handle gx_obj, py::handle gw_obj, py::handle gb_obj,
           bool training) {
            const ArrayView gy = cpu_view(gy_obj, "grad_y");
            const ArrayView x = cpu_view(x_obj, "x");
            const BnOptional w = bn_optional(w_obj, "weight", cpu_view);
            const ArrayView sm = cpu_view(sm_obj, "save_mean");
            const ArrayView si = cpu_view(si_obj, "save_invstd");
            const ArrayView gx = cpu_view(gx_obj, "grad_x");
            const BnOptional gw = bn_optional(gw_obj, "grad_weight", cpu_view);
            const BnOptional gb = bn_optional(gb_obj, "grad_bias", cpu_view);
            const BnDims d = batch_norm_backward_checks(gy, x, w, sm, si, gx, gw, gb);
            py::gil_scoped_release release;
            if (x.dtype == DType::f32)
                backward<float>(gy, x, w, sm.ptr<const double>(), si.ptr<const double>(), gx, gw,
                                gb, training, d);
            else
                backward<double>(gy, x, w, sm.ptr<const double>(), si.ptr<const double>(), gx,
                                 gw, gb, training, d);
        },
        py::arg("grad_y"), py::arg("x"), py::arg("weight"), py::arg("save_mean"),
        py::arg("save_invstd"), py::arg("grad_x"), py::arg("grad_weight"), py::arg("grad_bias"),
        py::arg("training"),
        "grad_x (and grad_weight, grad_bias where given) of batch_norm: one reduction pass for "
        "sum(dy) and sum(dy x_hat) per channel, one elementwise pass. training=True when the "
        "forward pass normalised with batch statistics.");
}

}  // namespace pk
