"""Vectorised, seedable procedural noise (integer hashing + Worley cells) for synthetic tissue.

Every value is a pure function of (seed, salt, coordinates), so any tile of a slide can be rendered
independently and identically, whatever order tiles are produced in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def hash01(ix: NDArray[np.int64], iy: NDArray[np.int64], seed: int, salt: int) -> F32:
    """Uniform [0, 1) value per integer lattice point (splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        h = ix.astype(np.uint64) * _M1 + iy.astype(np.uint64) * _M2 + np.uint64(
            (seed * 1_000_003 + salt * 7919) & 0xFFFFFFFFFFFF
        ) * _M3
        h ^= h >> np.uint64(31)
        h *= _M2
        h ^= h >> np.uint64(29)
        h *= _M3
        h ^= h >> np.uint64(32)
    return ((h & np.uint64(0xFFFFFF)).astype(np.float32)) / np.float32(2**24)


def worley(
    x: F32, y: F32, cell: float, seed: int, salt: int, *, jitter: float = 0.9
) -> tuple[F32, F32, F32]:
    """Worley (cellular) noise with one jittered feature point per square cell.

    Args:
        x: x coordinates in µm (any shape broadcastable with `y`).
        y: y coordinates in µm.
        cell: cell size in µm (mean spacing of feature points).
        seed: slide seed.
        salt: distinguishes independent fields.
        jitter: 0 = regular grid, 1 = feature point anywhere in its cell.

    Returns:
        (F1, F2, id): distances in µm to the nearest and second-nearest feature point, and a
        uniform [0, 1) identity of the nearest point's cell.
    """
    gx = np.asarray(x, np.float32) / np.float32(cell)
    gy = np.asarray(y, np.float32) / np.float32(cell)
    gx, gy = np.broadcast_arrays(gx, gy)
    ix0 = np.floor(gx).astype(np.int64)
    iy0 = np.floor(gy).astype(np.int64)
    fx = (gx - ix0).astype(np.float32)
    fy = (gy - iy0).astype(np.float32)
    f1 = np.full(gx.shape, np.inf, np.float32)
    f2 = np.full(gx.shape, np.inf, np.float32)
    ident = np.zeros(gx.shape, np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            cx, cy = ix0 + dx, iy0 + dy
            px = dx + 0.5 + jitter * (hash01(cx, cy, seed, salt) - 0.5) - fx
            py = dy + 0.5 + jitter * (hash01(cx, cy, seed, salt + 1) - 0.5) - fy
            d = np.sqrt(px * px + py * py)
            closer = d < f1
            f2 = np.where(closer, f1, np.minimum(f2, d))
            ident = np.where(closer, hash01(cx, cy, seed, salt + 2), ident)
            f1 = np.where(closer, d, f1)
    c = np.float32(cell)
    return f1 * c, f2 * c, ident


def value_noise(x: F32, y: F32, cell: float, seed: int, salt: int) -> F32:
    """Smooth value noise in [0, 1) with feature size `cell` µm (bilinear with smoothstep)."""
    gx = np.asarray(x, np.float32) / np.float32(cell)
    gy = np.asarray(y, np.float32) / np.float32(cell)
    gx, gy = np.broadcast_arrays(gx, gy)
    ix = np.floor(gx).astype(np.int64)
    iy = np.floor(gy).astype(np.int64)
    fx = gx - ix
    fy = gy - iy
    sx = fx * fx * (3 - 2 * fx)
    sy = fy * fy * (3 - 2 * fy)
    v00 = hash01(ix, iy, seed, salt)
    v10 = hash01(ix + 1, iy, seed, salt)
    v01 = hash01(ix, iy + 1, seed, salt)
    v11 = hash01(ix + 1, iy + 1, seed, salt)
    top = v00 + (v10 - v00) * sx
    bot = v01 + (v11 - v01) * sx
    return np.asarray(top + (bot - top) * sy, np.float32)


def smoothstep(edge0: float, edge1: float, v: NDArray[np.floating[Any]]) -> F32:
    """0 below edge0, 1 above edge1, smooth between (works with edge0 > edge1 to invert)."""
    t = np.clip((v - edge0) / (edge1 - edge0), 0.0, 1.0)
    return np.asarray(t * t * (3 - 2 * t), np.float32)
