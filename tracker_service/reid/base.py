"""The embedder interface every re-ID backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray


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
