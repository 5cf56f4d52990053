"""`tracker-service models list|pull|verify` on the real shared weights, on small files made
here, and against a real HTTP server on 127.0.0.1 (no network mocks)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_asset
from tests.deploy.conftest import FileServer, RunModels, write_manifest
from tracker_service.model_store import load_manifest

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
PAYLOAD = b"not really weights, but bytes with a known checksum\n" * 1000


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model(name: str, file: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "reid", "format": "onnx", "file": file, **extra}


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def leftovers(folder: Path) -> list[str]:
    """Hidden partial downloads left in a models folder."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def shared_models(tmp_path: Path) -> Path:
    """A writable copy of the shared real weights."""
    source = require_asset("models")
    return Path(shutil.copytree(source, tmp_path / "models"))


# --- verify -------------------------------------------------------------------------------


def test_verify_passes_on_the_shared_weights(run_models: RunModels) -> None:
    folder = require_asset("models")
    result = run_models("verify", folder)
    assert result.code == EXIT_OK, result.err
    assert "4 model(s) verified, 0 problem(s)" in result.out
    for name in ("yolov8n_int8_openvino", "osnet_x0_25_msmt17", "osnet_x0_25_msmt17_torch"):
        assert f"verified  {name}" in result.out


def test_verify_names_a_corrupted_file(run_models: RunModels, shared_models: Path) -> None:
    corrupted = shared_models / "osnet_x0_25_msmt17.onnx"
    flip_byte(corrupted, 1000)
    result = run_models("verify", shared_models)
    assert result.code == EXIT_PROBLEMS
    assert f"error: osnet_x0_25_msmt17: {corrupted} has SHA-256" in result.err
    assert "(corrupt or a different file)" in result.err
    assert "3 model(s) verified, 1 problem(s)" in result.out


def test_verify_names_a_file_missing_from_a_model_folder(
    run_models: RunModels, shared_models: Path
) -> None:
    missing = shared_models / "yolov8n_int8_openvino_model" / "yolov8n.bin"
    missing.unlink()
    result = run_models("verify", shared_models)
    assert result.code == EXIT_PROBLEMS
    assert f"error: yolov8n_int8_openvino: {missing} is missing" in result.err


def test_verify_all_requires_every_model_with_a_checksum(run_models: RunModels) -> None:
    # The shared folder has no yolo11n.pt, which the manifest has a checksum for.
    folder = require_asset("models")
    result = run_models("verify", "--all", folder)
    assert result.code == EXIT_PROBLEMS
    assert f"error: yolo11n: {folder / 'yolo11n.pt'} is missing" in result.err
    assert "missing  yolo11n" in result.out


def test_verify_all_passes_when_everything_is_there(run_models: RunModels, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "a.onnx").write_bytes(PAYLOAD)
    manifest = write_manifest(
        tmp_path / "manifest.yaml",
        [
            model("a", "a.onnx", sha256=sha256(PAYLOAD)),
            model("unverifiable", "b.onnx"),  # no checksum: cannot be required
        ],
    )
    result = run_models("verify", "--all", "--manifest", manifest, folder)
    assert result.code == EXIT_OK, result.err
    assert "1 model(s) verified, 0 problem(s)" in result.out


def test_verify_of_a_missing_folder_is_a_usage_error(run_models: RunModels, tmp_path: Path) -> None:
    result = run_models("verify", tmp_path / "nowhere")
    assert result.code == EXIT_USAGE
    assert "does not exist" in result.err


def test_verify_defaults_to_the_configured_models_dir(
    run_models: RunModels, shared_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_MODELS_DIR", str(shared_models))
    flip_byte(shared_models / "osnet_x0_25_market1501.pth", 10)
    result = run_models("verify")
    assert result.code == EXIT_PROBLEMS
    assert str(shared_models / "osnet_x0_25_market1501.pth") in result.err


# --- list ---------------------------------------------------------------------------------


def test_list_shows_each_model_and_its_state(run_models: RunModels, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "good.onnx").write_bytes(PAYLOAD)
    (folder / "bad.onnx").write_bytes(PAYLOAD + b"!")
    (folder / "plain.onnx").write_bytes(PAYLOAD)
    manifest = write_manifest(
        tmp_path / "manifest.yaml",
        [
            model("good", "good.onnx", sha256=sha256(PAYLOAD), licence="MIT"),
            model("bad", "bad.onnx", sha256=sha256(PAYLOAD)),
            model("plain", "plain.onnx"),
            model("gone", "gone.onnx", sha256=sha256(PAYLOAD)),
        ],
    )
    result = run_models("list", "--manifest", manifest, "--models-dir", folder)
    assert result.code == EXIT_OK
    rows = {line.split()[0]: line for line in result.out.splitlines()[2:]}
    assert rows["good"].split()[1:5] == ["reid", "onnx", "good.onnx", "verified"]
    assert rows["good"].endswith("MIT")
    assert "corrupt" in rows["bad"]
    assert "present, no checksum" in rows["plain"]
    assert "absent" in rows["gone"]


def test_list_reads_the_real_manifest(run_models: RunModels, tmp_path: Path) -> None:
    result = run_models("list", "--models-dir", tmp_path)
    assert result.code == EXIT_OK
    for name in load_manifest():
        assert name in result.out
    assert "AGPL-3.0" in result.out


# --- pull ---------------------------------------------------------------------------------


def pull_manifest(tmp_path: Path, url: str, digest: str | None) -> Path:
    return write_manifest(
        tmp_path / "manifest.yaml", [model("served", "served.onnx", url=url, sha256=digest)]
    )


def test_pull_downloads_and_verifies(
    run_models: RunModels, tmp_path: Path, file_server: FileServer
) -> None:
    (file_server.root / "weights.onnx").write_bytes(PAYLOAD)
    manifest = pull_manifest(tmp_path, file_server.url("weights.onnx"), sha256(PAYLOAD))
    folder = tmp_path / "models"
    result = run_models("pull", "--manifest", manifest, "--models-dir", folder, "served")
    assert result.code == EXIT_OK, result.err
    assert "SHA-256 verified" in result.out
    assert (folder / "served.onnx").read_bytes() == PAYLOAD
    assert leftovers(folder) == []
    # Pulled files verify, and a second pull keeps the verified copy without downloading.
    assert run_models("verify", "--manifest", manifest, folder).code == EXIT_OK
    (file_server.root / "weights.onnx").unlink()
    again = run_models("pull", "--manifest", manifest, "--models-dir", folder, "served")
    assert again.code == EXIT_OK
    assert "already present and verified" in again.out


def test_pull_discards_a_download_with_the_wrong_checksum(
    run_models: RunModels, tmp_path: Path, file_server: FileServer
) -> None:
    (file_server.root / "weights.onnx").write_bytes(PAYLOAD + b"tampered")
    manifest = pull_manifest(tmp_path, file_server.url("weights.onnx"), sha256(PAYLOAD))
    folder = tmp_path / "models"
    result = run_models("pull", "--manifest", manifest, "--models-dir", folder, "served")
    assert result.code == EXIT_USAGE
    assert f"expected {sha256(PAYLOAD)}; the file was discarded" in result.err
    assert not (folder / "served.onnx").exists()
    assert leftovers(folder) == []


def test_pull_force_replaces_a_corrupt_copy(
    run_models: RunModels, tmp_path: Path, file_server: FileServer
) -> None:
    (file_server.root / "weights.onnx").write_bytes(PAYLOAD)
    manifest = pull_manifest(tmp_path, file_server.url("weights.onnx"), sha256(PAYLOAD))
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "served.onnx").write_bytes(b"truncated")
    result = run_models("pull", "--manifest", manifest, "--models-dir", folder, "served")
    assert result.code == EXIT_OK, result.err
    assert (folder / "served.onnx").read_bytes() == PAYLOAD


def test_pull_offline_fails_clearly(
    run_models: RunModels, tmp_path: Path, closed_port_url: str
) -> None:
    manifest = pull_manifest(tmp_path, closed_port_url, sha256(PAYLOAD))
    folder = tmp_path / "models"
    result = run_models("pull", "--manifest", manifest, "--models-dir", folder, "served")
    assert result.code == EXIT_USAGE
    assert f"cannot download model 'served' from {closed_port_url}" in result.err
    assert (
        "offline? run `tracker-service models pull served` on a machine with a network, or "
        f"put served.onnx (from {closed_port_url}) into {folder}"
    ) in result.err
    assert result.err.count("\n") == 1  # one line
    assert leftovers(folder) == []


def test_pull_reports_an_http_error(
    run_models: RunModels, tmp_path: Path, file_server: FileServer
) -> None:
    manifest = pull_manifest(tmp_path, file_server.url("missing.onnx"), sha256(PAYLOAD))
    result = run_models("pull", "--manifest", manifest, "--models-dir", tmp_path / "m", "served")
    assert result.code == EXIT_USAGE
    assert "the server answered HTTP 404" in result.err


def test_pull_rejects_a_web_page_instead_of_weights(
    run_models: RunModels, tmp_path: Path, file_server: FileServer
) -> None:
    # What Google Drive sends when its quota is exhausted: a page, with HTTP 200.
    (file_server.root / "quota.html").write_text("<html>Too many users</html>")
    manifest = pull_manifest(tmp_path, file_server.url("quota.html"), sha256(PAYLOAD))
    result = run_models("pull", "--manifest", manifest, "--models-dir", tmp_path / "m", "served")
    assert result.code == EXIT_USAGE
    assert "the server sent a web page, not the file" in result.err


def test_pull_of_a_model_without_url_explains_where_to_get_it(
    run_models: RunModels, tmp_path: Path
) -> None:
    result = run_models("pull", "--models-dir", tmp_path, "osnet_x0_25_msmt17")
    assert result.code == EXIT_USAGE
    assert "model 'osnet_x0_25_msmt17' has no download URL" in result.err
    assert f"place osnet_x0_25_msmt17.onnx in {tmp_path}" in result.err
    assert "tracker-service reid export" in result.err


def test_pull_of_an_unknown_model_lists_the_known_ones(
    run_models: RunModels, tmp_path: Path
) -> None:
    result = run_models("pull", "--models-dir", tmp_path, "osnet_x9")
    assert result.code == EXIT_USAGE
    assert "no model named 'osnet_x9'" in result.err
    assert "osnet_x0_25_msmt17_torch" in result.err
