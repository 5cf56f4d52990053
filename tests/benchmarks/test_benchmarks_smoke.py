"""Smoke runs of the benchmark scripts in `--quick` mode: they run, score and report.

No timing is checked (timings are the benchmarks' business, never a test's). Each script
runs as a subprocess, as a user would run it, writing its section into a temporary results
file. The BoxMOT part needs `benchmarks/.venv-boxmot` (`bash benchmarks/setup_boxmot.sh`)
and is skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, assets_root, require_asset

BENCHMARKS = REPO_ROOT / "benchmarks"
BOXMOT_PYTHON = BENCHMARKS / ".venv-boxmot" / "bin" / "python"
QUICK_FRAMES = "20"


def _run(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stderr[-3000:]}"
    return done


def _common() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_common", BENCHMARKS / "common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_write_section_replaces_only_its_own_section(tmp_path: Path) -> None:
    common = _common()
    results = tmp_path / "RESULTS.md"
    common.write_section(results, "a", "first A")
    common.write_section(results, "b", "first B")
    common.write_section(results, "a", "second A")
    text = results.read_text(encoding="utf-8")
    assert "second A" in text and "first A" not in text and "first B" in text
    assert text.index("BEGIN a") < text.index("BEGIN b")  # the order is kept
    assert common.read_section(results, "b") == "first B"


def test_motion_quick(tmp_path: Path) -> None:
    require_asset("mot/MOT15/TUD-Campus")
    results = tmp_path / "RESULTS.md"
    raw = tmp_path / "motion.json"
    done = _run(
        "motion_mot15.py",
        "--quick",
        "--trackers",
        "ours",
        "ultralytics-bytetrack",
        "trackers-sort",
        "--results",
        str(results),
        "--json",
        str(raw),
        timeout=120,
    )
    text = results.read_text(encoding="utf-8")
    assert "<!-- BEGIN motion_mot15 -->" in text and "<!-- END motion_mot15 -->" in text
    assert "| ours |" in done.stdout  # printed and written alike
    numbers = json.loads(raw.read_text(encoding="utf-8"))
    assert set(numbers) == {"ours", "ultralytics-bytetrack", "trackers-sort"}
    for name, entry in numbers.items():
        combined = entry["default"]["combined"]
        assert 0.0 < combined["hota"] <= 1.0, name
        assert entry["tuned"] is not None and entry["grid_size"] == 2
        assert entry["update_fps_median"] > 0


@pytest.fixture(scope="module")
def video_quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require_asset("videos/people-detection.mp4")
    require_asset("models/yolov8n_int8_openvino_model")
    require_asset("models/osnet_x0_25_msmt17.onnx")
    folder = tmp_path_factory.mktemp("video")
    pipelines = ["ours"]
    if BOXMOT_PYTHON.exists() and (assets_root() / "models/osnet_x0_25_msmt17.pth").exists():
        pipelines.append("boxmot-deepocsort")
    results = folder / "RESULTS.md"
    raw = folder / "video.json"
    _run(
        "video_e2e.py",
        "--quick",
        "--frames",
        QUICK_FRAMES,
        "--threads",
        "1",
        "--no-boxmot-setup",
        "--pipelines",
        *pipelines,
        "--results",
        str(results),
        "--json",
        str(raw),
        timeout=240,
    )
    return {
        "section": results.read_text(encoding="utf-8"),
        "raw": json.loads(raw.read_text(encoding="utf-8"))["pipelines"],
    }


@pytest.mark.slow  # real models over real frames, in subprocesses
def test_video_quick_ours(video_quick: dict[str, Any]) -> None:
    assert "<!-- BEGIN video_e2e -->" in video_quick["section"]
    raw = video_quick["raw"]
    for name in ("detector", "ours"):
        assert raw[name]["error"] is None, raw[name]["error"]
        (result,) = raw[name]["results"]
        assert result["frames"] == int(QUICK_FRAMES)
        assert result["peak_rss_mib"] > 0
    ours = raw["ours"]["results"][0]
    assert 0 <= ours["embedded"] <= ours["detections"]
    assert "| ours |" in video_quick["section"]


@pytest.mark.slow
def test_video_quick_boxmot(video_quick: dict[str, Any]) -> None:
    raw = video_quick["raw"]
    if "boxmot-deepocsort" not in raw:
        pytest.skip(f"BoxMOT venv absent ({BOXMOT_PYTHON}); bash benchmarks/setup_boxmot.sh")
    entry = raw["boxmot-deepocsort"]
    assert entry["error"] is None, entry["error"]
    (result,) = entry["results"]
    # BoxMOT's appearance trackers embed every detection they are given.
    assert result["embedded"] == result["detections"]
    assert "| boxmot-deepocsort |" in video_quick["section"]
