// The one header every cuda/*.cu file includes first.
//
// It lets a kernel file compile two ways: with nvcc for the GPU (module _cuda)
// and with the host C++ compiler against the SIMT emulator in cuda/simt/
// (module _cuda_emu). Kernels use only what this header and simt/simt.h provide:
//   - pk::launch(kernel, grid, block, dyn_smem_bytes, stream, args...)
//     replaces kernel<<<grid, block, smem, stream>>>(args...) and throws
//     std::runtime_error when the launch fails;
//   - pk::dynamic_shared<T>() returns the block's dynamic shared memory
//     (extern __shared__ cannot be rewritten by a macro, so both builds provide
//     it through this one function).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#else
#include <tuple>

#include "simt/simt.h"
#endif

#include "common/hd.h"

namespace pk {

#if defined(__CUDACC__)

template <class T>
__device__ __forceinline__ T* dynamic_shared() {
    extern __shared__ __align__(16) unsigned char pk_dynamic_smem[];
    return reinterpret_cast<T*>(pk_dynamic_smem);
}

inline void check_cuda(cudaError_t err, const char* what) {
    if (err != cudaSuccess)
        throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t dyn_smem,
            cudaStream_t stream, Args&&... args) {
    if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;  // nothing to do
    if (dyn_smem > 48 * 1024)
        check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(dyn_smem)),
                   "cudaFuncSetAttribute");
    kernel<<<grid, block, dyn_smem, stream>>>(static_cast<Params>(std::forward<Args>(args))...);
    check_cuda(cudaGetLastError(), "kernel launch");
}

#else  // SIMT emulator

template <class T>
inline T* dynamic_shared() {
    return reinterpret_cast<T*>(simt::dynamic_shared());
}

template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t dyn_smem,
            cudaStream_t /*stream*/, Args&&... args) {
    if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
    // Arguments are converted to the kernel's parameter types once, on the
    // host, and copied into every block, as a real launch does.
    auto body = [kernel](Params... p) { kernel(p...); };
    simt::launch(grid, block, dyn_smem,
                 [body, params = std::make_tuple(static_cast<Params>(std::forward<Args>(args))...)]() {
                     std::apply(body, params);
                 });
}

#endif

}  // namespace pk
