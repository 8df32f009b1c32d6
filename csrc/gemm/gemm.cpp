// GEMM driver: C = alpha * op(A) op(B) + beta * C, row-major (contract in gemm.h).
//
// Large problems follow the BLIS loop nest (Goto & van de Geijn, "Anatomy of
// High-Performance Matrix Multiplication", ACM TOMS 2008; BLIS, TOMS 2015):
//   for jc in n by NC:            B~ block (KC x NC) shared by all threads, L3
//     for pc in k by KC:          pack B~ cooperatively, barrier
//       for ic in m by MC:        A~ block (MC x KC) private to a thread, L2
//         pack A~
//         for jr in NC by NR:     B~ micro-panel (KC x NR) stays in L1
//           for ir in MC by MR:   micro-kernel on an MR x NR tile of C
// Transposes are absorbed by the packing routines. Threads split the m x n
// tile grid of each jc block in a 2D grid (tm x tn) chosen for balance; k is
// never split, so every element of C is summed in the same order (KC blocks
// in turn, p ascending inside) whatever the thread count.
//
// Small problems (an output dimension <= 32, or k <= 32 where no operand needs
// transposing) skip packing: the direct micro-kernel reads A and B in place,
// and op(A) = A, op(B) = B^T uses dot products along the shared contiguous k.
// Which path runs depends only on the shapes and flags, never on threads.
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <new>

#include "../runtime/cpu_features.h"
#include "../runtime/threads.h"
#include "config.h"
#include "gemm.h"
#include "gemm_epilogue.h"

namespace pk {
namespace {

constexpr int64_t kSmallDim = 32;
// Below this many flops per thread, waking another thread costs more than it saves.
constexpr double kMinFlopsPerThread = 1.5e6;

// Grow-only 64-byte aligned scratch, one per thread, so steady-state calls
// allocate nothing.
class AlignedBuffer {
public:
    ~AlignedBuffer() { std::free(ptr_); }
    template <class T>
    T* get(size_t count) {
        const size_t bytes = (count * sizeof(T) + 4095) / 4096 * 4096;
        if (bytes > cap_) {
            std::free(ptr_);
            ptr_ = std::aligned_alloc(64, bytes);
            if (ptr_ == nullptr) {
                cap_ = 0;
                throw std::bad_alloc();
            }
            cap_ = bytes;
        }
        return static_cast<T*>(ptr_);
    }

private:
    void* ptr_ = nullptr;
    size_t cap_ = 0;
};

thread_local AlignedBuffer t_pack_a;
thread_local AlignedBuffer t_pack_b;

template <class T>
const GemmKernels<T>& kernels();

template <>
const GemmKernels<float>& kernels<float>() {
    switch (simd_path()) {
        case SimdPath::avx512: return sgemm_kernels_avx512();
        case SimdPath::avx2: return sgemm_kernels_avx2();
        default: return sgemm_kernels_generic();
    }
}

template <>
const GemmKernels<double>& kernels<double>() {
    switch (simd_path()) {
        case SimdPath::avx512: return dgemm_kernels_avx512();
        case SimdPath::avx2: return dgemm_kernels_avx2();
        default: return dgemm_kernels_generic();
    }
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// C = beta * C, the whole answer when k == 0 or alpha == 0 (A and B unread).
template <class T>
void scale_c(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
    for (int64_t i = 0; i < m; ++i) {
        T* row = c + i * ldc;
        if (beta == T(0)) std::fill(row, row + n, T(0));
        else if (beta != T(1))
            for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
}

int threads_for(double flops, int64_t tiles) {
    const int64_t by_work = static_cast<int64_t>(flops / kMinFlopsPerThread);
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({num_threads(), by_work, tiles})));
}

template <class T>
struct Problem {
    bool trans_a, trans_b;
    int64_t m, n, k;
    T alpha;
    const T* a;
    int64_t lda;
    const T* b;
    int64_t ldb;
    T beta;
    T* c;
    int64_t ldc;
    const GemmEpilogue<T>* ep;
};

// ------------------------------------------------------------ small path

// Runs `tile(t)` for t in [0, count), in parallel only when there is enough work.
template <class F>
void for_tiles(int64_t count, double flops, F&& tile) {
    const int nt = threads_for(flops, count);
    if (nt == 1) {
        for (int64_t t = 0; t < count; ++t) tile(t);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t t = 0; t < count; ++t) tile(t);
}

template <class T>
void small_gemm(const GemmKernels<T>& ks, const Problem<T>& p) {
    const double flops = 2.0 * p.m * p.n * p.k;
    const GemmEpilogue<T>* ep = p.ep;
    if (!p.trans_b) {
        // op(B) rows are contiguous: the direct kernel reads them in place and
        // broadcasts op(A) elements from wherever they are.
        const int64_t a_rs = p.trans_a ? 1 : p.lda, a_cs = p.trans_a ? p.lda : 1;
        const int64_t mt = ceil_div(p.m, ks.mr), nt = ceil_div(p.n, ks.nr);
        for_tiles(mt * nt, flops, [&](int64_t t) {
            // Consecutive tiles share a column panel of B, which stays in L1.
            const int64_t i0 = (t % mt) * ks.mr, j0 = (t / mt) * ks.nr;
            const int mr = static_cast<int>(std::min<int64_t>(ks.mr, p.m - i0));
            const int nr = static_cast<int>(std::min<int64_t>(ks.nr, p.n - j0));
            T* c = p.c + i0 * p.ldc + j0;
            ks.ukernel_direct(p.k, p.a + i0 * a_rs, a_rs, a_cs, p.b + j0, p.ldb, c, p.ldc,
                              p.alpha, p.beta, mr, nr);
            if (ep) ep->fn(ep->ctx, i0, j0, mr, nr, c, p.ldc);
        });
    } else if (p.trans_a) {
        // C^T = B A with B (n x k) and A (k x m) as stored: the direct kernel
        // on the transposed problem, each tile transposed on its way to C.
        const int64_t mt = ceil_div(p.n, ks.mr), nt = ceil_div(p.m, ks.nr);
        for_tiles(mt * nt, flops, [&](int64_t t) {
            alignas(64) T tile[32 * 64];  // >= MR * NR of every table entry
            const int64_t j0 = (t % mt) * ks.mr, i0 = (t / mt) * ks.nr;
            const int rows = static_cast<int>(std::min<int64_t>(ks.mr, p.n - j0));
            const int cols = static_cast<int>(std::min<int64_t>(ks.nr, p.m - i0));
            ks.ukernel_direct(p.k, p.b + j0 * p.ldb, p.ldb, 1, p.a + i0, p.lda, tile, ks.nr, T(1),
                              T(0), rows, cols);
            T* c = p.c + i0 * p.ldc + j0;
            for (int ci = 0; ci < cols; ++ci) {
                T* crow = c + ci * p.ldc;
                for (int rj = 0; rj < rows; ++rj) {
                    const T x = p.alpha * tile[rj * ks.nr + ci];
                    crow[rj] = p.beta == T(0) ? x : x + p.beta * crow[rj];
                }
            }
            if (ep) ep->fn(ep->ctx, i0, j0, cols, rows, c, p.ldc);
        });
    } else {
        // A (m x k) and B (n x k): both contiguous along k, dot products.
        const int64_t mt = ceil_div(p.m, ks.dot_mr), nt = ceil_div(p.n, ks.dot_nr);
        for_tiles(mt * nt, flops, [&](int64_t t) {
            const int64_t i0 = (t / nt) * ks.dot_mr, j0 = (t % nt) * ks.dot_nr;
            const int mr = static_cast<int>(std::min<int64_t>(ks.dot_mr, p.m - i0));
            const int nr = static_cast<int>(std::min<int64_t>(ks.dot_nr, p.n - j0));
            T* c = p.c + i0 * p.ldc + j0;
            ks.dot(p.k, p.a + i0 * p.lda, p.lda, p.b + j0 * p.ldb, p.ldb, c, p.ldc, p.alpha,
                   p.beta, mr, nr);
            if (ep) ep->fn(ep->ctx, i0, j0, mr, nr, c, p.ldc);
        });
    }
}

// ------------------------------------------------------------ blocked path

// Splits `nt` threads into tm x tn to minimise the most tiles any thread gets;
// ties go to more row groups, because column groups pack A~ redundantly.
void thread_grid(int nt, int64_t row_panels, int64_t col_panels, int& tm, int& tn) {
    int64_t best = -1;
    for (int r = 1; r <= nt; ++r) {
        if (nt % r != 0) continue;
        const int c = nt / r;
        const int64_t load = ceil_div(row_panels, r) * ceil_div(col_panels, c);
        if (best < 0 || load <= best) {
            best = load;
            tm = r;
            tn = c;
        }
    }
}

template <class T>
void blocked_gemm(const GemmKernels<T>& ks, const Problem<T>& p) {
    const int64_t MR = ks.mr, NR = ks.nr, MC = ks.mc, KC = ks.kc, NC = ks.nc;
    const int64_t nc_max = std::min<int64_t>(NC, ceil_div(p.n, NR) * NR);
    const int64_t kc_max = std::min<int64_t>(KC, p.k);
    T* pack_b = t_pack_b.get<T>(static_cast<size_t>(nc_max * kc_max));
    const int64_t row_panels = ceil_div(p.m, MR);
    const int nt_req = threads_for(2.0 * p.m * p.n * p.k, row_panels * ceil_div(nc_max, NR));

#pragma omp parallel num_threads(nt_req)
    {
        const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
        T* pack_a = t_pack_a.get<T>(static_cast<size_t>(MC * kc_max));
        int tm = 1, tn = 1;
        thread_grid(nt, row_panels, ceil_div(nc_max, NR), tm, tn);
        const int ti = tid / tn, tj = tid % tn;
        const int64_t i_begin = row_panels * ti / tm * MR;
        const int64_t i_end = std::min(p.m, row_panels * (ti + 1) / tm * MR);

        for (int64_t jc = 0; jc < p.n; jc += NC) {
            const int64_t nc = std::min(NC, p.n - jc);
            const int64_t col_panels = ceil_div(nc, NR);
            const int64_t jr_begin = col_panels * tj / tn, jr_end = col_panels * (tj + 1) / tn;
            for (int64_t pc = 0; pc < p.k; pc += KC) {
                const int64_t kc = std::min(KC, p.k - pc);
                const bool last_k = pc + kc == p.k;
                const T beta = pc == 0 ? p.beta : T(1);
                // Every thread packs a share of B~'s micro-panels.
                const int64_t pb0 = col_panels * tid / nt, pb1 = col_panels * (tid + 1) / nt;
                if (pb1 > pb0)
                    ks.pack_b(p.trans_b, p.b, p.ldb, pc, kc, jc + pb0 * NR,
                              std::min(nc - pb0 * NR, (pb1 - pb0) * NR), pack_b + pb0 * NR * kc);
#pragma omp barrier
                for (int64_t ic = i_begin; ic < i_end; ic += MC) {
                    const int64_t mc = std::min(MC, i_end - ic);
                    ks.pack_a(p.trans_a, p.a, p.lda, ic, mc, pc, kc, pack_a);
                    for (int64_t jr = jr_begin; jr < jr_end; ++jr) {
                        const int64_t j0 = jc + jr * NR;
                        const int nr = static_cast<int>(std::min(NR, p.n - j0));
                        const T* bp = pack_b + jr * NR * kc;
                        for (int64_t ir = 0; ir < mc; ir += MR) {
                            const int mr = static_cast<int>(std::min(MR, mc - ir));
                            T* c = p.c + (ic + ir) * p.ldc + j0;
                            ks.ukernel(kc, pack_a + ir * kc, bp, c, p.ldc, p.alpha, beta, mr, nr);
                            if (last_k && p.ep) p.ep->fn(p.ep->ctx, ic + ir, j0, mr, nr, c, p.ldc);
                        }
                    }
                }
                // B~ is overwritten by the next pc / jc step.
#pragma omp barrier
            }
        }
    }
}

}  // namespace

template <class T>
void gemm_ex(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
             int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc,
             const GemmEpilogue<T>* epilogue) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == T(0)) {
        scale_c(m, n, beta, c, ldc);
        if (epilogue)
            epilogue->fn(epilogue->ctx, 0, 0, m, n, c, ldc);
        return;
    }
    const Problem<T> p{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epilogue};
    const GemmKernels<T>& ks = kernels<T>();
    const bool small_out = std::min(m, n) <= kSmallDim;
    // Small k is cheap to run in place except for A (m x k) with B^T (n x k),
    // where only dot products fit, and those do not pay off for short k.
    const bool small_k = k <= kSmallDim && (trans_a || !trans_b);
    if (small_out || small_k) small_gemm(ks, p);
    else blocked_gemm(ks, p);
}

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
    gemm_ex<T>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nullptr);
}

const char* gemm_kernel_name(bool is_double) {
    return is_double ? kernels<double>().name : kernels<float>().name;
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);
template void gemm_ex<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                             const float*, int64_t, float, float*, int64_t,
                             const GemmEpilogue<float>*);
template void gemm_ex<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                              int64_t, const double*, int64_t, double, double*, int64_t,
                              const GemmEpilogue<double>*);

}  // namespace pk
