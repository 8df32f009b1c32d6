// Host entry points of the emulator's test kernels (simt_test_kernels.cu),
// callable from code that does not include the emulator.
#pragma once

#include <cstdint>

namespace simt_test {

enum ShuffleOp { kShfl = 0, kShflUp = 1, kShflDown = 2, kShflXor = 3, kBallot = 4 };

void set_num_threads(int n);
int get_num_threads();

// Per-block sums of `in` (blocks * 256 values) by a shared-memory tree.
void block_reduce(const float* in, float* out, int blocks, bool with_barriers);
// out[i] = the shuffle `op` of in[i] with argument `arg` and `width`, for one
// block of `threads` threads; type_code 0 int, 1 float, 2 double, 3 long long.
void shuffle(int op, int type_code, const void* in, void* out, int threads, int arg, int width);
// Per-block error counts of blocks checking their static and dynamic shared
// memory across barriers; os_threads[b] = the pool thread that ran block b.
void shared_isolation(int blocks, int* errors, int* os_threads);
// os_threads[b] = the pool thread that ran block b (each block takes a while).
void record_os_threads(int blocks, int* os_threads);
// Every thread adds 1 (or its id for max/min) to the totals.
void atomics(int blocks, int threads, float* fsum, double* dsum, int* isum,
             unsigned long long* usum, int* imax, unsigned int* umax, int* imin);
// Reads dynamic shared memory before writing it.
void read_uninitialised(int threads, float* fout, int* iout);
// __syncthreads_count / _and / _or of threadIdx.x % k == 0 in a block of
// `threads`; threads >= `returning` return before the barrier.
void syncthreads_reductions(int threads, int k, int returning, int* out3);
// out[linear thread id over the grid] = thread and block coordinates packed.
void coordinates(int gx, int gy, int bx, int by, int bz, std::int64_t* out);
// Kernels that must fail; `which`: 0 too many threads, 1 deadlock between
// __syncthreads and a shuffle, 2 a throw in one block, 3 shuffle and ballot
// met by the same warp, 4 too much dynamic shared memory.
void failing_launch(int which);
// Seconds for `blocks` blocks of `threads` threads, each doing `iterations`
// __syncthreads (mode 0) or shuffles (mode 1).
double barrier_benchmark(int blocks, int threads, int iterations, int mode);

#if defined(PK_SANITIZE)
// Launches a kernel that reads in[n] of an n-element heap buffer (1 <= n < 1024):
// AddressSanitizer must abort the process (sanitizer_canary.cu).
float sanitizer_canary(int n);
#endif

}  // namespace simt_test
