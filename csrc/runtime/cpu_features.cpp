#include "cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace pk {
namespace {

SimdPath detect() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("fma"))
        return SimdPath::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdPath::avx2;
#endif
    return SimdPath::generic;
}

SimdPath initial() {
    SimdPath best = detect();
    const char* env = std::getenv("PYKERNELS_SIMD");
    if (env == nullptr) return best;
    SimdPath want = best;
    if (std::strcmp(env, "generic") == 0) want = SimdPath::generic;
    else if (std::strcmp(env, "avx2") == 0) want = SimdPath::avx2;
    else if (std::strcmp(env, "avx512") == 0) want = SimdPath::avx512;
    return static_cast<int>(want) <= static_cast<int>(best) ? want : best;
}

std::atomic<SimdPath> g_path{initial()};

}  // namespace

SimdPath simd_path() { return g_path.load(std::memory_order_relaxed); }

SimdPath best_supported_path() {
    static const SimdPath best = detect();
    return best;
}

const char* simd_path_name(SimdPath p) {
    switch (p) {
        case SimdPath::avx512: return "avx512";
        case SimdPath::avx2: return "avx2";
        default: return "generic";
    }
}

bool set_simd_path(SimdPath p) {
    if (static_cast<int>(p) > static_cast<int>(best_supported_path())) return false;
    g_path.store(p, std::memory_order_relaxed);
    return true;
}

}  // namespace pk
