"""The built-in defaults on a machine that has never seen a model: downloaded from a real
HTTP server on 127.0.0.1 standing in for the download hosts (`models_base_url`), exported
once, cached; and offline, one line that names the fix."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_asset
from tests.deploy.conftest import FileServer
from tests.service import free_port
from tracker_service.config import EmbedderConfig
from tracker_service.model_store import (
    ModelError,
    ModelStatus,
    check_entry,
    load_manifest,
    obtain_entry,
    verify_entry,
)
from tracker_service.reid.factory import describe, load_embedder

DEFAULT_EMBEDDER = "osnet_x0_25_msmt17_exported"
TRACKER = Path(sys.executable).parent / "tracker-service"


def clean_environment(home: Path, **extra: str) -> dict[str, str]:
    """No TRACKER_* settings and an empty HOME and caches, as on a new machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "XDG_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), **extra)
    env.pop("YOLO_CONFIG_DIR", None)
    return env


def test_the_default_embedder_is_a_first_use_export() -> None:
    entry = load_manifest()[EmbedderConfig().model]
    assert entry.name == DEFAULT_EMBEDDER
    assert entry.export_from is not None and entry.export_from.url
    assert entry.export_from.sha256 == (
        "6f57607fed9f502b9efed546108132ee715df5a5b6e6932c6269bacb47f59f99"
    )


@pytest.mark.slow
def test_first_use_downloads_exports_once_and_reuses(
    tmp_path: Path, file_server: FileServer
) -> None:
    shutil.copy(require_asset("models/osnet_x0_25_msmt17.pth"), file_server.root)
    models = tmp_path / "models"
    embedder = load_embedder(EmbedderConfig(), models, file_server.base_url)
    exported = models / "osnet_x0_25_msmt17_exported.onnx"
    assert describe(embedder).model_path == str(exported)
    assert describe(embedder).backend == "onnx"
    assert (models / "osnet_x0_25_msmt17.pth").is_file()  # the verified download
    entry = load_manifest()[DEFAULT_EMBEDDER]
    assert verify_entry(entry, models) == []
    assert check_entry(entry, models).status is ModelStatus.VERIFIED
    crops = [np.full((200, 80, 3), value, np.uint8) for value in (40, 200)]
    assert embedder.embed(crops).shape == (2, 512)

    written = exported.stat().st_mtime_ns
    file_server.root.joinpath("osnet_x0_25_msmt17.pth").unlink()  # no second download
    again = load_embedder(EmbedderConfig(), models, file_server.base_url)
    assert describe(again).model_path == str(exported)
    assert exported.stat().st_mtime_ns == written  # exported once

    data = bytearray(exported.read_bytes())
    data[-1] ^= 0xFF
    exported.write_bytes(bytes(data))
    assert check_entry(entry, models).status is ModelStatus.CORRUPT


def test_an_export_without_its_record_is_not_trusted(tmp_path: Path) -> None:
    entry = load_manifest()[DEFAULT_EMBEDDER]
    (tmp_path / entry.file).write_bytes(b"an onnx file nobody recorded")
    problems = verify_entry(entry, tmp_path)
    assert problems and "export record" in problems[0]


def test_offline_first_run_fails_at_once_with_one_line(tmp_path: Path) -> None:
    video = require_asset("videos/people-detection.mp4")
    offline = f"http://127.0.0.1:{free_port()}"  # nothing listens: what offline looks like
    env = clean_environment(tmp_path / "home", TRACKER_MODELS_BASE_URL=offline)
    started = time.monotonic()
    result = subprocess.run(
        [str(TRACKER), "track", str(video), "--out", str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tracker-service track: error: cannot download model 'yolo11n'")
    assert "run `tracker-service models pull yolo11n`" in lines[0]
    assert "put yolo11n.pt (from https://github.com/ultralytics/" in lines[0]
    assert f"into {Path('models')}" in lines[0]
    assert not (tmp_path / "yolo11n.pt").exists()  # nothing lands in the working directory
    print(f"offline failure after {elapsed:.1f} s")  # reported, not asserted (timing)


def test_a_folder_model_comes_from_a_mirror_file_by_file(
    tmp_path: Path, file_server: FileServer
) -> None:
    # The OpenVINO export has no public URL; a mirror serves <base>/<folder>/<each file>.
    shutil.copytree(
        require_asset("models/yolov8n_int8_openvino_model"),
        file_server.root / "yolov8n_int8_openvino_model",
    )
    entry = load_manifest()["yolov8n_int8_openvino"]
    models = tmp_path / "models"
    path = obtain_entry(entry, models, file_server.base_url)
    assert path == models / "yolov8n_int8_openvino_model"
    assert check_entry(entry, models).status is ModelStatus.VERIFIED
    assert sorted(p.name for p in models.iterdir()) == ["yolov8n_int8_openvino_model"]


def test_a_wrong_file_on_the_mirror_leaves_nothing_behind(
    tmp_path: Path, file_server: FileServer
) -> None:
    folder = file_server.root / "yolov8n_int8_openvino_model"
    shutil.copytree(require_asset("models/yolov8n_int8_openvino_model"), folder)
    (folder / "metadata.yaml").write_text("not the exported metadata\n")
    models = tmp_path / "models"
    with pytest.raises(ModelError, match=r"metadata\.yaml has SHA-256 .* the file was discarded"):
        obtain_entry(load_manifest()["yolov8n_int8_openvino"], models, file_server.base_url)
    assert list(models.iterdir()) == []
