// Device discovery for pk.backends(): under the emulator there is one
// "device", the host; under CUDA the runtime is asked, and its errors (no
// driver, no device) become a reason string instead of an exception, so that
// importing pykernels never fails for lack of a GPU.
#include "pk_cuda.h"

#include "device_info.h"

namespace pk {
namespace cuda_ops {

#if defined(__CUDACC__)

DeviceInfo device_info() {
    DeviceInfo info;
    cudaRuntimeGetVersion(&info.runtime_version);
    cudaDriverGetVersion(&info.driver_version);
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        info.error = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
        cudaGetLastError();  // clear the sticky error for later calls
        return info;
    }
    if (count == 0) info.error = "no CUDA device found";
    for (int d = 0; d < count; ++d) {
        cudaDeviceProp prop{};
        if (cudaGetDeviceProperties(&prop, d) == cudaSuccess)
            info.names.push_back(std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
                                 std::to_string(prop.minor) + ")");
    }
    return info;
}

void synchronize() { check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

#else

DeviceInfo device_info() {
    DeviceInfo info;
    info.emulated = true;
    info.names.push_back("SIMT emulator on the host CPU");
    return info;
}

void synchronize() {}  // emulated launches complete before they return

#endif

}  // namespace cuda_ops
}  // namespace pk
