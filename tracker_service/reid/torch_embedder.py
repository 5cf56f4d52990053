"""PyTorch re-ID backend: OSNet with torchreid weights, any batch size."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the conventional alias)
from numpy.typing import NDArray

from tracker_service.reid.base import parse_device, resolve_thread_count
from tracker_service.reid.osnet import OSNet, load_osnet
from tracker_service.reid.preprocess import DEFAULT_INPUT_SIZE, preprocess_batch

logger = logging.getLogger(__name__)


def _torch_device(device: str) -> torch.device:
    kind, index = parse_device(device)
    if kind != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", index)
    if kind == "cuda":
        logger.warning("embedder device %s requested but CUDA is not available; using CPU", device)
    return torch.device("cpu")


class TorchEmbedder:
    """Embedder on a torchreid OSNet checkpoint (.pth), variant inferred from its shapes.

    The checkpoint is loaded strictly (see `osnet.load_osnet`), so a file that does not fit
    the layout fails at load with the missing, unexpected or mis-shaped keys. Sets PyTorch's
    process-wide intra-op thread count to `threads` (0: every CPU this process may use).
    """

    backend = "torch"

    def __init__(
        self, path: str | Path, device: str = "auto", max_batch: int = 64, threads: int = 0
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.model_path = Path(path)
        self.max_batch = max_batch
        self._device = _torch_device(device)
        self._model: OSNet = load_osnet(self.model_path).to(self._device)
        self.threads = resolve_thread_count(threads)
        # Process-wide in PyTorch (set only once the model has loaded); set explicitly
        # because the default may have been pinned to 1 through OMP_NUM_THREADS by an
        # earlier `import ultralytics`.
        torch.set_num_threads(self.threads)
        self.dim: int = self._model.feature_dim
        self.input_size: tuple[int, int] = DEFAULT_INPUT_SIZE
        self.batching = "dynamic"

    @property
    def device(self) -> str:
        return str(self._device)

    def embed(self, crops: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """(N, dim) unit-norm float32 embeddings of BGR uint8 crops, in one call."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = torch.from_numpy(preprocess_batch(crops, self.input_size))
        outputs = []
        with torch.inference_mode():
            for chunk in torch.split(batch, self.max_batch):
                features = self._model(chunk.to(self._device, non_blocking=True))
                outputs.append(F.normalize(features, dim=1).cpu())
        return torch.cat(outputs).numpy().astype(np.float32, copy=False)
