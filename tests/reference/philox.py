"""Philox4x32-10 and the dropout mask it defines, in pure Python / NumPy.

Written from Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy
as 1, 2, 3" (SC'11), section 4.2 and Random123's philox.h, independently of
the C++ (csrc/common/philox.h): a round maps the counter (R0, R1, L0, L1)
with the multipliers M0 = 0xD2511F53, M1 = 0xCD9E8D57 to

    hi0:lo0 = M0 * R0,  hi1:lo1 = M1 * L0    (32 x 32 -> 64-bit products)
    out = (hi1 ^ R1 ^ k0, lo1, hi0 ^ L1 ^ k1, lo0)

and the key is bumped by the Weyl constants (0x9E3779B9, 0xBB67AE85) between
rounds; ten rounds.

The dropout mask (pk.ops.dropout): element i of a C-order array uses word
i % 4 of Philox(counter = offset + i // 4 as a 128-bit number, key = seed as
two 32-bit words, low word first); u = (word >> 8) / 2**24; kept iff u >= p.
"""

import numpy as np

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK32 = 0xFFFFFFFF

# Random123 tests/kat_vectors, "philox4x32 10" lines: (counter, key, expected).
KAT_VECTORS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((MASK32,) * 4, (MASK32, MASK32), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def philox4x32_10(counter, key):
    """One block, with Python integers: counter of 4 words, key of 2 words."""
    c0, c1, c2, c3 = (int(v) & MASK32 for v in counter)
    k0, k1 = (int(v) & MASK32 for v in key)
    for r in range(10):
        if r:
            k0 = (k0 + W0) & MASK32
            k1 = (k1 + W1) & MASK32
        p0 = M0 * c0
        p1 = M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & MASK32)
    return (c0, c1, c2, c3)


def _philox_blocks(n_blocks, seed, offset):
    """Philox words for counters offset .. offset + n_blocks - 1, shape (n_blocks, 4), uint32,
    vectorised over blocks with NumPy uint64 arithmetic."""
    idx = (np.uint64(offset) + np.arange(n_blocks, dtype=np.uint64))  # wraps modulo 2**64
    c0 = idx & np.uint64(MASK32)
    c1 = idx >> np.uint64(32)
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0 = np.uint64(seed & MASK32)
    k1 = np.uint64((seed >> 32) & MASK32)
    m32 = np.uint64(MASK32)
    for r in range(10):
        if r:
            k0 = (k0 + np.uint64(W0)) & m32
            k1 = (k1 + np.uint64(W1)) & m32
        p0 = np.uint64(M0) * c0
        p1 = np.uint64(M1) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & m32,
                          (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & m32)
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


def uniforms(n, seed, offset=0):
    """The uniforms in [0, 1) that the mask of n elements compares with p (float64, exact)."""
    words = _philox_blocks((n + 3) // 4, seed, offset).reshape(-1)[:n]
    return (words >> np.uint32(8)).astype(np.float64) * 2.0**-24


def dropout_mask(shape, p, seed, offset=0):
    """uint8 mask (1 = kept) of the given shape."""
    n = int(np.prod(shape, dtype=np.int64))
    return (uniforms(n, seed, offset) >= p).astype(np.uint8).reshape(shape)


def dropout(x, p, seed, offset=0):
    """(y, mask) in float64: y = x * mask / (1 - p)."""
    mask = dropout_mask(x.shape, p, seed, offset)
    return x.astype(np.float64) * mask / (1.0 - p), mask
