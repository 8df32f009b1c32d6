// Barriers and warp-level exchanges. Each is a point where the current
// thread's fiber may give way to the others of its block (see block.cpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

// Internal to the module that links the emulator: no PLT indirection, and
// TLS reached with the cheaper local-dynamic model.
#define SIMT_INTERNAL __attribute__((visibility("hidden")))

namespace simt {
namespace detail {

// Where the current fiber is: set by the scheduler on every switch.
struct ThreadCoords {
    uint3 thread_idx;
    unsigned int lane;
};
struct BlockCoords {
    uint3 block_idx;
    dim3 block_dim;
    dim3 grid_dim;
    void* dynamic_smem;
};
// Plain __thread pointers (not C++ thread_local objects) so that reading
// threadIdx costs no initialisation check.
extern __thread SIMT_INTERNAL const ThreadCoords* current_thread;
extern __thread SIMT_INTERNAL const BlockCoords* current_block;

enum class BlockSync : int { plain, count, all, any };
SIMT_INTERNAL int block_sync(BlockSync mode, int predicate);

SIMT_INTERNAL void warp_sync(unsigned int mask);
// Every participating lane posts `bits` and names a source lane; each gets
// back the bits posted by its source (its own when the source does not take
// part).
SIMT_INTERNAL std::uint64_t warp_exchange(unsigned int mask, std::uint64_t bits, unsigned int src_lane);
// Low 32 bits: ballot of the predicates; high 32 bits: the lanes that took part.
SIMT_INTERNAL std::uint64_t warp_vote(unsigned int mask, int predicate);
SIMT_INTERNAL unsigned int active_mask();

enum class ShflMode { idx, up, down, bfly };

// Source lane of a shuffle, as PTX shfl.sync defines it for CUDA's
// __shfl*_sync(mask, var, b, width): lanes form segments of `width`; a source
// outside the caller's segment (or, for xor, in a later one) yields the
// caller's own value.
inline unsigned int shfl_source(ShflMode mode, unsigned int lane, unsigned int b, int width) {
    const unsigned int segmask = (32u - static_cast<unsigned int>(width)) & 31u;
    const unsigned int clamp = mode == ShflMode::up ? 0u : 31u;
    const int max_lane = static_cast<int>((lane & segmask) | (clamp & ~segmask));
    const int min_lane = static_cast<int>(lane & segmask);
    const int l = static_cast<int>(lane);
    const int bv = static_cast<int>(b & 31u);
    int j = l;
    bool ok = false;
    switch (mode) {
        case ShflMode::up: j = l - bv; ok = j >= max_lane; break;
        case ShflMode::down: j = l + bv; ok = j <= max_lane; break;
        case ShflMode::bfly: j = l ^ bv; ok = j <= max_lane; break;
        case ShflMode::idx: j = min_lane | (bv & ~static_cast<int>(segmask)); ok = j <= max_lane; break;
    }
    return static_cast<unsigned int>(ok ? j : l);
}

template <class T>
inline T shfl(ShflMode mode, unsigned int mask, T var, unsigned int b, int width) {
    static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8,
                  "shuffled values must be trivially copyable and at most 8 bytes");
    std::uint64_t bits = 0;
    std::memcpy(&bits, &var, sizeof var);
    bits = warp_exchange(mask, bits, shfl_source(mode, current_thread->lane, b, width));
    T r;
    std::memcpy(&r, &bits, sizeof r);
    return r;
}

}  // namespace detail
}  // namespace simt

constexpr int warpSize = 32;

inline void __syncthreads() { simt::detail::block_sync(simt::detail::BlockSync::plain, 0); }
inline int __syncthreads_count(int predicate) {
    return simt::detail::block_sync(simt::detail::BlockSync::count, predicate);
}
inline int __syncthreads_and(int predicate) {
    return simt::detail::block_sync(simt::detail::BlockSync::all, predicate);
}
inline int __syncthreads_or(int predicate) {
    return simt::detail::block_sync(simt::detail::BlockSync::any, predicate);
}

inline void __syncwarp(unsigned int mask = 0xffffffffu) { simt::detail::warp_sync(mask); }

template <class T>
inline T __shfl_sync(unsigned int mask, T var, int srcLane, int width = warpSize) {
    return simt::detail::shfl(simt::detail::ShflMode::idx, mask, var,
                              static_cast<unsigned int>(srcLane), width);
}
template <class T>
inline T __shfl_up_sync(unsigned int mask, T var, unsigned int delta, int width = warpSize) {
    return simt::detail::shfl(simt::detail::ShflMode::up, mask, var, delta, width);
}
template <class T>
inline T __shfl_down_sync(unsigned int mask, T var, unsigned int delta, int width = warpSize) {
    return simt::detail::shfl(simt::detail::ShflMode::down, mask, var, delta, width);
}
template <class T>
inline T __shfl_xor_sync(unsigned int mask, T var, int laneMask, int width = warpSize) {
    return simt::detail::shfl(simt::detail::ShflMode::bfly, mask, var,
                              static_cast<unsigned int>(laneMask), width);
}

inline unsigned int __ballot_sync(unsigned int mask, int predicate) {
    return static_cast<unsigned int>(simt::detail::warp_vote(mask, predicate));
}
inline int __any_sync(unsigned int mask, int predicate) {
    return static_cast<unsigned int>(simt::detail::warp_vote(mask, predicate)) != 0;
}
inline int __all_sync(unsigned int mask, int predicate) {
    const std::uint64_t v = simt::detail::warp_vote(mask, predicate);
    return static_cast<unsigned int>(v) == static_cast<unsigned int>(v >> 32);
}
// Lanes of the warp that have not returned (the emulator has no notion of
// divergent-but-alive lanes).
inline unsigned int __activemask() { return simt::detail::active_mask(); }
