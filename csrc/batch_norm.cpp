// pk.ops.batch_norm and batch_norm_backward on the CPU (formulas in
// common/batch_norm.h; PyTorch: torch.nn.functional.batch_norm).
//
// x is viewed as (N, C, S), S = product of the spatial sizes. Two layouts:
//   S == 1  ("rows"): a channel is a column of an (N, C) matrix. Tasks own a
//           tile of 128 channels and a group of rows, and walk the rows so
//           the inner loop runs over contiguous channels (vectorised).
//   S >  1  ("segments"): a channel is N contiguous runs of S values. Tasks
//           own one channel and a group of pieces of <= 2048 values.
// Forward (training): one read of x for the statistics (each 32-row block or
// piece is reduced twice while it is in cache, in double), one read + one
// write for y. Backward: one read of (x, dy) for sum(dy) and
// sum(dy (x - mean)), one read of (x, dy) + one write for dx (evaluation mode:
// dy only, and no reduction unless weight/bias gradients are asked for).
//
// Determinism: tasks and groups are cut from the shape alone; each task writes
// its own partial moments and a final loop merges them per channel in group
// order, so results do not depend on the number of threads.
//
// Backward context: the Python layer keeps x (a reference, no copy) plus the
// per-channel mean and invstd in float64; x_hat is recomputed in the backward
// pass, which costs a subtract and a multiply per element instead of storing
// and re-reading a second N*C*S array.
#include <emmintrin.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "bind/array_view.h"
#include "bind/batch_norm_checks.h"
#include "common/batch_norm.h"
#include "runtime/threads.h"

namespace pk {

namespace {

constexpr int64_t kRowBlock = 32;   // rows reduced twice while in L1 (S == 1)
constexpr int64_t kChanTile = 128;  // channels per task (S == 1): 32 x 128 floats = 16 KiB
constexpr int64_t kPiece = 2048;    // values reduced twice while in L1 (S > 1)
constexpr int64_t kAccum = 8;       // independent partial sums within a piece

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// How the reduction over one channel's values is cut into groups (one task
// each, per channel tile or channel). Depends on the shape only.
struct Plan {
    BnDims d;
    bool rows;
    int64_t groups;       // partials per channel
    int64_t per_group;    // rows (rows layout) or pieces (segments layout) per group
    int64_t pieces;       // segments layout: pieces per segment
    int64_t tiles;        // rows layout: channel tiles

    explicit Plan(BnDims dims) : d(dims), rows(dims.s == 1) {
        if (rows) {
            groups = std::clamp<int64_t>(d.n / 256, 1, 16);
            per_group = ceil_div(d.n, groups);
            pieces = 1;
            tiles = ceil_div(d.c, kChanTile);
        } else {
            pieces = ceil_div(d.s, kPiece);
            const int64_t total = d.n * pieces;
            groups = std::clamp<int64_t>(ceil_div(64, std::max<int64_t>(d.c, 1)), 1,
                                         std::max<int64_t>(total, 1));
            per_group = ceil_div(total, groups);
            tiles = 1;
        }
    }
    int64_t tasks() const { return rows ? groups * tiles : groups * d.c; }
};

// Per-group partial results, laid out [group][channel].
struct Partials {
    std::vector<double> a, b, n;
    Partials(int64_t groups, int64_t c) : a(groups * c, 0.0), b(groups * c, 0.0), n(groups * c, 0.0) {}
};

// Piece reductions keep kAccum = 8 partial sums, element i of the piece going
// to sum i % 8, combined pairwise at the end: a fixed order. They are written
// with SSE2 (part of baseline x86-64) as GCC vector types: 4 values are loaded
// and widened to two double pairs (cvtps2pd); lanes keep the order above.
using D2 = double __attribute__((vector_size(16)));
using F4 = float __attribute__((vector_size(16)));

// Values p[0..3] as doubles, (p[0], p[1]) in a and (p[2], p[3]) in b; with
// centring, bn_centred(p[k], m) in T first, as everywhere else.
inline void load4(const float* p, D2& a, D2& b) {
    const __m128 v = _mm_loadu_ps(p);
    a = _mm_cvtps_pd(v);
    b = _mm_cvtps_pd(_mm_movehl_ps(v, v));
}
inline void load4(const double* p, D2& a, D2& b) {
    a = _mm_loadu_pd(p);
    b = _mm_loadu_pd(p + 2);
}
inline void load4_centred(const float* p, BnCentre<float> m, D2& a, D2& b) {
    const F4 v = _mm_loadu_ps(p);
    const F4 r = bn_centred(v, BnCentre<F4>{F4{m.hi, m.hi, m.hi, m.hi}, F4{m.lo, m.lo, m.lo, m.lo}});
    a = _mm_cvtps_pd(r);
    b = _mm_cvtps_pd(_mm_movehl_ps(r, r));
}
inline void load4_centred(const double* p, BnCentre<double> m, D2& a, D2& b) {
    const BnCentre<D2> mv{D2{m.hi, m.hi}, D2{m.lo, m.lo}};
    a = bn_centred(D2(_mm_loadu_pd(p)), mv);
    b = bn_centred(D2(_mm_loadu_pd(p + 2)), mv);
}

inline double combine(const D2 (&acc)[kAccum / 2]) {
    return ((acc[0][0] + acc[0][1]) + (acc[1][0] + acc[1][1])) +
           ((acc[2][0] + acc[2][1]) + (acc[3][0] + acc[3][1]));
}

template <class T>
double piece_sum(const T* p, int64_t len) {
    D2 acc[kAccum / 2] = {};
    int64_t i = 0;
    for (; i + kAccum <= len; i += kAccum) {
        D2 v[4];
        load4(p + i, v[0], v[1]);
        load4(p + i + 4, v[2], v[3]);
        for (int j = 0; j < 4; ++j) acc[j] += v[j];
    }
    for (int64_t k = 0; i < len; ++i, ++k) acc[k / 2][k % 2] += static_cast<double>(p[i]);
    return combine(acc);
}

template <class T>
double piece_sq_dev(const T* p, int64_t len, double mean) {
    D2 acc[kAccum / 2] = {};
    const D2 m = {mean, mean};
    int64_t i = 0;
    for (; i + kAccum <= len; i += kAccum) {
        D2 v[4];
        load4(p + i, v[0], v[1]);
        load4(p + i + 4, v[2], v[3]);
        for (int j = 0; j < 4; ++j) {
            const D2 dv = v[j] - m;
            acc[j] += dv * dv;
        }
    }
    for (int64_t k = 0; i < len; ++i, ++k) {
        const double v = static_cast<double>(p[i]) - mean;
        acc[k / 2][k % 2] += v * v;
    }
    return combine(acc);
}

// sum(dy) and sum(dy * (x - mean)) over one piece.
template <class T>
void piece_grad_sums(const T* x, const T* dy, int64_t len, BnCentre<T> mean, double& s_dy,
                     double& s_dyx) {
    D2 a[kAccum / 2] = {}, b[kAccum / 2] = {};
    int64_t i = 0;
    for (; i + kAccum <= len; i += kAccum) {
        D2 g[4], d[4];
        load4(dy + i, g[0], g[1]);
        load4(dy + i + 4, g[2], g[3]);
        load4_centred(x + i, mean, d[0], d[1]);
        load4_centred(x + i + 4, mean, d[2], d[3]);
        for (int j = 0; j < 4; ++j) {
            a[j] += g[j];
            b[j] += g[j] * d[j];
        }
    }
    for (int64_t k = 0; i < len; ++i, ++k) {
        const double g = static_cast<double>(dy[i]);
        a[k / 2][k % 2] += g;
        b[k / 2][k % 2] += g * static_cast<double>(bn_centred(x[i], mean));
    }
    s_dy = combine(a);
    s_dyx = combine(b);
}

// Partial moments (count, mean, M2) of every (group, channel).
template <class T>
void batch_moments(const T* x, const Plan& pl, Partials& out) {
    const int64_t C = pl.d.c, S = pl.d.s;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (pl.tasks() > 1)
    for (int64_t task = 0; task < pl.tasks(); ++task) {
        if (pl.rows) {
            const int64_t g = task / pl.tiles, c0 = (task % pl.tiles) * kChanTile;
            const int64_t w = std::min(kChanTile, C - c0);
            const int64_t r0 = g * pl.per_group, r1 = std::min(pl.d.n, r0 + pl.per_group);
            double mean[kChanTile] = {}, m2[kChanTile] = {}, s[kChanTile], q[kChanTile];
            double count = 0.0;
            for (int64_t rb = r0; rb < r1; rb += kRowBlock) {
                const int64_t re = std::min(r1, rb + kRowBlock);
                const double nb = static_cast<double>(re - rb);
                for (int64_t c = 0; c < w; ++c) s[c] = 0.0;
                for (int64_t r = rb; r < re; ++r) {
                    const T* row = x + r * C + c0;
                    for (int64_t c = 0; c < w; ++c) s[c] += static_cast<double>(row[c]);
                }
                for (int64_t c = 0; c < w; ++c) {
                    s[c] /= nb;
                    q[c] = 0.0;
                }
                for (int64_t r = rb; r < re; ++r) {
                    const T* row = x + r * C + c0;
                    for (int64_t c = 0; c < w; ++c) {
                        const double v = static_cast<double>(row[c]) - s[c];
                        q[c] += v * v;
                    }
                }
                for (int64_t c = 0; c < w; ++c) {
                    double na = count;
                    bn_merge_moments(na, mean[c], m2[c], nb, s[c], q[c]);
                }
                count += nb;
            }
            for (int64_t c = 0; c < w; ++c) {
                out.a[g * C + c0 + c] = mean[c];
                out.b[g * C + c0 + c] = m2[c];
                out.n[g * C + c0 + c] = count;
            }
        } else {
            const int64_t g = task / C, c = task % C;
            const int64_t p0 = g * pl.per_group, p1 = std::min(pl.d.n * pl.pieces, p0 + pl.per_group);
            double count = 0.0, mean = 0.0, m2 = 0.0;
            for (int64_t p = p0; p < p1; ++p) {
                const int64_t n = p / pl.pieces, k = p % pl.pieces;
                const int64_t len = std::min(kPiece, S - k * kPiece);
                const T* seg = x + (n * C + c) * S + k * kPiece;
                const double pm = piece_sum(seg, len) / static_cast<double>(len);
                bn_merge_moments(count, mean, m2, static_cast<double>(len), pm,
                                 piece_sq_dev(seg, len, pm));
            }
            out.a[g * C + c] = mean;
            out.b[g * C + c] = m2;
            out.n[g * C + c] = count;
        }
    }
}

// Partial sum(dy) (in a) and sum(dy (x - mean)) (in b) of every (group, channel).
template <class T>
void grad_sums(const T* x, const T* dy, const double* mean, const Plan& pl, Partials& out) {
    const int64_t C = pl.d.c, S = pl.d.s;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (pl.tasks() > 1)
    for (int64_t task = 0; task < pl.tasks(); ++task) {
        if (pl.rows) {
            const int64_t g = task / pl.tiles, c0 = (task % pl.tiles) * kChanTile;
            const int64_t w = std::min(kChanTile, C - c0);
            const int64_t r0 = g * pl.per_group, r1 = std::min(pl.d.n, r0 + pl.per_group);
            double sa[kChanTile] = {}, sb[kChanTile] = {};
            T hi[kChanTile], lo[kChanTile];
            for (int64_t c = 0; c < w; ++c) {
                const BnCentre<T> m = bn_split_mean<T>(mean[c0 + c]);
                hi[c] = m.hi;
                lo[c] = m.lo;
            }
            for (int64_t r = r0; r < r1; ++r) {
                const T* xr = x + r * C + c0;
                const T* gr = dy + r * C + c0;
                for (int64_t c = 0; c < w; ++c) {
                    const double gv = static_cast<double>(gr[c]);
                    sa[c] += gv;
                    sb[c] += gv * static_cast<double>(bn_centred(xr[c], BnCentre<T>{hi[c], lo[c]}));
                }
            }
            for (int64_t c = 0; c < w; ++c) {
                out.a[g * C + c0 + c] = sa[c];
                out.b[g * C + c0 + c] = sb[c];
            }
        } else {
            const int64_t g = task / C, c = task % C;
            const int64_t p0 = g * pl.per_group, p1 = std::min(pl.d.n * pl.pieces, p0 + pl.per_group);
            const BnCentre<T> m = bn_split_mean<T>(mean[c]);
            double sa = 0.0, sb = 0.0;
            for (int64_t p = p0; p < p1; ++p) {
                const int64_t n = p / pl.pieces, k = p % pl.pieces;
                const int64_t len = std::min(kPiece, S - k * kPiece);
                const int64_t at = (n * C + c) * S + k * kPiece;
                double pa, pb;
                piece_grad_sums(x + at, dy + at, len, m, pa, pb);
                sa += pa;
                sb += pb;
            }
            out.a[g * C + c] = sa;
            out.b[g * C + c] = sb;
        }
    }
}

// Elementwise pass over every value: f(value index, channel).
template <class F>
void for_each_value(const BnDims& d, F f) {
    const int64_t total = d.n * d.c * d.s;
    if (d.s == 1) {
        const int64_t rows_per_task = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(d.c, 1));
        const int64_t tasks = ceil_div(d.n, rows_per_task);
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (tasks > 1 && total > 4096)
        for (int64_t t = 0; t < tasks; ++t) {
            const int64_t r1 = std::min(d.n, (t + 1) * rows_per_task);
            for (int64_t r = t * rows_per_task; r < r1; ++r) f.row(r * d.c, d.c);
        }
    } else {
        const int64_t segs = d.n * d.c;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (segs > 1 && total > 4096)
        for (int64_t i = 0; i < segs; ++i) f.segment(i * d.s, d.s, i % d.c);
    }
}

// Per-channel coefficients are kept as separate arrays (structure of arrays)
// so the rows loop reads them with plain vector loads.
template <class T>
struct NormalizeLoop {
    const T* __restrict x;
    T* __restrict y;
    const T* __restrict hi;
    const T* __restrict lo;
    const T* __restrict scale;
    const T* __restrict shift;
    BnForward<T> coef(int64_t c) const { return {{hi[c], lo[c]}, scale[c], shift[c]}; }
    void row(int64_t at, int64_t C) const {
        const T* __restrict xr = x + at;
        T* __restrict yr = y + at;
        for (int64_t c = 0; c < C; ++c) yr[c] = bn_forward_elem(xr[c], coef(c));
    }
    void segment(int64_t at, int64_t S, int64_t c) const {
        const BnForward<T> f = coef(c);
        const T* __restrict xs = x + at;
        T* __restrict ys = y + at;
        for (int64_t s = 0; s < S; ++s) ys[s] = bn_forward_elem(xs[s], f);
    }
};

template <class T, bool BATCH_STATS>
struct BackwardLoop {
    const T* __restrict x;
    const T* __restrict dy;
    T* __restrict dx;
    const T* __restrict hi;
    const T* __restrict lo;
    const T* __restrict ca;
    const T* __restrict cb;
    const T* __restrict cc;
    BnBackward<T> coef(int64_t c) const { return {{hi[c], lo[c]}, ca[c], cb[c], cc[c]}; }
    void row(int64_t at, int64_t C) const {
        const T* __restrict xr = x + at;
        const T* __restrict gr = dy + at;
        T* __restrict dr = dx + at;
        for (int64_t c = 0; c < C; ++c)
            dr[c] = BATCH_STATS ? bn_backward_elem(gr[c], xr[c], coef(c))
                                : bn_backward_elem_eval(gr[c], coef(c));
    }
    void segment(int64_t at, int64_t S, int64_t c) const {
        const BnBackward<T> g = coef(c);
        const T* __restrict xs = x + at;
        const T* __restrict gs = dy + at;
        T* __restrict ds = dx + at;
        for (int64_t s = 0; s < S; ++s)
            ds[s] = BATCH_STATS ? bn_backward_elem(gs[s], xs[s], g) : bn_backward_elem_eval(gs[s], g);
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
        for (int64_t c = 0; c < C; ++c) {
            double count = 0.0, mean = 0.0, m2 = 0.0;
            for (int64_t g = 0; g < pl.groups; ++g)
                bn_merge_moments(count, mean, m2, part.n[g * C + c], part.a[g * C + c],
                                 part.b[g * C + c]);
            save_mean[c] = mean;
            save_invstd[c] = bn_invstd(count > 0.0 ? m2 / count : 0.0, eps);
            // An empty batch leaves the running statistics alone, as PyTorch does.
            if (rm != nullptr && count > 0.0)
                bn_update_running(rm[c], rv[c], mean, m2, count, momentum);
        }
    } else {
        const T* rm = running_mean.view.ptr<const T>();
        const T* rv = running_var.view.ptr<const T>();
        for (int64_t c = 0; c < C; ++c) {
            save_mean[c] = static_cast<double>(rm[c]);
            save_invstd[c] = bn_invstd(static_cast<double>(rv[c]), eps);
        }
    }
    std::vector<T> coef(static_cast<size_t>(4 * C));
    T *hi = coef.data(), *lo = hi + C, *scale = lo + C, *shift = scale + C;
    for (int64_t c = 0; c < C; ++c) {
        const BnForward<T> f = bn_forward_coefs<T>(save_mean[c], save_invstd[c],
                                                   opt_value(weight, c, 1.0), opt_value(bias, c, 0.0));
        hi[c] = f.mean.hi;
        lo[c] = f.mean.lo;
        scale[c] = f.scale;
        shift[c] = f.shift;
    }
    for_each_value(d, NormalizeLoop<T>{x, yv.ptr<T>(), hi, lo, scale, shift});
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
    std::vector<double> s_dy(static_cast<size_t>(C), 0.0), s_dyx(static_cast<size_t>(C), 0.0);
    if (batch_stats || grad_weight.present || grad_bias.present) {
        const Plan pl(d);
        Partials part(pl.groups, C);
        grad_sums(x, dy, mean, pl, part);
        for (int64_t c = 0; c < C; ++c)
            for (int64_t g = 0; g < pl.groups; ++g) {
                s_dy[c] += part.a[g * C + c];
                s_dyx[c] += part.b[g * C + c];
            }
    }
    for (int64_t c = 0; c < C; ++c) {
        if (grad_weight.present) grad_weight.view.ptr<T>()[c] = static_cast<T>(invstd[c] * s_dyx[c]);
        if (grad_bias.present) grad_bias.view.ptr<T>()[c] = static_cast<T>(s_dy[c]);
    }
    std::vector<T> coef(static_cast<size_t>(5 * C));
    T *hi = coef.data(), *lo = hi + C, *ca = lo + C, *cb = ca + C, *cc = cb + C;
    for (int64_t c = 0; c < C; ++c) {
        const BnBackward<T> g = bn_backward_coefs<T>(mean[c], invstd[c], opt_value(weight, c, 1.0),
                                                     s_dy[c], s_dyx[c], count, batch_stats);
        hi[c] = g.mean.hi;
        lo[c] = g.mean.lo;
        ca[c] = g.a;
        cb[c] = g.b;
        cc[c] = g.c;
    }
    if (batch_stats)
        for_each_value(d, BackwardLoop<T, true>{x, dy, gxv.ptr<T>(), hi, lo, ca, cb, cc});
    else
        for_each_value(d, BackwardLoop<T, false>{x, dy, gxv.ptr<T>(), hi, lo, ca, cb, cc});
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
