"""The embedder interface every re-ID backend implements."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from tracker_service.config import ConfigError

DeviceKind = Literal["auto", "cpu", "cuda"]
_CUDA_DEVICE = re.compile(r"cuda(?::(\d+))?")


@runtime_checkable
class Embedder(Protocol):
    """Turns person crops into L2-normalised appearance vectors.

    `embed` takes BGR uint8 crops of any size (as OpenCV reads them) and returns an
    (N, dim) float32 array whose rows have unit L2 norm, in one call for the whole list
    (backends batch internally, up to their configured maximum).
    """

    @property
    def dim(self) -> int: ...

    def embed(self, crops: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]: ...


def resolve_thread_count(requested: int) -> int:
    """CPU threads a backend should use: `requested`, or every CPU this process may use.

    Backends always set their thread count explicitly instead of trusting the library
    default, because importing ultralytics sets OMP_NUM_THREADS=1 when it is unset, which
    silently pins PyTorch (and OpenMP builds of ONNX Runtime) to one thread.
    """
    if requested > 0:
        return requested
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def parse_device(device: str) -> tuple[DeviceKind, int]:
    """An embedder `device` setting as (kind, CUDA index): auto, cpu, cuda or cuda:N."""
    if device in ("auto", "cpu"):
        return ("auto" if device == "auto" else "cpu"), 0
    match = _CUDA_DEVICE.fullmatch(device)
    if match is None:
        raise ConfigError(f"embedder device {device!r} is not one of auto, cpu, cuda, cuda:N")
    return "cuda", int(match.group(1) or 0)
