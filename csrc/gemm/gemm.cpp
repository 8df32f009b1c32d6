// GEMM driver: C = alpha * op(A) op(B) + beta * C, row-major (contract in gemm.h).
//
// Large problems follow the BLIS loop nest (Goto & van de Geijn, "Anatomy of
// High-Performance Matrix Multiplication", ACM TOMS 2008; BLIS, TOMS 2015):
//   for jc in n by NC * tn:       B~ block, KC x NC per column group, in L2
//     for pc in k by KC:          pack B~
//       for ic in m by MC:        A~ block (MC x KC) private to a thread
//         pack A~
//         for ir in MC by MR:     A~ micro-panel (KC x MR) stays in L1
//           for jr in NC by NR:   micro-kernel on an MR x NR tile of C,
//                                 B~ micro-panels streaming from L2
// (BLIS's register tile is MR-vector x NR-broadcast; ours is the transpose, a
// few broadcast rows of A by two vectors of B, so the roles of the two packed
// operands in the cache hierarchy are swapped too: the narrow A~ micro-panel
// is the L1-resident one. Measured about 20% faster than the BLIS order here.)
// Transposes are absorbed by the packing routines. Threads split the MR x NR
// tile grid of each jc block in a 2D grid (tm row groups x tn column groups)
// chosen for balance. With one row group each thread packs and uses only its
// own B~ panels; A~ is then packed once by all threads together when it is
// small (M <= ~500 for float32), else by each thread; with several row
// groups, all threads pack the shared B~ together, with a barrier before and
// after its use. k is never split, so
// every element of C is summed in the same order (KC blocks in turn, p
// ascending inside) whatever the thread count.
//
// Small problems (an output dimension <= 32, or k <= 32 where no operand needs
// transposing) skip packing: the direct micro-kernel reads A and B in place,
// and op(A) = A, op(B) = B^T uses dot products along the shared contiguous k.
// Which path runs depends only on the shapes and flags, never on threads.
#include <algorithm>
#include <cstdlib>
#include <new>

#include "../runtime/cpu_features.h"
#include "../runtime/threads.h"
#include "config.h"
#include "gemm.h"
#include "gemm_epilogue.h"

#ifdef _OPENMP
#include <omp.h>
#else
inline int omp_get_num_threads() { return 1; }
inline int omp_get_thread_num() { return 0; }
#endif

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

// a_row_sums[i] = sum_p op(A)[i, p], p ascending, straight from A.
template <class T>
void direct_row_sums(bool trans_a, const T* a, int64_t lda, int64_t m, int64_t k, T* sums) {
    if (trans_a) {
        std::fill(sums, sums + m, T(0));
        for (int64_t p = 0; p < k; ++p)
            for (int64_t i = 0; i < m; ++i) sums[i] += a[p * lda + i];
        return;
    }
    for (int64_t i = 0; i < m; ++i) {
        T s = T(0);
        for (int64_t p = 0; p < k; ++p) s += a[i * lda + p];
        sums[i] = s;
    }
}

// Adds the row sums of a packed A~ block (mc rows, kc k indices) to sums[0:mc],
// or stores them when `first`. Per row: p ascending inside the block.
template <class T>
void packed_row_sums(const T* packed, int64_t mr, int64_t mc, int64_t kc, bool first, T* sums) {
    T acc[64];  // >= MR of every table entry
    for (int64_t ir = 0; ir < mc; ir += mr, packed += mr * kc) {
        const int64_t rows = std::min(mr, mc - ir);
        std::fill(acc, acc + mr, T(0));
        for (int64_t p = 0; p < kc; ++p)
            for (int64_t r = 0; r < mr; ++r) acc[r] += packed[p * mr + r];
        for (int64_t r = 0; r < rows; ++r) sums[ir + r] = first ? acc[r] : sums[ir + r] + acc[r];
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
    if (ep && ep->a_row_sums) direct_row_sums(p.trans_a, p.a, p.lda, p.m, p.k, ep->a_row_sums);
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
            if (ep && ep->fn) ep->fn(ep->ctx, i0, j0, mr, nr, c, p.ldc);
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
            if (ep && ep->fn) ep->fn(ep->ctx, i0, j0, cols, rows, c, p.ldc);
        });
    } else {
        // A (m x k) and B (n x k): both contiguous along k, dot products.
        // Work unit: a strip of dot_mr rows by up to kDotChunk columns, so the
        // epilogue runs on whole rows of narrow outputs (n = 10), not per tile.
        constexpr int64_t kDotChunk = 64;
        const int64_t chunk = std::max<int64_t>(1, kDotChunk / ks.dot_nr) * ks.dot_nr;
        const int64_t mt = ceil_div(p.m, ks.dot_mr), nt = ceil_div(p.n, chunk);
        for_tiles(mt * nt, flops, [&](int64_t t) {
            const int64_t i0 = (t / nt) * ks.dot_mr, jc = (t % nt) * chunk;
            const int mr = static_cast<int>(std::min<int64_t>(ks.dot_mr, p.m - i0));
            const int64_t j_end = std::min(p.n, jc + chunk);
            for (int64_t j0 = jc; j0 < j_end; j0 += ks.dot_nr) {
                const int nr = static_cast<int>(std::min<int64_t>(ks.dot_nr, j_end - j0));
                ks.dot(p.k, p.a + i0 * p.lda, p.lda, p.b + j0 * p.ldb, p.ldb,
                       p.c + i0 * p.ldc + j0, p.ldc, p.alpha, p.beta, mr, nr);
            }
            if (ep && ep->fn) ep->fn(ep->ctx, i0, jc, mr, j_end - jc, p.c + i0 * p.ldc + jc, p.ldc);
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

// Bytes of A~ (all rows, one KC block) under which column groups share one
// packed copy of it instead of each packing its own: it then stays in every
// core's L2 beside that core's B~ panels (half of it comes from the other
// core's cache, a quarter of what sharing B~ would move for M = 256).
constexpr int64_t kSharedABytes = 512 * 1024;

template <class T>
void blocked_gemm(const GemmKernels<T>& ks, const Problem<T>& p) {
    const int64_t MR = ks.mr, NR = ks.nr, MC = ks.mc, KC = ks.kc;
    const int64_t kc_max = std::min<int64_t>(KC, p.k);
    const int64_t row_panels = ceil_div(p.m, MR), all_col_panels = ceil_div(p.n, NR);
    const int nt_req = threads_for(2.0 * p.m * p.n * p.k, row_panels * all_col_panels);
    // A jc block holds NC columns per column group (the table's NC is what one
    // core's L2 holds), so at most NC * nt_req columns, plus room for a fixed
    // slot of ceil(panels / tn) panels per group.
    const int64_t max_block_panels = std::min(all_col_panels, ceil_div(ks.nc, NR) * nt_req);
    T* pack_b = t_pack_b.get<T>(static_cast<size_t>((max_block_panels + nt_req) * NR * kc_max));
    // Column groups share A~ (packed by all threads together, two buffers
    // used in turn so one barrier per k block suffices) when it is small.
    const int64_t a_block = row_panels * MR * kc_max;
    bool share_a = nt_req > 1 && a_block * static_cast<int64_t>(sizeof(T)) <= kSharedABytes;
    if (share_a) {
        // Only where splitting the columns alone balances as well as the best grid.
        int tm = 1, tn = 1;
        thread_grid(nt_req, row_panels, all_col_panels, tm, tn);
        share_a = row_panels * ceil_div(all_col_panels, nt_req) <=
                  ceil_div(row_panels, tm) * ceil_div(all_col_panels, tn);
    }
    T* shared_a = share_a ? t_pack_a.get<T>(static_cast<size_t>(2 * a_block)) : nullptr;

#pragma omp parallel num_threads(nt_req)
    {
        const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
        int tm = 1, tn = 1;
        if (share_a && nt == nt_req) tn = nt;
        else thread_grid(nt, row_panels, all_col_panels, tm, tn);
        const bool sharing_a = share_a && tn == nt;
        T* pack_a = sharing_a ? nullptr : t_pack_a.get<T>(static_cast<size_t>(MC * kc_max));
        const int64_t NC = ceil_div(ks.nc, NR) * NR * tn;
        const int64_t max_col_panels = std::min(all_col_panels, NC / NR);
        const int ti = tid / tn, tj = tid % tn;
        const int64_t i_begin = row_panels * ti / tm * MR;
        const int64_t i_end = std::min(p.m, row_panels * (ti + 1) / tm * MR);
        int64_t step = 0;

        for (int64_t jc = 0; jc < p.n; jc += NC) {
            const int64_t nc = std::min(NC, p.n - jc);
            const int64_t col_panels = ceil_div(nc, NR);
            const int64_t jr_begin = col_panels * tj / tn, jr_end = col_panels * (tj + 1) / tn;
            for (int64_t pc = 0; pc < p.k; pc += KC, ++step) {
                const int64_t kc = std::min(KC, p.k - pc);
                const bool last_k = pc + kc == p.k;
                const T beta = pc == 0 ? p.beta : T(1);
                // B~ micro-panel jr is at slot + (jr - first) * NR * kc.
                T* slot = pack_b;
                int64_t first = 0;
                if (tm == 1) {
                    // Column groups only: each thread packs exactly the B~
                    // panels it multiplies, into its own slot.
                    slot = pack_b + tj * ceil_div(max_col_panels, tn) * NR * kc_max;
                    first = jr_begin;
                    if (jr_end > jr_begin)
                        ks.pack_b(p.trans_b, p.b, p.ldb, pc, kc, jc + jr_begin * NR,
                                  std::min(nc - jr_begin * NR, (jr_end - jr_begin) * NR), slot);
                    if (sharing_a) {
                        // This thread's share of the row panels of A~; the
                        // buffer of two steps ago is free, since everybody
                        // passed the barrier of the previous step.
                        pack_a = shared_a + (step & 1) * a_block;
                        const int64_t rp0 = row_panels * tid / nt, rp1 = row_panels * (tid + 1) / nt;
                        if (rp1 > rp0) {
                            const int64_t mc = std::min(p.m - rp0 * MR, (rp1 - rp0) * MR);
                            ks.pack_a(p.trans_a, p.a, p.lda, rp0 * MR, mc, pc, kc,
                                      pack_a + rp0 * MR * kc);
                            if (jc == 0 && p.ep && p.ep->a_row_sums)
                                packed_row_sums(pack_a + rp0 * MR * kc, MR, mc, kc, pc == 0,
                                                p.ep->a_row_sums + rp0 * MR);
                        }
#pragma omp barrier
                    }
                } else {
                    // Row groups share B~: every thread packs a share of it.
                    const int64_t pb0 = col_panels * tid / nt, pb1 = col_panels * (tid + 1) / nt;
                    if (pb1 > pb0)
                        ks.pack_b(p.trans_b, p.b, p.ldb, pc, kc, jc + pb0 * NR,
                                  std::min(nc - pb0 * NR, (pb1 - pb0) * NR), pack_b + pb0 * NR * kc);
#pragma omp barrier
                }
                int64_t mc = 0;
                for (int64_t ic = i_begin; ic < i_end; ic += mc) {
                    mc = sharing_a ? i_end - ic : std::min(MC, i_end - ic);
                    if (!sharing_a) {
                        ks.pack_a(p.trans_a, p.a, p.lda, ic, mc, pc, kc, pack_a);
                        if (tj == 0 && jc == 0 && p.ep && p.ep->a_row_sums)
                            packed_row_sums(pack_a, MR, mc, kc, pc == 0, p.ep->a_row_sums + ic);
                    }
                    const T* a_panels = sharing_a ? pack_a + ic * kc : pack_a;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const int mr = static_cast<int>(std::min(MR, mc - ir));
                        for (int64_t jr = jr_begin; jr < jr_end; ++jr) {
                            const int64_t j0 = jc + jr * NR;
                            const int nr = static_cast<int>(std::min(NR, p.n - j0));
                            const T* bp = slot + (jr - first) * NR * kc;
                            T* c = p.c + (ic + ir) * p.ldc + j0;
                            ks.ukernel(kc, a_panels + ir * kc, bp, c, p.ldc, p.alpha, beta, mr, nr);
                        }
                        // The epilogue on this thread's whole row strip of
                        // the block: long rows for the vector loops, one call
                        // per strip, while the strip is still in L1/L2.
                        if (last_k && p.ep && p.ep->fn && jr_end > jr_begin) {
                            const int64_t j0 = jc + jr_begin * NR;
                            const int64_t j1 = std::min(p.n, jc + jr_end * NR);
                            p.ep->fn(p.ep->ctx, ic + ir, j0, mr, j1 - j0,
                                     p.c + (ic + ir) * p.ldc + j0, p.ldc);
                        }
                    }
                }
                // A shared B~ is overwritten by the next pc / jc step.
                if (tm > 1) {
#pragma omp barrier
                }
            }
        }
    }
}

}  // namespace

template <class T>
void gemm_ex(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
             int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc,
             const GemmEpilogue<T>* epilogue) {
    if (m <= 0) return;
    if (n <= 0) {
        // No C, but the row sums of op(A) may still be asked for.
        if (epilogue && epilogue->a_row_sums)
            direct_row_sums(trans_a, a, lda, m, std::max<int64_t>(k, 0), epilogue->a_row_sums);
        return;
    }
    if (k <= 0 || alpha == T(0)) {
        scale_c(m, n, beta, c, ldc);
        if (epilogue && epilogue->a_row_sums)
            direct_row_sums(trans_a, a, lda, m, std::max<int64_t>(k, 0), epilogue->a_row_sums);
        if (epilogue && epilogue->fn) epilogue->fn(epilogue->ctx, 0, 0, m, n, c, ldc);
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
