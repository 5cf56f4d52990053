"""Re-ID datasets on disk: Market-1501 and a generic ImageFolder-style layout.

**Market-1501** (`root/bounding_box_train`, `root/query`, `root/bounding_box_test`): the
identity and camera are in each file name, `0002_c1s1_000451_03.jpg` = person 2, camera 1,
sequence 1, frame 451, box 3. As the protocol says, pid -1 ("junk": bad boxes) is ignored
everywhere and pid 0 ("distractors") is kept in the gallery only, where it can never match.

**Folder** (a user's own crops): `root/<identity>/<camera>_<anything>.jpg`, or the same
under `root/train`, `root/query` and `root/gallery` when any of those three folders exists.
The identity is the folder's name (any string; the same name in query and gallery is the
same person). The camera is the part of the file name before its first `_` (any string,
e.g. `cam3_000123.jpg` or `t02_000123.jpg` for a time segment); a name without `_` counts
as camera `0`. Cameras matter only for evaluation: a query is never matched against
gallery images of the same identity *and* the same camera (the standard cross-camera
protocol), so views that should count as independent need different prefixes.
`tracker-service reid build-dataset` writes this layout.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import transforms

from tracker_service.reid.preprocess import preprocess
from tracker_service.reid.training.config import AugmentConfig, DatasetFormat

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
MARKET_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
FOLDER_SPLITS = ("train", "query", "gallery")
JUNK_PID = -1
DISTRACTOR_PID = 0
_MARKET_NAME = re.compile(r"^(-?\d+)_c(\d+)")

Image = NDArray[np.uint8]
Transform = Callable[[Image], Tensor]


class DatasetError(ValueError):
    """A dataset folder is missing, empty or holds a file that breaks its naming rule."""


@dataclass(frozen=True, slots=True)
class ReidSample:
    """One crop: its file, person id and camera id (both integers)."""

    path: Path
    pid: int
    camid: int


@dataclass(frozen=True)
class ReidSplits:
    """Training images and the query/gallery evaluation sets (either may be empty)."""

    train: list[ReidSample]
    query: list[ReidSample]
    gallery: list[ReidSample]

    @property
    def can_evaluate(self) -> bool:
        return bool(self.query) and bool(self.gallery)


def parse_market1501_name(name: str) -> tuple[int, int]:
    """(pid, camera) of a Market-1501 file name; ValueError if it does not follow the rule."""
    match = _MARKET_NAME.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a Market-1501 file name (expected 0002_c1s1_...)")
    pid, camera = int(match.group(1)), int(match.group(2))
    if pid < JUNK_PID:
        raise ValueError(f"{name!r}: person id {pid} is below -1")
    return pid, camera


def _images(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )


def _market_split(folder: Path, keep_distractors: bool) -> list[ReidSample]:
    if not folder.is_dir():
        raise DatasetError(f"Market-1501 folder {folder} not found")
    samples = []
    for path in _images(folder):
        try:
            pid, camera = parse_market1501_name(path.name)
        except ValueError as exc:
            raise DatasetError(str(exc)) from None
        if pid == JUNK_PID or (pid == DISTRACTOR_PID and not keep_distractors):
            continue
        samples.append(ReidSample(path, pid, camera))
    return samples


def load_market1501(root: Path) -> ReidSplits:
    """The three Market-1501 splits under `root` (DukeMTMC-reID and MSMT17 in Market
    naming load the same way)."""
    return ReidSplits(
        train=_market_split(root / MARKET_FOLDERS["train"], keep_distractors=False),
        query=_market_split(root / MARKET_FOLDERS["query"], keep_distractors=False),
        gallery=_market_split(root / MARKET_FOLDERS["gallery"], keep_distractors=True),
    )


def folder_camera(name: str) -> str:
    """The camera label of a folder-layout file name: the text before its first `_`."""
    head, separator, _ = name.partition("_")
    return head if separator else "0"


def _folder_items(split_root: Path) -> list[tuple[Path, str, str]]:
    """(path, identity name, camera label) of every image under `split_root/<identity>/`."""
    items = []
    for identity_dir in sorted(path for path in split_root.iterdir() if path.is_dir()):
        for path in _images(identity_dir):
            items.append((path, identity_dir.name, folder_camera(path.name)))
    return items


def _index(names: Iterable[str], start: int) -> dict[str, int]:
    return {name: number for number, name in enumerate(sorted(set(names)), start=start)}


def load_folder(root: Path) -> ReidSplits:
    """An ImageFolder-style dataset (see the module docstring for the layout)."""
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} not found")
    if any((root / split).is_dir() for split in FOLDER_SPLITS):
        per_split = {
            split: _folder_items(root / split) if (root / split).is_dir() else []
            for split in FOLDER_SPLITS
        }
    else:
        per_split = {"train": _folder_items(root), "query": [], "gallery": []}
    everything = [item for items in per_split.values() for item in items]
    # Ids from 1 up, shared by all splits: 0 and -1 keep their Market-1501 meaning.
    pids = _index((identity for _, identity, _ in everything), start=1)
    cameras = _index((camera for _, _, camera in everything), start=0)
    splits = {
        split: [
            ReidSample(path, pids[identity], cameras[camera]) for path, identity, camera in items
        ]
        for split, items in per_split.items()
    }
    return ReidSplits(splits["train"], splits["query"], splits["gallery"])


def load_splits(data_format: DatasetFormat, root: Path) -> ReidSplits:
    splits = load_market1501(root) if data_format == "market1501" else load_folder(root)
    if not (splits.train or splits.can_evaluate):
        raise DatasetError(f"{root} holds no usable images in the {data_format} layout")
    return splits


def train_labels(samples: Sequence[ReidSample]) -> tuple[list[int], list[int]]:
    """(contiguous class label per sample, original pid per class label)."""
    pids = sorted({sample.pid for sample in samples})
    label_of = {pid: label for label, pid in enumerate(pids)}
    return [label_of[sample.pid] for sample in samples], pids


def read_image(path: Path) -> Image:
    """A BGR uint8 image, as the service's embedders receive crops."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot decode image {path}")
    return np.asarray(image, dtype=np.uint8)


class TrainTransform:
    """Resize, flip, pad + random crop, normalise, random erasing (bag-of-tricks order).

    Geometry is done on the BGR uint8 image and the result goes through the service's own
    `preprocess`, so training sees exactly the normalisation the deployed embedder feeds.
    All randomness comes from torch's generator: `torch.manual_seed` (and DataLoader's
    per-worker seeding) makes a run reproducible.
    """

    def __init__(self, size: tuple[int, int], augment: AugmentConfig) -> None:
        self.size = size
        self.augment = augment
        low, high = augment.erasing_area
        # Value 0 in normalised space is the ImageNet mean colour, the recipe's fill.
        self._erase = transforms.RandomErasing(
            p=augment.erasing_p,
            scale=(low, high),
            ratio=(augment.erasing_min_aspect, 1.0 / augment.erasing_min_aspect),
            value=0,
        )

    def _random_crop(self, image: Image) -> Image:
        pad = self.augment.pad
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        top, left = (int(value) for value in torch.randint(0, 2 * pad + 1, (2,)))
        width, height = self.size
        return np.asarray(padded[top : top + height, left : left + width], dtype=np.uint8)

    def __call__(self, image: Image) -> Tensor:
        width, height = self.size
        resized = np.asarray(
            cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8
        )
        if float(torch.rand(())) < self.augment.flip_p:
            resized = np.asarray(resized[:, ::-1], dtype=np.uint8)
        if self.augment.pad > 0:
            resized = self._random_crop(resized)
        tensor = torch.from_numpy(preprocess(np.ascontiguousarray(resized), self.size))
        erased: Tensor = self._erase(tensor)
        return erased


class EvalTransform:
    """Exactly the service's preprocessing (`reid.preprocess`)."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size

    def __call__(self, image: Image) -> Tensor:
        return torch.from_numpy(preprocess(image, self.size))


class ReidImageDataset(Dataset[tuple[Tensor, int, int]]):
    """(image tensor, label, camera id) per sample; `labels` default to the samples' pids."""

    def __init__(
        self,
        samples: Sequence[ReidSample],
        transform: Transform,
        labels: Sequence[int] | None = None,
    ) -> None:
        if labels is not None and len(labels) != len(samples):
            raise ValueError(f"{len(labels)} labels for {len(samples)} samples")
        self.samples = list(samples)
        self.labels = list(labels) if labels is not None else [s.pid for s in self.samples]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, int, int]:
        sample = self.samples[index]
        return self.transform(read_image(sample.path)), self.labels[index], sample.camid
