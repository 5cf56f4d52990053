"""Ultralytics YOLO as the person detector: any Ultralytics format (.pt, ONNX, OpenVINO dir).

The model is loaded by Ultralytics (`YOLO(path)`, its `AutoBackend` for every format) and
its own letterbox geometry and NMS are used, so boxes match `model.predict`'s exactly. What
is skipped is the predictor's per-call machinery: a source loader and a `Results` object per
call, and its whole-image uint8 -> float conversion through PyTorch: on the CPU the input is
built by `letterbox.InputBuilder` instead, bit-identical and a fraction of the cost (the
padding is converted once per frame shape). Frames of several streams run as one batch
(`detect_batch`). Converted to `Detections` at this boundary; only COCO class 0 (person) is
kept.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tracker_service.config import DetectorConfig
from tracker_service.detection.letterbox import InputBuilder
from tracker_service.model_store import ModelError, resolve_model
from tracker_service.types import Detections

logger = logging.getLogger(__name__)
PERSON_CLASS = 0
MAX_DETECTIONS = 300  # Ultralytics' default `max_det`
_OPENVINO_FILES = (".xml", ".bin")

Image = NDArray[np.uint8]


def pick_device(requested: str) -> str:
    """`auto` becomes the first CUDA device when there is one, else the CPU."""
    if requested != "auto":
        return requested
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def _check_model_kind(path: str) -> None:
    candidate = Path(path)
    if not candidate.exists():
        return  # an Ultralytics name such as yolo11n.pt, fetched by Ultralytics
    if candidate.is_dir():
        if not any(p.suffix in _OPENVINO_FILES for p in candidate.iterdir()):
            raise ModelError(
                f"detector folder {candidate} is not an Ultralytics export "
                "(an OpenVINO export holds an .xml and a .bin file)"
            )
    elif candidate.suffix not in (".pt", ".onnx", ".engine", ".torchscript", ".tflite"):
        raise ModelError(
            f"detector file {candidate} is not a model Ultralytics loads "
            "(.pt, .onnx, .engine, .torchscript, .tflite or an OpenVINO folder)"
        )


def _import_yolo(model_path: str) -> Any:
    # Importing ultralytics sets OMP_NUM_THREADS=1 when unset, which would silently
    # starve PyTorch and ONNX Runtime of threads later; keep the user's setting instead.
    # YOLO_VERBOSE=False keeps its INFO chatter (settings file created, "Loading ... for
    # OpenVINO inference" on every load) out of our output; its warnings still show.
    # YOLO_OFFLINE, once the weights are on disk: otherwise Ultralytics resolves DNS names
    # at import to decide whether it is online and, if so, sends usage analytics of every
    # prediction to Google Analytics: nothing a CCTV service may do. Left unset only for an
    # Ultralytics asset name that Ultralytics itself must still download.
    previous_threads = os.environ.get("OMP_NUM_THREADS")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    if Path(model_path).exists():
        os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics.models.yolo import YOLO

    if previous_threads is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    return YOLO


class UltralyticsDetector:
    """YOLO person detector."""

    def __init__(
        self, config: DetectorConfig, models_dir: Path, base_url: str | None = None
    ) -> None:
        # Resolved (downloaded) before Ultralytics is imported: an offline first run then
        # fails with our one line, not after Ultralytics' own start-up messages.
        self.model_path = resolve_model(config.model, "detector", models_dir, base_url)
        _check_model_kind(self.model_path)
        yolo = _import_yolo(self.model_path)
        self.config = config
        self.device = pick_device(config.device)
        try:
            # Any: Ultralytics' return types are unions over streaming modes we do not use.
            self._model: Any = yolo(self.model_path, task="detect")
        except Exception as exc:  # Ultralytics raises many types for a bad file
            raise ModelError(f"detector {self.model_path} cannot be loaded: {exc}") from exc
        names: Any = getattr(self._model, "names", {}) or {}
        if names and names.get(PERSON_CLASS) != "person":
            raise ModelError(
                f"detector {self.model_path} has no 'person' class 0 "
                f"(class 0 is {names.get(PERSON_CLASS)!r}); a COCO-trained model is needed"
            )
        predict_args: dict[str, Any] = {
            "classes": [PERSON_CLASS],
            "conf": config.confidence,
            "iou": config.nms_iou,
            "imgsz": config.imgsz,
            "device": self.device,
            "verbose": False,
        }
        if config.half and self.device.startswith("cuda"):
            predict_args["half"] = True
        # One call through Ultralytics' predictor builds its backend (AutoBackend: the format's
        # runtime, device, half precision), input size and letterbox exactly as `predict` does;
        # every later frame reuses them.
        self._model.predict(np.zeros((config.imgsz, config.imgsz, 3), np.uint8), **predict_args)
        self._predictor: Any = self._model.predictor
        self._backend: Any = self._predictor.model
        self._input = InputBuilder(self._predictor.pre_transform, self._predictor.preprocess)
        logger.info("detector %s on %s (imgsz %d)", self.model_path, self.device, config.imgsz)

    def detect(self, frame: Image) -> Detections:
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: Sequence[Image]) -> list[Detections]:
        """Detect people in several frames with one forward pass (frames of any sizes)."""
        if not frames:
            return []
        from ultralytics.utils import nms, ops

        if len({frame.shape for frame in frames}) > 1:
            # Ultralytics letterboxes mixed sizes to one square; per frame keeps each rect.
            return [found for frame in frames for found in self.detect_batch([frame])]
        batch = self._to_tensor(frames)
        raw = self._backend(batch)
        kept = nms.non_max_suppression(
            raw,
            self.config.confidence,
            self.config.nms_iou,
            [PERSON_CLASS],
            max_det=MAX_DETECTIONS,
            end2end=getattr(self._backend, "end2end", False),
        )
        results = []
        found: Any
        for found, frame in zip(kept, frames, strict=True):
            boxes: Any = ops.scale_boxes(batch.shape[2:], found[:, :4], frame.shape)
            results.append(
                Detections(boxes.cpu().numpy(), found[:, 4].cpu().numpy())
                if len(found)
                else Detections.empty()
            )
        return results

    def _to_tensor(self, frames: Sequence[Image]) -> Any:
        import torch

        if self._backend.fp16:  # half precision on a GPU: Ultralytics' own conversion
            return self._predictor.preprocess(list(frames))
        # The buffer is reused by the next call; the backend runs before that (one caller at
        # a time: `BatchingDetector` serialises the streams).
        return torch.from_numpy(self._input.build(frames)).to(self._backend.device)
