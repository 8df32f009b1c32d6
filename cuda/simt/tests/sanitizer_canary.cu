// A kernel that reads one element past the end of its input, built only into
// sanitizer builds (PYKERNELS_SANITIZE=ON). The sanitizer step of CI runs it in
// a child process and requires AddressSanitizer to stop it with a
// heap-buffer-overflow report: proof that an out-of-bounds read inside an
// emulated kernel does not go unnoticed (a sanitizer run that reports nothing
// could also be one that was never instrumented).
#if defined(PK_SANITIZE)
#include "pk_cuda.h"

#include <vector>

#include "simt_test_kernels.h"

namespace {

__global__ void read_past_end_kernel(const float* in, float* out, int n) {
    const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    if (i <= n) out[0] += in[i];  // the bug: `<=` reads in[n]
}

}  // namespace

namespace simt_test {

float sanitizer_canary(int n) {
    std::vector<float> in(static_cast<std::size_t>(n), 1.0f);
    float out = 0.0f;
    pk::launch(read_past_end_kernel, dim3(1), dim3(static_cast<unsigned int>(n) + 1), 0, nullptr,
               in.data(), &out, n);
    return out;
}

}  // namespace simt_test
#endif
