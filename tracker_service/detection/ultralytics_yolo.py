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
_END_TO_END_WIDTH = 6  # Ultralytics' NMS reads a (..., 6) prediction as an end-to-end one
_ULTRALYTICS_MAX_NMS = 30000  # `non_max_suppression`'s max_nms: above it, it sorts and cuts

Image = NDArray[np.uint8]


def _to_numpy(values: Any) -> NDArray[np.float32]:
    """A NumPy array of NumPy rows or of a tensor (on any device)."""
    return values if isinstance(values, np.ndarray) else values.cpu().numpy()


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
        from ultralytics.utils import ops

        if len({frame.shape for frame in frames}) > 1:
            # Ultralytics letterboxes mixed sizes to one square; per frame keeps each rect.
            return [found for frame in frames for found in self.detect_batch([frame])]
        batch = self._to_tensor(frames)
        raw = self._backend(batch)
        kept = self._non_max_suppression(raw)
        results = []
        found: Any
        for found, frame in zip(kept, frames, strict=True):
            if not len(found):
                results.append(Detections.empty())
                continue
            # Ultralytics' own scaling, on NumPy rows as on tensors (the same float32 values).
            boxes: Any = ops.scale_boxes(batch.shape[2:], found[:, :4], frame.shape)
            results.append(Detections(_to_numpy(boxes), _to_numpy(found[:, 4])))
        return results

    def _non_max_suppression(self, raw: Any) -> list[Any]:
        """Ultralytics' NMS with `classes=[person]`, the candidates picked in NumPy.

        Ultralytics keeps an anchor when its best class score passes the threshold and that
        class is the person, turns its box to xyxy and runs `torchvision.ops.nms`; picking
        those few anchors (person score over the threshold, then the best class among 80)
        here, in the same order and with the same float32 arithmetic, and running the same
        `torchvision.ops.nms` on them gives the same rows at a fraction of the cost of
        Ultralytics' 80 x 8400 tensor pass. Anything else (end-to-end models, several
        outputs, half precision, a GPU, more candidates than its `max_nms`) goes to
        Ultralytics' own NMS.
        """
        import torch
        from ultralytics.utils import nms

        end2end = getattr(self._backend, "end2end", False)

        def ultralytics(prediction: Any) -> list[Any]:
            found: list[Any] = nms.non_max_suppression(
                prediction,
                self.config.confidence,
                self.config.nms_iou,
                [PERSON_CLASS],
                max_det=MAX_DETECTIONS,
                end2end=end2end,
            )
            return found

        if (
            end2end
            or not isinstance(raw, torch.Tensor)
            or raw.ndim != 3
            or raw.dtype != torch.float32  # half precision: Ultralytics computes in it
            or raw.device.type != "cpu"  # on a GPU its NMS stays there
            or raw.shape[1] < 5
            or raw.shape[2] == _END_TO_END_WIDTH  # what Ultralytics takes for end-to-end
        ):
            return ultralytics(raw)
        kept = []
        for output, scores in zip(raw, raw.numpy(), strict=True):
            rows = self._person_rows(scores)
            kept.append(ultralytics(output[None])[0] if rows is None else rows)
        return kept

    def _person_rows(self, output: NDArray[np.float32]) -> NDArray[np.float32] | None:
        """(K, 6) rows of one frame's (4 + classes, anchors) output, as Ultralytics' NMS
        returns them (xyxy, score, class), in NumPy; None where Ultralytics must decide."""
        import torch
        import torchvision

        person = output[4 + PERSON_CLASS]
        anchors = np.flatnonzero(person > self.config.confidence)
        # argmax takes the first best class, as torch's max does on ties.
        anchors = anchors[np.argmax(output[4:, anchors], axis=0) == PERSON_CLASS]
        if len(anchors) > _ULTRALYTICS_MAX_NMS:
            return None
        xywh = output[:4, anchors].T
        half = xywh[:, 2:] / np.float32(2)
        rows = np.empty((len(anchors), 6), np.float32)
        rows[:, :2] = xywh[:, :2] - half
        rows[:, 2:4] = xywh[:, :2] + half
        rows[:, 4] = person[anchors]
        rows[:, 5] = PERSON_CLASS
        if not len(rows):
            return rows
        table = torch.from_numpy(rows)
        keep = torchvision.ops.nms(table[:, :4], table[:, 4], self.config.nms_iou)
        kept: NDArray[np.float32] = rows[keep[:MAX_DETECTIONS].numpy()]
        return kept

    def _to_tensor(self, frames: Sequence[Image]) -> Any:
        import torch

        if self._backend.fp16:  # half precision on a GPU: Ultralytics' own conversion
            return self._predictor.preprocess(list(frames))
        # The buffer is reused by the next call; the backend runs before that (one caller at
        # a time: `BatchingDetector` serialises the streams).
        return torch.from_numpy(self._input.build(frames)).to(self._backend.device)
