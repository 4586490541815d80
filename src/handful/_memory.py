"""glibc's allocator, set for what the process does: running networks (training, embedding) or serving uploads.

A network's forward pass allocates activations of tens of megabytes and frees them a moment later. By default glibc
maps a block above its mmap threshold (which adapts, up to 32 MiB) straight from the system and unmaps it when
freed, and gives the top of its heap back once more than its trim threshold is free there. Each pass then faults
its activations in again, page by page, zeroed by the kernel. Measured on 2 cores, embedding the 245 ants_bees
training photos: Lite2 21.0 s wall, 16.8 s of it system time, 7.4 million page faults; with the thresholds below,
10.8 s, 0.5 s system, 0.2 million faults, peak resident memory 937 MB against 871 (Lite0: 9.3 -> 5.6 s). Raising
only the mmap threshold left 15.8 s (the heap's top was still given back); setting only the trim threshold made
it 40.7 s (glibc then stops adapting the mmap threshold and maps every block above 128 KiB).

A server wants the opposite: memory from large decoded uploads back to the system (see :func:`for_serving`). Once
the serving policy is set, the network policy is not applied over it. Both are process-wide, set by handful's own
entry points (building a backbone, creating a server app), never on import; elsewhere than glibc they do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters
NETWORK_MMAP = 256 << 20  # above Lite2's largest activation at batch 16 (16 x 96 x 130 x 130 floats, 104 MB)
NETWORK_TRIM = 512 << 20
SERVING_MMAP = 64 << 20  # buffers from this size get their own mapping (see for_serving)
GLIBC_TRIM = 128 << 10  # glibc's default trim threshold

_policy: str | None = None


@functools.lru_cache(maxsize=1)
def _libc() -> Any:  # find_library runs ldconfig: once a process
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def for_networks() -> bool:
    """Keep the memory of freed activations in the heap for the next forward pass (True if set now or before)."""
    global _policy
    if _policy is not None:
        return _policy == "networks"
    libc = _libc()
    if libc is None or not libc.mallopt(M_MMAP_THRESHOLD, NETWORK_MMAP) or not libc.mallopt(M_TRIM_THRESHOLD,
                                                                                               NETWORK_TRIM):
        return False
    _policy = "networks"
    return True


def for_serving() -> bool:
    """On glibc, make the memory of large buffers go back to the system when they are freed (True if done).

    glibc raises its mmap threshold each time a large block is freed, up to 32 MB, so image and audio buffers end
    up inside its heaps, where small allocations pin them: measured, 16 clients of hostile uploads left +160 MB
    resident that ``malloc_trim`` could not return. A fixed threshold stops that rise; fewer arenas keep the rest
    compact. It was 1 MiB (+14 MB left in that run), which also mapped and unmapped the network's activations on
    every forward pass: a Lite2 + Lite0 prediction took 164 ms a photo against 114 ms without the setting, and 16
    clients got 7.4 photos/s from a Lite2 model where 14.8 were possible. At 64 MiB the network runs as fast as
    without the setting (14.6 photos/s), and the hostile run (30 s, 16 clients) peaked at +92 MB and ended at +1.8
    MB. The trim threshold goes back to glibc's default, should a model loaded earlier have raised it.
    """
    global _policy
    libc = _libc()
    if libc is None:
        return False
    done = bool(libc.mallopt(M_MMAP_THRESHOLD, SERVING_MMAP)) and bool(libc.mallopt(M_ARENA_MAX, 4))
    if _policy == "networks":
        libc.mallopt(M_TRIM_THRESHOLD, GLIBC_TRIM)
    _policy = "serving"
    return done


def malloc_trim() -> Any:
    """glibc's ``malloc_trim`` (give free heap memory back to the system), or None elsewhere."""
    libc = _libc()
    return libc.malloc_trim if libc is not None else None
