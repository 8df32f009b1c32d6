// Host entry points of cuda/matmul.cu, callable from plain C++ (the binding):
// no CUDA types appear here, the stream travels as an opaque pointer.
#pragma once

#include <cstdint>

namespace pk {
namespace cuda_ops {

// Tile sizes of the GEMM kernels; automatic chooses from the shape (the
// others exist so tests can run both kernels on small shapes).
enum GemmTile : int { kTileAuto = 0, kTileLarge = 1, kTileSmall = 2 };

// Row-major C[m, n] = alpha * op(A) op(B) + beta * C, as pk::gemm on the CPU.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc, void* stream,
          int tile = kTileAuto);

}  // namespace cuda_ops
}  // namespace pk
