"""The configuration profiles in configs/ and the precedence defaults < file < environment <
command line that `load_config` implements."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require_asset
from tracker_service.config import Config, ConfigError, load_config
from tracker_service.model_store import load_manifest, resolve_model

CONFIGS = REPO_ROOT / "configs"
DOCUMENTED_PROFILES = {"cpu", "gpu", "accuracy", "many-cameras", "local-assets"}
PROFILES = sorted(CONFIGS.glob("*.yaml"))


def load_profile(name: str, environ: dict[str, str] | None = None) -> Config:
    return load_config(CONFIGS / f"{name}.yaml", environ=environ or {})


# --- profiles -----------------------------------------------------------------------------


def test_the_documented_profiles_exist() -> None:
    assert {path.stem for path in PROFILES} == DOCUMENTED_PROFILES


@pytest.mark.parametrize("path", PROFILES, ids=lambda path: path.stem)
def test_every_profile_loads_and_says_how_it_is_loaded(path: Path) -> None:
    config = load_config(path, environ={})
    assert isinstance(config, Config)
    text = path.read_text()
    assert text.startswith("#"), "a profile starts with what it is for"
    assert "< TRACKER_* environment variables" in text


@pytest.mark.parametrize("path", PROFILES, ids=lambda path: path.stem)
def test_every_profile_names_known_models(path: Path) -> None:
    """Manifest names, or for the detector an Ultralytics name Ultralytics can download."""
    config = load_config(path, environ={})
    manifest = load_manifest()
    detector = config.detector.model
    assert detector in manifest or Path(detector).stem in manifest or detector.endswith(".pt")
    assert manifest[config.embedder.model].kind == "reid"


def test_cpu_profile_stays_on_the_cpu() -> None:
    config = load_profile("cpu")
    assert config.detector.device == "cpu"
    assert config.embedder.device == "cpu"
    assert config.detector.half is False


def test_gpu_profile_uses_cuda_and_fp16() -> None:
    config = load_profile("gpu")
    assert config.detector.device.startswith("cuda")
    assert config.embedder.device.startswith("cuda")
    assert config.embedder.backend == "torch"  # onnxruntime in the lock is the CPU build
    assert config.detector.half is True


def test_accuracy_profile_trades_speed_for_accuracy() -> None:
    default, accuracy = Config(), load_profile("accuracy")
    assert accuracy.detector.imgsz > default.detector.imgsz
    assert accuracy.tracker.lost_buffer_s > default.tracker.lost_buffer_s
    assert accuracy.gate.refresh_s > 0
    assert accuracy.gallery.match_threshold > default.gallery.match_threshold


def test_many_cameras_profile_lowers_per_stream_cost() -> None:
    default, many = Config(), load_profile("many-cameras")
    assert many.detector.imgsz < default.detector.imgsz
    assert many.output.video is False
    assert many.gate.min_score >= default.gate.min_score
    assert many.cache.max_tracks > default.cache.max_tracks


def test_local_assets_profile_points_at_the_shared_models() -> None:
    config = load_profile("local-assets")
    # Relative to the repository root, where the README's examples run.
    assert config.models_dir == Path("../shared/assets/models")
    expected = (REPO_ROOT.parent / "shared" / "assets" / "models").resolve()
    assert (REPO_ROOT / config.models_dir).resolve() == expected


def test_local_assets_profile_resolves_to_real_files() -> None:
    models = require_asset("models")
    config = load_profile("local-assets", {"TRACKER_MODELS_DIR": str(models)})
    detector = Path(resolve_model(config.detector.model, "detector", config.models_dir))
    embedder = Path(resolve_model(config.embedder.model, "reid", config.models_dir))
    assert detector == models / "yolov8n_int8_openvino_model"
    assert embedder == models / "osnet_x0_25_msmt17.onnx"
    assert detector.is_dir()
    assert embedder.is_file()


def test_a_typo_in_a_profile_is_rejected(tmp_path: Path) -> None:
    text = (CONFIGS / "cpu.yaml").read_text().replace("max_batch:", "max_bacth:")
    (tmp_path / "typo.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"embedder\.max_bacth: Extra inputs are not permitted"):
        load_config(tmp_path / "typo.yaml", environ={})


# --- precedence ---------------------------------------------------------------------------


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(
        "detector:\n  model: from-file.pt\n  imgsz: 320\n"
        "tracker:\n  lost_buffer_s: 3.0\n"
        "models_dir: file-models\n"
    )
    return path


def test_the_file_overrides_the_defaults(profile: Path) -> None:
    config = load_config(profile, environ={})
    assert config.detector.model == "from-file.pt"
    assert config.tracker.lost_buffer_s == 3.0
    assert config.detector.confidence == Config().detector.confidence  # untouched key


def test_the_environment_overrides_the_file(profile: Path) -> None:
    environ = {
        "TRACKER_TRACKER__LOST_BUFFER_S": "4.5",
        "TRACKER_DETECTOR": "from-env.pt",
        "TRACKER_MODELS_DIR": "/env/models",
        "TRACKER_DATA_DIR": "/env/data",
    }
    config = load_config(profile, environ=environ)
    assert config.tracker.lost_buffer_s == 4.5
    assert config.detector.model == "from-env.pt"
    assert config.detector.imgsz == 320  # a sibling key from the file survives
    assert config.models_dir == Path("/env/models")
    assert config.data_dir == Path("/env/data")


def test_the_command_line_overrides_the_environment(profile: Path) -> None:
    environ = {"TRACKER_TRACKER__LOST_BUFFER_S": "4.5", "TRACKER_EMBEDDER": "env-reid"}
    overrides = {"tracker": {"lost_buffer_s": 6.0}, "embedder": {"model": "cli-reid"}}
    config = load_config(profile, overrides=overrides, environ=environ)
    assert config.tracker.lost_buffer_s == 6.0
    assert config.embedder.model == "cli-reid"
    assert config.detector.model == "from-file.pt"


def test_tracker_config_names_the_file(profile: Path) -> None:
    config = load_config(environ={"TRACKER_CONFIG": str(profile)})
    assert config.detector.model == "from-file.pt"


def test_an_explicit_file_beats_tracker_config(profile: Path) -> None:
    config = load_config(CONFIGS / "gpu.yaml", environ={"TRACKER_CONFIG": str(profile)})
    assert config.detector.device.startswith("cuda")


def test_without_a_file_the_defaults_apply() -> None:
    assert load_config(environ={}) == Config()


def test_an_unknown_environment_variable_is_rejected() -> None:
    with pytest.raises(ConfigError, match="TRACKER_TRACKER__LOST_BUFER_S is not a configuration"):
        load_config(environ={"TRACKER_TRACKER__LOST_BUFER_S": "3"})


def test_an_invalid_environment_value_names_the_key(profile: Path) -> None:
    with pytest.raises(ConfigError, match=r"detector\.imgsz"):
        load_config(profile, environ={"TRACKER_DETECTOR__IMGSZ": "8192"})


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(environ={"TRACKER_CONFIG": str(tmp_path / "nope.yaml")})
