"""A re-ID dataset from the pipeline's own tracks of a video, for fine-tuning and evaluation.

Input: a run's `tracks.jsonl` (one JSON object per frame; see `sinks/jsonl.py`) and the
video it was made from. The crops are cut exactly as the pipeline cuts them for the
embedder, from confirmed tracks only (those are matched detections, not predictions), and
written in the folder layout of `datasets.py`:

    <out>/train/<label>/<camera>_f<frame>_t<track>.jpg
    <out>/query/<label>/<camera>-early_f<frame>_t<track>.jpg     (with split "time")
    <out>/gallery/<label>/<camera>-late_f<frame>_t<track>.jpg

Labels: `track` (default) makes each track its own identity, `<camera>-t<track id>`. A
track is almost always one person, so labels are clean, but a person who leaves and comes
back becomes two identities. `identity` uses the gallery's global identity,
`id<identity id>`: people seen again (or by several cameras sharing one gallery) share a
label, at the price of inheriting the embedder's mistakes, which fine-tuning then learns.

Split `time`: tracks that start in the last `test_fraction` of the video are held out for
evaluation (so no label is in both training and test), the rest train. Each held-out
label's crops are ordered in time: the middle crop of the earlier half becomes its query
(pseudo-camera `<camera>-early`) and the later half its gallery (`<camera>-late`), so evaluation
asks the model to find a person again a few seconds later, under the cross-camera
protocol. Runs of several cameras written into one folder (one `--camera` name each, with
`identity` labels from one shared gallery) add true cross-camera pairs.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from tracker_service.crops import crop_boxes
from tracker_service.video_file import VideoFileSource

logger = logging.getLogger(__name__)

LabelKind = Literal["track", "identity"]
SplitKind = Literal["none", "time"]
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


class BuildError(ValueError):
    """The tracks file is unreadable or nothing in it passes the filters."""


@dataclass(frozen=True, slots=True)
class Sighting:
    """One confirmed track in one frame, from tracks.jsonl."""

    frame: int
    timestamp_s: float
    track_id: int
    identity_id: int | None
    xyxy: tuple[float, float, float, float]
    score: float

    @property
    def height(self) -> float:
        return self.xyxy[3] - self.xyxy[1]


@dataclass(frozen=True)
class BuildOptions:
    camera: str = "cam0"  # file-name prefix; '_' is the prefix separator, so it is replaced
    label: LabelKind = "track"
    split: SplitKind = "time"
    test_fraction: float = 0.3
    min_height: int = 64  # pixels: smaller boxes make crops too blurry to learn from
    min_score: float = 0.5
    min_crops: int = 4  # a label needs this many crops (PK sampling draws K of each)
    max_crops: int = 32  # per track, evenly spaced in time
    jpeg_quality: int = 95

    def __post_init__(self) -> None:
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie in (0, 1), got {self.test_fraction}")
        if self.min_crops < 1 or self.max_crops < self.min_crops:
            raise ValueError("need 1 <= min_crops <= max_crops")
        if self.split == "time" and self.min_crops < 2:
            raise ValueError("split 'time' needs min_crops >= 2 (a query and a gallery crop)")


@dataclass
class BuildSummary:
    tracks_read: int = 0
    sightings_kept: int = 0
    labels: dict[str, int] = field(default_factory=dict)  # split -> identities
    crops: dict[str, int] = field(default_factory=dict)  # split -> files written
    frames_decoded: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Crop:
    split: str
    label: str
    camera: str
    sighting: Sighting


def camera_label(name: str) -> str:
    """A camera name usable as the folder layout's file-name prefix (no '_')."""
    safe = _UNSAFE.sub("-", name).strip("-")
    if not safe:
        raise ValueError(f"camera name {name!r} has no usable characters")
    return safe


def _sighting(record: dict[str, object], frame: int, timestamp: float) -> Sighting:
    box = record["box_xyxy"]
    if not isinstance(box, list) or len(box) != 4:
        raise BuildError(f"frame {frame}: box_xyxy must be four numbers, got {box!r}")
    identity = record.get("identity_id")
    return Sighting(
        frame=frame,
        timestamp_s=timestamp,
        track_id=int(str(record["track_id"])),
        identity_id=None if identity is None else int(str(identity)),
        xyxy=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
        score=float(str(record.get("score", 1.0))),
    )


def read_tracks(path: Path) -> list[Sighting]:
    """Confirmed sightings of a tracks.jsonl file, in frame order."""
    sightings: list[Sighting] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BuildError(f"tracks file {path} not found") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            frame_record = json.loads(line)
            frame = int(frame_record["frame"])
            timestamp = float(frame_record.get("timestamp_s", 0.0))
            sightings.extend(
                _sighting(record, frame, timestamp)
                for record in frame_record["tracks"]
                if record.get("state", "confirmed") == "confirmed"
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BuildError(f"{path}:{number}: not a tracks.jsonl frame record ({exc})") from None
    return sightings


def _label(track: list[Sighting], options: BuildOptions, camera: str) -> str | None:
    if options.label == "track":
        return f"{camera}-t{track[0].track_id:05d}"
    # A track's identity is resolved a few samples in and can be corrected later: take
    # the one it carries most often.
    identities = Counter(s.identity_id for s in track if s.identity_id is not None)
    return f"id{identities.most_common(1)[0][0]:05d}" if identities else None


def _evenly(items: list[Sighting], count: int) -> list[Sighting]:
    if len(items) <= count:
        return items
    picks = np.unique(np.linspace(0, len(items) - 1, count).round().astype(int))
    return [items[int(i)] for i in picks]


def _select(
    sightings: Iterable[Sighting], options: BuildOptions
) -> tuple[dict[int, list[Sighting]], int]:
    """Per track: the sightings that pass the filters, at most max_crops, evenly spaced."""
    by_track: defaultdict[int, list[Sighting]] = defaultdict(list)
    tracks = set()
    for sighting in sightings:
        tracks.add(sighting.track_id)
        if sighting.height >= options.min_height and sighting.score >= options.min_score:
            by_track[sighting.track_id].append(sighting)
    selected = {track: _evenly(items, options.max_crops) for track, items in by_track.items()}
    return selected, len(tracks)


def _plan(
    tracks: dict[int, list[Sighting]], options: BuildOptions, camera: str, duration_s: float
) -> list[_Crop]:
    """Which crop goes to which split, label and (pseudo-)camera."""
    by_label: defaultdict[str, list[Sighting]] = defaultdict(list)
    test_start = duration_s * (1.0 - options.test_fraction)
    held_out: set[str] = set()
    for items in tracks.values():
        label = _label(items, options, camera)
        if label is None:
            continue
        by_label[label].extend(items)
        if options.split == "time" and items[0].timestamp_s >= test_start:
            held_out.add(label)
    plan: list[_Crop] = []
    for label, items in sorted(by_label.items()):
        if len(items) < options.min_crops:
            continue
        items.sort(key=lambda s: (s.frame, s.track_id))
        if label not in held_out:
            plan.extend(_Crop("train", label, camera, item) for item in items)
            continue
        early, late = items[: len(items) // 2], items[len(items) // 2 :]
        plan.append(_Crop("query", label, f"{camera}-early", early[len(early) // 2]))
        plan.extend(_Crop("gallery", label, f"{camera}-late", item) for item in late)
    return plan


def _file_name(crop: _Crop) -> str:
    sighting = crop.sighting
    return f"{crop.camera}_f{sighting.frame:06d}_t{sighting.track_id:05d}.jpg"


def _frames(video: Path, wanted: set[int]) -> Iterator[tuple[int, np.ndarray]]:
    """The wanted frames of `video`, decoded in order (the pipeline's frame numbering)."""
    last = max(wanted)
    with VideoFileSource(video) as source:
        for index, _, frame in source:
            if index in wanted:
                yield index, frame
            if index >= last:
                return


def _write_crops(plan: list[_Crop], video: Path, out: Path, quality: int) -> tuple[int, int]:
    """Cut and save every planned crop; returns (files written, frames decoded)."""
    by_frame: defaultdict[int, list[_Crop]] = defaultdict(list)
    for crop in plan:
        by_frame[crop.sighting.frame].append(crop)
    written = decoded = 0
    for index, frame in _frames(video, set(by_frame)):
        decoded += 1
        crops = by_frame[index]
        boxes = np.array([crop.sighting.xyxy for crop in crops], dtype=np.float32)
        for crop, image in zip(crops, crop_boxes(frame, boxes), strict=True):
            folder = out / crop.split / crop.label
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / _file_name(crop)
            if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
                raise OSError(f"cannot write {path}")
            written += 1
    if decoded < len(by_frame):
        raise BuildError(
            f"{video} ended before frame {max(by_frame)}: is it the video of this tracks file?"
        )
    return written, decoded


def build_dataset(tracks_file: Path, video: Path, out: Path, options: BuildOptions) -> BuildSummary:
    """Write the crops of `tracks_file` (a run over `video`) into `out`; see the module
    docstring. Existing files of other cameras in `out` are kept."""
    camera = camera_label(options.camera)
    sightings = read_tracks(tracks_file)
    tracks, tracks_read = _select(sightings, options)
    duration = max((s.timestamp_s for s in sightings), default=0.0)
    plan = _plan(tracks, options, camera, duration)
    if not plan:
        raise BuildError(
            f"no track of {tracks_file} passes the filters (min height {options.min_height} "
            f"px, min score {options.min_score}, at least {options.min_crops} crops)"
        )
    written, decoded = _write_crops(plan, video, out, options.jpeg_quality)
    summary = BuildSummary(tracks_read=tracks_read, sightings_kept=written, frames_decoded=decoded)
    for split in ("train", "query", "gallery"):
        in_split = [crop for crop in plan if crop.split == split]
        if in_split:
            summary.crops[split] = len(in_split)
            summary.labels[split] = len({crop.label for crop in in_split})
    record = {
        "video": str(video),
        "tracks": str(tracks_file),
        "options": asdict(options),
        "summary": summary.to_dict(),
    }
    (out / f"build_{camera}.json").write_text(json.dumps(record, indent=2) + "\n", "utf-8")
    logger.info("%s: %d crops of %s", out, written, summary.labels)
    return summary
