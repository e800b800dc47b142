"""Allocator settings for a process that analyses one photo after another.

An analysis of a 12-megapixel photo allocates about 70 MB of short-lived arrays, most of them
a few megabytes each. glibc's malloc hands freed memory back to the system as soon as enough of
it is free at the top of the heap, so the next analysis faults the same memory in again, page by
page: about 18,000 page faults and 40 ms of system time per photo here (a fifth of the
analysis). :func:`keep_freed_memory` asks malloc to keep it. The process then stays at the size
of its largest analysis, which is what a worker that analyses photos needs anyway.

This changes the whole process, so the engine never calls it by itself: the analysis worker and
``exoderm analyze`` do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

__all__ = ["keep_freed_memory"]

# mallopt parameters of glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap, not from a mapping of their own (glibc's largest
#: allowed value on 64-bit systems); larger ones (a 12 MP RGB image) stay mappings, which NumPy
#: backs with huge pages.
_MMAP_THRESHOLD = 32 << 20
#: Free memory at the heap's top that malloc may keep before returning it (the largest int).
_TRIM_THRESHOLD = 2**31 - 1


@functools.cache
def keep_freed_memory() -> bool:
    """Keep freed memory in this process for the next analysis (glibc only; idempotent).

    Returns
    -------
    bool
        True when glibc took the settings; False elsewhere (another C library, another system),
        where nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
