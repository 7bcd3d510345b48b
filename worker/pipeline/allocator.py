"""Keep freed heap memory mapped in processes that analyse slides (glibc only).

Why: one analysis allocates and frees a few hundred buffers of ~1 MB (decoded JPEG tiles, mosaic
regions, crops) on four threads. With glibc's defaults most of that memory goes back to the kernel
between uses and is faulted in again on the next one: on the 2-core bench VM 45,000–58,000 page
faults and 0.32–0.35 s of kernel CPU per bench slide, taken from the models' two cores. Raising the
mmap and trim thresholds and growing heaps in larger steps lets the memory be reused: 160–1,600
faults and 0.14–0.19 s of kernel CPU from the second slide a process analyses (the first still
faults its memory in), for ~150 MB more resident memory at peak (500–580 → 600–720 MB). Measured
with 64, 128 and 256 MiB kept: the same within the noise; 128 is the default (`bench/README.md`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import threading

# mallopt(3) parameters (glibc's malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 32 << 20  # glibc's own ceiling for its dynamic threshold on 64-bit systems
TOP_PAD = 64 << 20  # heaps grow in steps this large (a thread arena's heap is at most 64 MB)

_lock = threading.Lock()
_applied = False


def retain_freed_memory(retain_mb: int) -> bool:
    """Ask glibc to keep up to `retain_mb` MiB of freed memory for reuse (once per process).

    Returns True when the setting is in force (now or from an earlier call); False when `retain_mb`
    is 0, or the C library is not glibc (musl, macOS), where nothing is changed.
    """
    global _applied
    if retain_mb <= 0:
        return False
    with _lock:
        if _applied:
            return True
        if platform.libc_ver()[0] != "glibc":  # musl, macOS: their allocators have no such knobs
            return False
        try:
            mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
        except (OSError, AttributeError):
            return False
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TOP_PAD, TOP_PAD) == 1
              and mallopt(M_TRIM_THRESHOLD, retain_mb << 20) == 1)
        _applied = ok
        return ok
