// Grid launch: checks the configuration, then runs blocks in parallel on an
// OpenMP pool, each block start to finish on one OS thread.

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "block.h"
#include "simt.h"

namespace simt {

namespace {

// Limits of current NVIDIA GPUs (compute capability 7.0 to 9.0).
constexpr unsigned int kMaxThreadsPerBlock = 1024;
constexpr unsigned int kMaxBlockXY = 1024;
constexpr unsigned int kMaxBlockZ = 64;
constexpr unsigned int kMaxGridX = 2147483647u;
constexpr unsigned int kMaxGridYZ = 65535;
constexpr std::size_t kMaxDynamicSmem = 227 * 1024;
constexpr unsigned char kSmemPoison = 0xFF;  // NaN as float, -1 as int

std::atomic<int> requested_threads{0};
thread_local int pool_index = 0;

struct Worker {
    detail::BlockRunner runner;
    unsigned char* smem;
    Worker() : smem(static_cast<unsigned char*>(std::aligned_alloc(64, kMaxDynamicSmem))) {
        if (!smem) throw std::bad_alloc();
    }
    ~Worker() { std::free(smem); }
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
};

Worker& this_worker() {
    static thread_local Worker worker;
    return worker;
}

std::string dims(dim3 d) {
    return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}

void validate(dim3 grid, dim3 block, std::size_t dyn_smem) {
    auto bad = [&](const std::string& why) {
        throw std::runtime_error("simt: invalid launch configuration (grid " + dims(grid) + ", block " +
                                 dims(block) + ", dynamic shared memory " + std::to_string(dyn_smem) +
                                 " bytes): " + why);
    };
    if (block.x == 0 || block.y == 0 || block.z == 0) bad("block dimensions must be positive");
    if (static_cast<unsigned long long>(block.x) * block.y * block.z > kMaxThreadsPerBlock)
        bad("at most 1024 threads per block");
    if (block.x > kMaxBlockXY || block.y > kMaxBlockXY || block.z > kMaxBlockZ)
        bad("block dimensions may be at most (1024,1024,64)");
    if (grid.x > kMaxGridX || grid.y > kMaxGridYZ || grid.z > kMaxGridYZ)
        bad("grid dimensions may be at most (2147483647,65535,65535)");
    if (dyn_smem > kMaxDynamicSmem) bad("at most 227 KiB of dynamic shared memory per block");
}

// The first error of a launch; later blocks are skipped once it is set.
struct LaunchErrors {
    std::atomic<bool> failed{false};
    std::mutex mutex;
    std::exception_ptr first;
    void record(std::exception_ptr e) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!first) first = e;
        failed.store(true, std::memory_order_relaxed);
    }
};

}  // namespace

void set_num_threads(int n) { requested_threads.store(n > 0 ? n : 0); }

int get_num_threads() {
    const int n = requested_threads.load();
    if (n > 0) return n;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int os_thread_index() { return pool_index; }

void launch(dim3 grid, dim3 block, std::size_t dyn_smem_bytes, std::function<void()> body) {
    if (detail::inside_block())
        throw std::runtime_error("simt: launching a kernel from inside a kernel is not supported");
    if (!body) throw std::runtime_error("simt: launch without a kernel body");
    validate(grid, block, dyn_smem_bytes);
    const long long nblocks = static_cast<long long>(grid.x) * grid.y * grid.z;
    if (nblocks == 0) return;
    const std::size_t poisoned = (dyn_smem_bytes + 15) & ~std::size_t{15};

    LaunchErrors errors;
    auto run_block = [&](long long i, int thread) {
        if (errors.failed.load(std::memory_order_relaxed)) return;
        try {
            Worker& w = this_worker();
            detail::BlockCoords coords;
            const auto b = static_cast<unsigned long long>(i);
            coords.block_idx = uint3{static_cast<unsigned int>(b % grid.x),
                                     static_cast<unsigned int>(b / grid.x % grid.y),
                                     static_cast<unsigned int>(b / grid.x / grid.y)};
            coords.block_dim = block;
            coords.grid_dim = grid;
            coords.dynamic_smem = w.smem;
            std::memset(w.smem, kSmemPoison, poisoned);
            pool_index = thread;
            w.runner.run(&coords, body);
            pool_index = 0;
        } catch (...) {
            pool_index = 0;
            errors.record(std::current_exception());
        }
    };

    const long long threads = std::min<long long>(get_num_threads(), nblocks);
#ifdef _OPENMP
    if (threads > 1) {
#pragma omp parallel for schedule(dynamic) num_threads(static_cast<int>(threads))
        for (long long i = 0; i < nblocks; ++i) run_block(i, omp_get_thread_num());
    } else
#endif
    {
        for (long long i = 0; i < nblocks; ++i) run_block(i, 0);
    }
    if (errors.first) std::rethrow_exception(errors.first);
}

}  // namespace simt
