"""What a video job is: its state, its record on disk (`job.json`), its folder; shared by the
local job manager (`jobs.py`) and the shared queue (`jobs_shared.py`)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from tracker_service.zones import ZoneSet, parse_zone_set

if TYPE_CHECKING:  # scoring imports TrackEval: only jobs given ground truth load it
    from tracker_service.evaluation.video import GroundTruth

JOB_FILE = "job.json"
ZONES_FILE = "zones.json"  # the zones and lines uploaded with the video, if any
GROUND_TRUTH_FILE = "ground_truth.txt"  # MOTChallenge gt rows uploaded with it, if any
INPUT_STEM = "input"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class QueueFullError(RuntimeError):
    """No room for another job; retry later."""


class JobNotFoundError(KeyError):
    """No job with that id."""


class JobBusyError(RuntimeError):
    """The job was asked to stop but is still running; retry in a moment."""


@dataclass(frozen=True)
class Job:
    job_id: str
    filename: str
    input_file: str
    state: JobState
    created_at: float
    size_bytes: int
    frames_done: int = 0
    frames_total: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    summary: dict[str, object] | None = None

    @property
    def progress(self) -> float:
        if self.state is JobState.SUCCEEDED:
            return 1.0
        if not self.frames_total:
            return 0.0
        return min(1.0, self.frames_done / self.frames_total)

    @classmethod
    def queued(cls, job_id: str, filename: str, input_file: Path) -> Job:
        """A new job for an uploaded, already validated video."""
        size = input_file.stat().st_size
        return cls(job_id, filename, input_file.name, JobState.QUEUED, time.time(), size)

    def event(self) -> dict[str, object]:
        """What a job state change says on the event bus."""
        return {
            "job_id": self.job_id,
            "state": self.state.value,
            "filename": self.filename,
            "progress": self.progress,
            "error": self.error,
            "timestamp": time.time(),
        }

    def to_json(self) -> str:
        data = asdict(self)
        data["state"] = self.state.value
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        data["state"] = JobState(data["state"])
        return cls(**data)


def new_job_dir(root: Path) -> tuple[str, Path]:
    """A new job id and its (new, empty) folder under `root`."""
    job_id = uuid.uuid4().hex[:16]
    directory = root / job_id
    directory.mkdir(parents=True)
    return job_id, directory


def read_job_zones(directory: Path) -> ZoneSet | None:
    path = directory / ZONES_FILE
    if not path.is_file():
        return None
    return parse_zone_set(json.loads(path.read_text(encoding="utf-8")))


def read_job_ground_truth(directory: Path) -> GroundTruth | None:
    """The ground truth uploaded with the job's video: its summary is scored against it."""
    path = directory / GROUND_TRUTH_FILE
    if not path.is_file():
        return None
    from tracker_service.evaluation.mot_files import GT_MIN_COLUMNS, read_mot_file
    from tracker_service.evaluation.video import GroundTruth

    return GroundTruth("upload", read_mot_file(path, GT_MIN_COLUMNS), None)
