// GEMM on the GPU, row-major: C[m, n] = alpha * sum_k op(A)[m, k] op(B)[k, n] + beta * C[m, n]
// (beta == 0: C is not read), op = identity or transpose, float and double.
// Reference semantics: torch.addmm(C, op(A), op(B), beta=beta, alpha=alpha).
//
// The kernel is the classic shared-memory + register tiled SGEMM; the steps
// follow Simon Boehm, "How to optimize a CUDA matmul kernel for cuBLAS-like
// performance" (siboehm.com, 2022) and the threadblock/thread tile
// decomposition of NVIDIA CUTLASS (docs/efficient_gemm.md); see also Volkov &
// Demmel, "Benchmarking GPUs to tune dense linear algebra" (SC08). The
// machinery lives in gemm_tile.h (shared with cuda/linear.cu); this file picks
// the instance for each call.
//
// The ladder (each step kept only as a description: one copy of the kernel):
//   1. one thread per C element, loads from global memory: ~1-2% of peak
//      (every FMA needs 8 bytes from L1/L2);
//   2. shared-memory block tiles (32 x 32): ~10%;
//   3. 1-D register tiling (8 outputs per thread): ~30%;
//   4. previous version of this file: 64 x 64 x 16 tiles, 4 x 4 outputs per
//      thread, double-buffered shared memory, scalar loads: ~40-50%;
//   5. this version: 128 x 128 x 8 tiles (float; 128 x 64 for double), 8 x 8
//      outputs per thread (8 x 4 for double: 64 accumulators in 128 registers
//      would leave too few for the rest), 16-byte vector loads from global
//      memory (float4 / double2) along each operand's contiguous dimension
//      when the pointer and leading dimension allow it (tested on the host,
//      which picks the template instance; guarded scalar loads otherwise),
//      16-byte fragment reads from k-major shared memory, padded rows so the
//      transposing stores do not conflict on banks, double buffering (the next
//      slice is loaded into registers while this one is multiplied; one
//      barrier per slice), grouped block order (8 tile rows at a time) for L2
//      reuse, vector stores of C. Small problems (fewer than ~one wave of
//      large tiles) use 64 x 64 x 16 tiles with 4 x 4 per thread.
// Not done (next steps toward cuBLAS): warp tiles (each warp a 64 x 32
// sub-tile, for fewer shared-memory wavefronts per FMA), cp.async / TMA
// multi-stage pipelines instead of the register round trip, split-K for small
// m x n with large k, tensor cores (TF32 would change the numerics).
//
// Napkin math, float, m = n = k = 4096 on an H100 SXM (~60 TFLOP/s FP32
// without tensor cores, 3.35 TB/s HBM3, ~50 MB L2):
//   flops        2 m n k = 137 GFLOP -> 2.3 ms at peak;
//   compulsory   3 * 64 MiB = 201 MB -> 0.06 ms: arithmetic intensity 680
//                flop/byte, far above the ~18 flop/byte ridge point;
//   L2 -> SM     each block reads (BM + BN) * BK * 4 = 8 KiB per slice for
//                2 BM BN BK = 262k flops (32 flop/byte): 4.3 GB in total,
//                ~0.5 ms at L2 bandwidth, hidden behind the math;
//   shared mem   per k step a warp issues 64 FFMA per thread (16 clocks of an
//                SM's 4 FP32 pipes) and 4 LDS.128, 6 wavefronts (A's
//                fragments are broadcasts, B's 256 bytes are 2 each): the
//                FMA pipe, not shared memory, is the bottleneck.
// So the kernel is FMA-bound; with one 256-thread block of ~128 registers
// per thread, 2 blocks per SM (16 warps) hide the latency of the loads and
// barrier. Expected (not yet measured: no GPU here) 55-70% of peak, about
// 70-80% of cuBLAS SGEMM (cupy.matmul) at 4096^3 (Boehm reports ~90% of
// cuBLAS for this design with warp tiling on an A6000).
#include "pk_cuda.h"

#include "gemm_tile.h"
#include "matmul.h"

namespace pk {
namespace cuda_ops {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc, void* stream,
          int tile) {
    using namespace gemm_tile;
    DirectEpi<T> epi;
    epi.alpha = alpha;
    epi.beta = beta;
    epi.vec_c = vector_c(c, ldc);
    const Tile t = static_cast<Tile>(tile);
    if (trans_a) {
        if (trans_b) launch_gemm<T, true, true>(m, n, k, a, lda, b, ldb, c, ldc, epi, t, stream);
        else launch_gemm<T, true, false>(m, n, k, a, lda, b, ldb, c, ldc, epi, t, stream);
    } else {
        if (trans_b) launch_gemm<T, false, true>(m, n, k, a, lda, b, ldb, c, ldc, epi, t, stream);
        else launch_gemm<T, false, false>(m, n, k, a, lda, b, ldb, c, ldc, epi, t, stream);
    }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t, void*, int);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t, void*, int);

}  // namespace cuda_ops
}  // namespace pk
