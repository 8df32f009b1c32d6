// PK_HD marks the formulas in csrc/common/ that CPU loops and CUDA kernels
// share: __host__ __device__ under nvcc, plain functions elsewhere (including
// the SIMT emulator build), so each formula is written exactly once.
#pragma once

#ifndef PK_HD
#if defined(__CUDACC__)
#define PK_HD __host__ __device__
#else
#define PK_HD
#endif
#endif
