"""Typed configuration, validated once at start-up.

Precedence, lowest first: built-in defaults < YAML file (`--config` or `TRACKER_CONFIG`) <
environment variables prefixed `TRACKER_` < command-line options. Unknown keys are rejected
everywhere, so a typo fails at start-up instead of being silently ignored.

Environment variables: `TRACKER_<SECTION>__<KEY>` sets a nested key (e.g.
`TRACKER_TRACKER__LOST_BUFFER_S=3`); shortcuts: `TRACKER_DETECTOR`, `TRACKER_EMBEDDER`, ...
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from tracker_service.config_base import StrictModel
from tracker_service.config_cluster import EventsConfig, JobsConfig, check_postgres_url
from tracker_service.config_security import ServiceSecurityConfig, StreamPolicyConfig
from tracker_service.config_tracker import TrackerConfig
from tracker_service.detection.motion import MotionConfig
from tracker_service.events.settings import HistoryConfig, ZonesConfig

ENV_PREFIX = "TRACKER_"
NON_CONFIG_ENV = frozenset({"TRACKER_CONFIG", "TRACKER_ASSETS"})  # read elsewhere, not keys
ENV_SHORTCUTS: Mapping[str, tuple[str, ...]] = {
    "TRACKER_DETECTOR": ("detector", "model"),
    "TRACKER_EMBEDDER": ("embedder", "model"),
    "TRACKER_DATA_DIR": ("data_dir",),
    "TRACKER_MODELS_DIR": ("models_dir",),
    "TRACKER_MODELS_BASE_URL": ("models_base_url",),
    "TRACKER_API_KEY": ("service", "api_key"),
}


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the reason."""


class DetectorConfig(StrictModel):
    """Ultralytics YOLO detector, persons only."""

    model: str = Field("yolo11n.pt", description="Ultralytics model name, file or export dir")
    device: str = Field("auto", description="auto (CUDA when present, else CPU), cpu, cuda:N")
    imgsz: int = Field(640, ge=32, le=4096, description="inference size, a multiple of 32")
    confidence: float = Field(
        0.1, ge=0.0, le=1.0, description="lowest score kept (the tracker's low stage uses these)"
    )
    nms_iou: float = Field(0.7, gt=0.0, le=1.0)
    half: bool = Field(False, description="FP16 inference (CUDA only)")
    max_batch: int = Field(8, ge=1, le=256, description="frames of streams run together")

    @model_validator(mode="after")
    def _imgsz_stride(self) -> DetectorConfig:
        if self.imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32, got {self.imgsz}")
        return self


class EmbedderConfig(StrictModel):
    """Person re-ID embedder."""

    model: str = Field("osnet_x0_25_msmt17_exported", description="manifest name, or a path")
    backend: Literal["auto", "onnx", "torch"] = Field(
        "auto", description="auto picks by file type: .onnx -> onnx, .pt/.pth -> torch"
    )
    device: str = "auto"
    max_batch: int = Field(64, ge=1, le=1024, description="crops per forward pass at most")
    threads: int = Field(
        0, ge=0, description="CPU threads for inference; 0 = every CPU this process may use"
    )


class GateConfig(StrictModel):
    """When the re-ID gate asks the embedder for a detection's appearance."""

    novelty_iou: float = Field(
        0.3, ge=0.0, le=1.0, description="best IoU with any predicted track below this: new"
    )
    margin_iou: float = Field(
        0.2, ge=0.0, le=1.0, description="best minus second-best IoU below this: ambiguous"
    )
    overlap_iou: float = Field(
        0.25, ge=0.0, le=1.0, description="IoU with another detection above this: crowded"
    )
    min_score: float = Field(0.5, ge=0.0, le=1.0, description="only embed confident boxes")
    min_height_px: int = Field(40, ge=1, description="smaller boxes make useless crops")
    refresh_s: float = Field(
        0.0, ge=0.0, description="re-embed a settled track this often (0 = never)"
    )
    identify_samples: int = Field(
        3, ge=1, description="samples a track gathers before its identity is resolved"
    )
    identify_interval_s: float = Field(
        0.25, ge=0.0, description="spacing between a new track's identity samples"
    )
    identify_timeout_s: float = Field(
        0.0, ge=0.0, description="give a provisional identity once a track is this old"
    )
    border_px: int = Field(
        4, ge=0, description="boxes this close to the frame edge are cut-off views"
    )


class CacheConfig(StrictModel):
    """Per-track embedding cache."""

    max_tracks: int = Field(2048, ge=1, description="entries kept; least recently used go")
    momentum: float = Field(
        0.8, ge=0.0, lt=1.0, description="EMA weight of the old vector once warmed up"
    )


class GalleryConfig(StrictModel):
    """FAISS gallery of global identities."""

    match_threshold: float = Field(
        0.87, ge=-1.0, le=1.0, description="cosine similarity to join an existing identity"
    )
    max_exemplars: int = Field(8, ge=1, le=256, description="exemplars kept per identity")
    exemplar_min_distance: float = Field(
        0.05, ge=0.0, le=2.0, description="a new exemplar must differ this much (cosine)"
    )
    max_identities: int = Field(100_000, ge=1)
    url: str | None = Field(None, description="postgresql://... : one gallery for every node")

    _postgres = field_validator("url")(check_postgres_url)


class OutputConfig(StrictModel):
    video: bool = Field(True, description="write the annotated MP4")
    mot_ids: Literal["track", "identity"] = Field("track", description="mot.txt's ID column")
    hindsight: bool = Field(
        True,
        description="file runs: fill short gaps of tracks lost and found again, start new "
        "tracks where the detector first saw them, and write each track under the identity it "
        "ended with, in tracks.jsonl, mot.txt and the scores (live streams never wait)",
    )
    # ByteTrack's and BoT-SORT's offline interpolation fills gaps of up to 20 frames of
    # MOT17's 30 fps. On MOT15's six sequences (public detections) gaps of up to 2 s added
    # more wrong boxes than right ones: IDF1 57.87 -> 56.68, where 0.6 s gave 57.99.
    hindsight_s: float = Field(
        round(20 / 30, 2),
        ge=0.0,
        le=10.0,
        description="file runs: results are held back this long; longer gaps stay gaps",
    )


class ServiceConfig(ServiceSecurityConfig, StrictModel):
    """The HTTP service (`tracker-service serve`); the security keys are in config_security."""

    host: str = Field("127.0.0.1", description="bind address; 0.0.0.0 to listen on all")
    port: int = Field(8000, ge=1, le=65535)
    max_upload_mb: float = Field(2048.0, gt=0.0, description="largest accepted video upload")
    max_queued_jobs: int = Field(8, ge=1, description="jobs waiting; more get 503")
    job_workers: int = Field(1, ge=1, le=16, description="videos processed at once")
    max_jobs_kept: int = Field(
        500, ge=1, description="finished jobs kept on disk; the oldest are deleted"
    )
    log_format: Literal["text", "json"] = Field("text", description="json: one object a line")


class StreamsConfig(StreamPolicyConfig, StrictModel):
    """Live streams (RTSP cameras, HTTP, looping files): reading, reconnecting, publishing;
    where they may point is in config_security."""

    max_streams: int = Field(16, ge=1, le=1024, description="streams registered at once at most")
    # Off: an API user must not open the host's cameras unless the operator allows it.
    allow_devices: bool = Field(False, description="camera devices (/dev/videoN) as streams")
    max_fps: float = Field(
        15.0,
        ge=0.0,
        le=240.0,
        description="frames processed per second per stream at most (0 = the camera's rate); "
        "frames in between are skipped, never queued",
    )
    rtsp_transport: Literal["tcp", "udp"] = Field(
        "tcp", description="RTSP over TCP survives NAT and lossy links; UDP has less delay"
    )
    open_timeout_s: float = Field(
        10.0, gt=0.0, le=300.0, description="connecting to a camera gives up after this"
    )
    read_timeout_s: float = Field(
        5.0, gt=0.0, le=300.0, description="no frame for this long: stalled, reconnect"
    )
    max_behind_s: float = Field(
        10.0,
        ge=0.0,
        le=3600.0,
        description="an RTSP reader this far behind the camera's clock (decoding slower than "
        "real time) reconnects at the live edge; 0 = never",
    )
    reconnect_initial_s: float = Field(
        1.0, gt=0.0, le=3600.0, description="first wait before reconnecting; doubles each time"
    )
    reconnect_max_s: float = Field(
        30.0, gt=0.0, le=3600.0, description="longest wait between reconnection attempts"
    )
    reconnect_jitter: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="each wait varies randomly by this share, so that cameras behind one "
        "failed switch do not all reconnect at the same instant",
    )
    subscriber_queue: int = Field(
        256, ge=1, le=100_000, description="events kept per subscriber; a slow one loses the oldest"
    )
    max_subscribers: int = Field(64, ge=1, le=10_000, description="subscribers per stream at most")
    jpeg_quality: int = Field(80, ge=10, le=100, description="annotated snapshot JPEG quality")
    jpeg_max_fps: float = Field(
        10.0,
        gt=0.0,
        le=60.0,
        description="annotated JPEGs encoded per second per stream at most, and only on request",
    )
    stats_window_s: float = Field(
        30.0, gt=0.0, le=3600.0, description="window of the processing rate and the maximum lag"
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> StreamsConfig:
        if self.reconnect_initial_s > self.reconnect_max_s:
            raise ValueError("reconnect_initial_s must not exceed reconnect_max_s")
        return self


class Config(StrictModel):
    detector: DetectorConfig = DetectorConfig()
    embedder: EmbedderConfig = EmbedderConfig()
    tracker: TrackerConfig = TrackerConfig()
    motion: MotionConfig = MotionConfig()
    gate: GateConfig = GateConfig()
    cache: CacheConfig = CacheConfig()
    gallery: GalleryConfig = GalleryConfig()
    output: OutputConfig = OutputConfig()
    service: ServiceConfig = ServiceConfig()
    streams: StreamsConfig = StreamsConfig()
    jobs: JobsConfig = JobsConfig()
    zones: ZonesConfig = ZonesConfig()
    events: EventsConfig = EventsConfig()
    history: HistoryConfig = HistoryConfig()
    models_dir: Path = Field(Path("models"), description="where model weights are looked up")
    models_base_url: str | None = Field(
        None, pattern=r"^https?://\S+$", description="a mirror: models from <this>/<file>"
    )
    data_dir: Path = Field(Path("data"), description="jobs, gallery and other state")


def _set_path(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{'.'.join(path)}: {key} is not a section")
        node = child
    node[path[-1]] = value


def merge_trees(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """`base` updated by `update`, mappings merged key by key (later wins)."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge_trees(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parse_env_value(raw: str) -> Any:
    # Lists and mappings may be given as JSON; everything else is left to pydantic to coerce.
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Configuration keys set by `TRACKER_*` variables (unknown ones are an error)."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NON_CONFIG_ENV:
            continue
        if name in ENV_SHORTCUTS:
            path = ENV_SHORTCUTS[name]
        else:
            path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
            if not _is_known_key(path):
                raise ConfigError(
                    f"environment variable {name} is not a configuration key "
                    f"(expected TRACKER_<SECTION>__<KEY>, e.g. TRACKER_TRACKER__LOST_BUFFER_S)"
                )
        _set_path(tree, path, _parse_env_value(raw))
    return tree


def _is_known_key(path: tuple[str, ...]) -> bool:
    model: type[BaseModel] = Config
    for depth, key in enumerate(path):
        field = model.model_fields.get(key)
        if field is None:
            return False
        annotation = field.annotation
        if depth < len(path) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {_yaml_problem(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's error on one line, with the line and column in the file (1-based)."""
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem is None:
        return " ".join(str(error).split())
    where = ""
    if error.problem_mark is not None:
        where = f"line {error.problem_mark.line + 1}, column {error.problem_mark.column + 1}: "
    context = f" ({error.context})" if error.context else ""
    return f"{where}{error.problem}{context}"


def format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {location}: {item['msg']}")
    return "\n".join(lines)


def load_config(
    path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Defaults < YAML file < environment < `overrides` (the command line), validated."""
    environ = os.environ if environ is None else environ
    if path is None and environ.get("TRACKER_CONFIG"):
        path = Path(environ["TRACKER_CONFIG"])
    tree: dict[str, Any] = {} if path is None else read_yaml(path)
    tree = merge_trees(tree, env_overrides(environ))
    tree = merge_trees(tree, overrides or {})
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        source = f"defaults < {path or 'no file'} < TRACKER_* environment < command line"
        raise ConfigError(format_validation_error(exc, source)) from None


def fps_to_frames(seconds: float, fps: float) -> int:
    """A duration in seconds as a whole number of frames at `fps` (at least one)."""
    return max(1, round(seconds * fps))
