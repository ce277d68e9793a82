"""The memory onnxruntime may allocate for models in this process, all sessions together.

A model package's graph is another organisation's code as far as memory goes: a
``ConstantOfShape`` or ``Expand`` to a shape of its choosing allocates whatever it asks for
when it runs, and a server scoring it would be killed by the kernel with every request it was
serving. Every session eotrust opens allocates from one onnxruntime arena per process whose
size is capped (``Settings.model_max_memory_mb``, 4 GiB by default); a request past the cap
fails that call — :func:`exceeded` turns onnxruntime's message into one line — and nothing is
allocated, and the next call runs as before.

onnxruntime keeps the arena in its process-wide environment, so the cap is fixed by the first
session a process opens (:func:`cap_model_memory`); later calls use it whatever they ask.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime as ort

DEFAULT_MAX_MEMORY_MB = 4096

_lock = threading.Lock()
_cap_mb: list[int] = []  # the cap registered in this process's onnxruntime environment


def cap_model_memory(options: ort.SessionOptions, max_memory_mb: int | None = None) -> int:
    """Make sessions built with ``options`` allocate from the process's capped arena
    (registered on the first call, with ``max_memory_mb`` or the default); the cap in force, MiB."""
    import onnxruntime as ort

    with _lock:
        if not _cap_mb:
            mb = max_memory_mb or DEFAULT_MAX_MEMORY_MB
            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(info, ort.OrtArenaCfg(mb * 2**20, -1, -1, -1))
            _cap_mb.append(mb)
        cap = _cap_mb[0]
    options.add_session_config_entry("session.use_env_allocators", "1")
    return cap


def exceeded(exc: BaseException) -> str | None:
    """One line for an onnxruntime error that is the cap refusing an allocation; None otherwise."""
    text = str(exc)
    if "Available memory of" not in text or "requested bytes of" not in text:
        return None
    try:
        wanted = int(text.split("requested bytes of", 1)[1].split()[0].strip(".,"))
    except (IndexError, ValueError):
        return "it asked for more memory than onnxruntime may use in this process"
    cap = _cap_mb[0] if _cap_mb else DEFAULT_MAX_MEMORY_MB
    return f"it asked for {wanted / 2**20:,.0f} MiB at once; models may use {cap:,} MiB in this process"
