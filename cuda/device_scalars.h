// A handful of float64 scalars that kernels compute on the device and the host
// reads back once (the reduced loss, its denominator, the first invalid
// label): allocated stream-ordered, read with one copy and one stream
// synchronisation. Under the emulator device memory is host memory.
#pragma once

#include "pk_cuda.h"

namespace pk {

class DeviceScalars {
public:
    static constexpr int kCount = 8;

    explicit DeviceScalars(void* stream) : stream_(static_cast<cudaStream_t>(stream)) {
#if defined(__CUDACC__)
        check_cuda(cudaMallocAsync(reinterpret_cast<void**>(&dev_), sizeof(double) * kCount, stream_),
                   "cudaMallocAsync");
#else
        dev_ = host_;
#endif
    }
    ~DeviceScalars() {
#if defined(__CUDACC__)
        cudaFreeAsync(dev_, stream_);
#endif
    }
    DeviceScalars(const DeviceScalars&) = delete;
    DeviceScalars& operator=(const DeviceScalars&) = delete;

    double* device() { return dev_; }

    // Waits for the stream and returns the scalars.
    const double* read() {
#if defined(__CUDACC__)
        check_cuda(cudaMemcpyAsync(host_, dev_, sizeof(double) * kCount, cudaMemcpyDeviceToHost,
                                   stream_),
                   "cudaMemcpyAsync");
        check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
#endif
        return host_;
    }

private:
    cudaStream_t stream_;
    double* dev_ = nullptr;
    double host_[kCount] = {};
};

}  // namespace pk
