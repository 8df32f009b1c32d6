// Portable GEMM kernels: the templates of kernel_impl.h on a one-lane "vector"
// (plain scalars), the reference that the SIMD tables override and the path
// for CPUs with neither AVX-512 nor AVX2. Tile 4x8: 32 scalar accumulators,
// which the compiler may still pack into SSE2 registers.
#include "config.h"
#include "kernel_impl.h"

namespace pk {
namespace {

template <class TT>
struct Scalar {
    using T = TT;
    using V = TT;
    using M = bool;
    static constexpr int W = 1;
    static V zero() { return V(0); }
    static V set1(T x) { return x; }
    static V load(const T* p) { return *p; }
    static V load_mask(const T* p, M m) { return m ? *p : V(0); }
    static V bcast(const T* p) { return *p; }
    // Multiply then add (two roundings), as a CPU without FMA computes it.
    static V fma(V a, V b, V c) { return a * b + c; }
    static V mul(V a, V b) { return a * b; }
    static void store(T* p, V v) { *p = v; }
    static void store_mask(T* p, V v, M m) {
        if (m) *p = v;
    }
    static M mask(int64_t n) { return n > 0; }
    static T reduce(V v) { return v; }
    static void reduce4(V a, V b, V c, V d, T* out) {
        out[0] = a;
        out[1] = b;
        out[2] = c;
        out[3] = d;
    }
};

constexpr int kMR = 4, kNR = 8;

template <class T>
void gemm_generic_4x8(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta,
                      int mr, int nr) {
    ukernel_packed<Scalar<T>, kMR, kNR>(kc, a, b, c, ldc, alpha, beta, mr, nr);
}
template <class T>
void gemm_generic_4x8_direct(int64_t k, const T* a, int64_t a_rs, int64_t a_cs, const T* b,
                             int64_t ldb, T* c, int64_t ldc, T alpha, T beta, int mr, int nr) {
    ukernel_direct<Scalar<T>, kMR, kNR>(k, a, a_rs, a_cs, b, ldb, c, ldc, alpha, beta, mr, nr);
}
template <class T>
void gemm_generic_dot_2x4(int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                          int64_t ldc, T alpha, T beta, int mr, int nr) {
    dot_kernel<Scalar<T>, 2, 4>(k, a, lda, b, ldb, c, ldc, alpha, beta, mr, nr);
}
template <class T>
void gemm_generic_pack_a(bool trans, const T* a, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
                         int64_t kc, T* dst) {
    pack_a<T, kMR>(trans, a, lda, i0, mc, p0, kc, dst);
}
template <class T>
void gemm_generic_pack_b(bool trans, const T* b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,
                         int64_t nc, T* dst) {
    pack_b<T, kNR>(trans, b, ldb, p0, kc, j0, nc, dst);
}

template <class T>
GemmKernels<T> generic_table(const char* name) {
    return GemmKernels<T>{name,
                          kMR, kNR,
                          /*mc=*/128, /*kc=*/256, /*nc=*/1024,
                          2, 4,
                          gemm_generic_4x8<T>, gemm_generic_4x8_direct<T>,
                          gemm_generic_dot_2x4<T>, gemm_generic_pack_a<T>, gemm_generic_pack_b<T>};
}

}  // namespace

const GemmKernels<float>& sgemm_kernels_generic() {
    static const GemmKernels<float> k = generic_table<float>("sgemm_generic_4x8");
    return k;
}

const GemmKernels<double>& dgemm_kernels_generic() {
    static const GemmKernels<double> k = generic_table<double>("dgemm_generic_4x8");
    return k;
}

double fma_loop_generic(int64_t iters) { return fma_loop<Scalar<float>, 8>(iters); }

}  // namespace pk
