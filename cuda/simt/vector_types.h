// Built-in index and vector types of CUDA, with CUDA's sizes and alignments
// (so structs shared between host code and kernels have one layout).
#pragma once

struct uint3 {
    unsigned int x, y, z;
};

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
        : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};

inline uint3 make_uint3(unsigned int x, unsigned int y, unsigned int z) { return uint3{x, y, z}; }

#define SIMT_VECTOR2(T, name, align)                                      \
    struct __attribute__((aligned(align))) name {                         \
        T x, y;                                                           \
    };                                                                    \
    inline name make_##name(T x, T y) { return name{x, y}; }
#define SIMT_VECTOR3(T, name)                                             \
    struct name {                                                         \
        T x, y, z;                                                        \
    };                                                                    \
    inline name make_##name(T x, T y, T z) { return name{x, y, z}; }
#define SIMT_VECTOR4(T, name, align)                                      \
    struct __attribute__((aligned(align))) name {                         \
        T x, y, z, w;                                                     \
    };                                                                    \
    inline name make_##name(T x, T y, T z, T w) { return name{x, y, z, w}; }

SIMT_VECTOR2(float, float2, 8)
SIMT_VECTOR3(float, float3)
SIMT_VECTOR4(float, float4, 16)
SIMT_VECTOR2(double, double2, 16)
SIMT_VECTOR2(int, int2, 8)
SIMT_VECTOR3(int, int3)
SIMT_VECTOR4(int, int4, 16)
SIMT_VECTOR2(unsigned int, uint2, 8)
SIMT_VECTOR4(unsigned int, uint4, 16)
SIMT_VECTOR2(long long, longlong2, 16)

#undef SIMT_VECTOR2
#undef SIMT_VECTOR3
#undef SIMT_VECTOR4

static_assert(sizeof(float2) == 8 && alignof(float2) == 8, "float2 layout");
static_assert(sizeof(float3) == 12 && alignof(float3) == 4, "float3 layout");
static_assert(sizeof(float4) == 16 && alignof(float4) == 16, "float4 layout");
static_assert(sizeof(double2) == 16 && alignof(double2) == 16, "double2 layout");
static_assert(sizeof(int4) == 16 && alignof(int4) == 16, "int4 layout");
