// Which SIMD code path the CPU kernels take, chosen once from CPUID.
// The AVX-512 and AVX2 paths live in their own translation units built with
// their own -m flags; everything else is compiled for baseline x86-64 so the
// module loads on any CPU. PYKERNELS_SIMD=avx512|avx2|generic forces a lower
// path (for testing each path on one machine); asking for a path the CPU
// lacks falls back to the best one it has.
#pragma once

namespace pk {

enum class SimdPath { generic = 0, avx2 = 1, avx512 = 2 };

SimdPath simd_path();              // the path in use
SimdPath best_supported_path();    // what the CPU offers
const char* simd_path_name(SimdPath p);
bool set_simd_path(SimdPath p);    // false (and no change) if the CPU lacks it

}  // namespace pk
