"""Ultralytics YOLO as the person detector: any Ultralytics format (.pt, ONNX, OpenVINO dir).

Converted to `Detections` at this boundary; only COCO class 0 (person) is kept.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tracker_service.config import DetectorConfig
from tracker_service.model_store import ModelError, resolve_model
from tracker_service.types import Detections

logger = logging.getLogger(__name__)
PERSON_CLASS = 0
_OPENVINO_FILES = (".xml", ".bin")


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
        self._predict_args: dict[str, Any] = {
            "classes": [PERSON_CLASS],
            "conf": config.confidence,
            "iou": config.nms_iou,
            "imgsz": config.imgsz,
            "device": self.device,
            "verbose": False,
        }
        if config.half and self.device.startswith("cuda"):
            self._predict_args["half"] = True
        logger.info("detector %s on %s (imgsz %d)", self.model_path, self.device, config.imgsz)

    def detect(self, frame: NDArray[np.uint8]) -> Detections:
        results = self._model.predict(frame, **self._predict_args)
        boxes = results[0].boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        on_host = boxes.cpu().numpy()
        return Detections(
            np.asarray(on_host.xyxy, dtype=np.float32), np.asarray(on_host.conf, dtype=np.float32)
        )
