"""What the benchmark scripts share: where the assets are, the machine they ran on, and
rewriting their own section of `benchmarks/RESULTS.md`.

Each script owns one section of the results file, between `<!-- BEGIN name -->` and
`<!-- END name -->`; rewriting it leaves the rest of the file as it is (a missing section
is appended).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
RESULTS_FILE = BENCHMARKS_DIR / "RESULTS.md"
RESULTS_HEADER = """# Benchmark results

Written by the scripts in this folder, one section each (see `benchmarks/README.md`).
Each section records the machine, the date and the command that produced it; rerun that
command to refresh it. Timings from a shared or busy machine are noisy: compare the ratios
measured in the same run, not absolute numbers across sections.
"""

# Packages whose versions a results section records (those that are installed).
TRACKED_PACKAGES = (
    "torch",
    "ultralytics",
    "onnxruntime",
    "openvino",
    "trackers",
    "supervision",
    "trackeval",
    "numpy",
    "lap",
    "opencv-python",
)


# The peers' detector settings, used by every side of a side-by-side run: the confidence
# `model.track()` uses, Ultralytics' default NMS IoU, its default input size.
PEER_DETECTOR_CONF = 0.1
PEER_NMS_IOU = 0.7
PEER_IMGSZ = 640


def side_by_side_overrides(
    detector: Path, embedder: Mapping[str, Any], models_dir: Path
) -> dict[str, Any]:
    """Our configuration for a run beside the peers: their detector settings on the CPU, the
    given embedder settings, no annotated video."""
    return {
        "detector": {
            "model": str(detector),
            "device": "cpu",
            "imgsz": PEER_IMGSZ,
            "confidence": PEER_DETECTOR_CONF,
            "nms_iou": PEER_NMS_IOU,
        },
        "embedder": dict(embedder),
        "models_dir": str(models_dir),
        "output": {"video": False},
    }


def assets_root() -> Path:
    """`TRACKER_ASSETS`, or `../shared/assets` beside the repository."""
    configured = os.environ.get("TRACKER_ASSETS")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "assets"


def require(path: Path, what: str) -> Path:
    if not path.exists():
        raise SystemExit(f"{what} not found at {path} (set TRACKER_ASSETS to the assets folder)")
    return path


# --- the machine --------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8")
        match = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.MULTILINE)
        if match:
            return f"{match.group(1)} (kernel {platform.release()})"
    except OSError:
        pass
    return platform.platform()


def memory_gib() -> float:
    import psutil

    return float(psutil.virtual_memory().total) / 2**30


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def machine_lines(extra_versions: Mapping[str, str] | None = None) -> list[str]:
    """Markdown bullet lines: date, CPU, cores, RAM, OS, Python and package versions."""
    versions = {**package_versions(), **(extra_versions or {})}
    load = (
        ", ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    )
    return [
        f"- Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs ({usable_cpus()} usable), "
        f"{memory_gib():.0f} GiB RAM; load average at the end: {load}",
        f"- OS: {os_name()}; Python {platform.python_version()}",
        "- Versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()),
    ]


def pin_threads(threads: int) -> None:
    """Use `threads` CPU threads in this process, whatever the library.

    Sets the OpenMP/BLAS variables (read when those libraries load, so call this before
    importing them), PyTorch's intra-op pool once it is imported, and the CPU affinity to
    `threads` cores, which also bounds OpenVINO's own thread pool.
    """
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cores[:threads])
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


# --- the results file ---------------------------------------------------------------------


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"


def write_section(path: Path, name: str, body: str) -> None:
    """Replace the `name` section of the results file with `body` (appended if absent)."""
    begin, end = _markers(name)
    block = f"{begin}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else RESULTS_HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def read_section(path: Path, name: str) -> str | None:
    begin, end = _markers(name)
    if not path.exists():
        return None
    match = re.search(
        re.escape(begin) + r"\n(.*?)\n" + re.escape(end), path.read_text("utf-8"), re.DOTALL
    )
    return match.group(1) if match else None


def markdown_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], text_columns: int = 1
) -> str:
    """A GitHub markdown table: the first `text_columns` columns and any column holding
    text are left-aligned, numeric columns right-aligned."""
    table = [list(row) for row in rows]
    align = []
    for index in range(len(headers)):
        numeric = all(_numeric(row[index]) for row in table)
        align.append("--:" if index >= text_columns and numeric else ":--")
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in table)
    return "\n".join(lines)


def _numeric(cell: object) -> bool:
    text = str(cell)
    for decoration in (",", "x", "%", "*"):
        text = text.replace(decoration, "")
    text = text.strip()
    try:
        float(text)
    except ValueError:
        return text in ("n/a", "-", "")
    return True


def command_line(script: str, argv: Sequence[str]) -> str:
    return " ".join(["uv run python", f"benchmarks/{script}", *argv])


def run_quiet(command: Sequence[str], timeout: float = 60) -> str | None:
    """stdout of a short command, or None when it fails."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


# --- video workers (main environment and the BoxMOT one alike) ----------------------------


def iter_frames(path: Path, limit: int | None = None) -> Iterator[tuple[int, NDArray[np.uint8]]]:
    """(index from 0, BGR frame) for the first `limit` decodable frames of a video."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SystemExit(f"cannot open video {path}")
    try:
        index = 0
        while limit is None or index < limit:
            ok, frame = capture.read()
            if not ok or frame is None:
                return
            yield index, np.asarray(frame, dtype=np.uint8)
            index += 1
    finally:
        capture.release()


def video_rate(path: Path) -> float:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        rate = float(capture.get(cv2.CAP_PROP_FPS))
    finally:
        capture.release()
    return rate if 1.0 <= rate <= 240.0 else 30.0


class PeakMemory:
    """Peak resident memory of this process: psutil's RSS sampled on every `sample()`, and
    the kernel's high-water mark (`ru_maxrss`) as a check."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak_bytes = 0
        self.sample()

    def sample(self) -> None:
        self.peak_bytes = max(self.peak_bytes, int(self._process.memory_info().rss))

    def report(self) -> dict[str, float]:
        self.sample()
        result = {"peak_rss_mib": self.peak_bytes / 2**20}
        try:
            import resource

            # Linux reports kibibytes.
            result["ru_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        except (ImportError, OSError):
            pass
        return result


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
