"""docker/compose.yaml: valid against the Compose specification, and its services,
profiles, volumes, healthchecks and GPU reservation are as docker/README.md documents.

Two validators: the Compose-spec JSON schema through check-jsonschema (a dev dependency,
always run), and `docker compose config`, which interpolates variables and applies
profiles the way `up` does (needs Compose v2, no Docker engine; skipped without it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.deploy.conftest import COMPOSE_FILE, DOCKERFILE, Compose
from tracker_service.model_store import load_manifest, resolve_model

HEALTHZ = "http://127.0.0.1:8000/healthz"
STATE = "/var/lib/tracker"
TRACKERS = ("tracker", "tracker-gpu")
CLUSTER_NODES = ("node-a", "node-b")
ALL_SERVICES = {"tracker", "tracker-gpu", "mediamtx", "demo-media", "demo-camera", "postgres",
                "mosquitto", *CLUSTER_NODES}  # fmt: skip


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


@pytest.fixture(scope="module")
def resolved(compose: Compose) -> dict[str, Any]:
    """The file as Compose resolves it with every profile on and default settings."""
    result = compose.run(
        "--profile", "demo", "--profile", "gpu", "--profile", "cluster",
        "config", "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def mounts(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {volume["target"]: volume for volume in service["volumes"]}


# --- the Compose-spec schema (always run) -------------------------------------------------


def test_the_file_matches_the_compose_spec_schema() -> None:
    result = check_jsonschema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_misspelt_key(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        COMPOSE_FILE.read_text().replace("    healthcheck: *", "    helthcheck: *", 1)
    )
    result = check_jsonschema(broken)
    assert result.returncode != 0
    assert "helthcheck" in result.stdout


def test_profiles_keep_the_demo_and_the_gpu_optional(raw: dict[str, Any]) -> None:
    profiles = {name: service.get("profiles") for name, service in raw["services"].items()}
    assert profiles == {
        "tracker": None,
        "tracker-gpu": ["gpu"],
        "mediamtx": ["demo"],
        "demo-media": ["demo"],
        "demo-camera": ["demo"],
        "postgres": ["cluster"],
        "mosquitto": ["cluster"],
        "node-a": ["cluster"],
        "node-b": ["cluster"],
    }


def test_named_volumes_for_models_data_and_results(raw: dict[str, Any]) -> None:
    assert {"models", "data", "results"} <= set(raw["volumes"])


def test_only_the_gpu_service_reserves_a_gpu(raw: dict[str, Any]) -> None:
    devices = raw["services"]["tracker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "deploy" not in raw["services"]["tracker"]


# --- `docker compose config` (with Compose v2) --------------------------------------------


def test_by_default_only_the_cpu_service_runs(compose: Compose) -> None:
    result = compose.run("config", "--services")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["tracker"]


def test_profiles_add_the_demo_and_gpu_services(resolved: dict[str, Any]) -> None:
    assert set(resolved["services"]) == ALL_SERVICES


def test_compose_rejects_an_invalid_file(compose: Compose, tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE_FILE.read_text().replace("stop_grace_period", "stop_grace", 1))
    result = compose.run("config", "--quiet", file=broken)
    assert result.returncode != 0
    assert "stop_grace" in result.stderr


@pytest.mark.parametrize("name", TRACKERS)
def test_tracker_services_build_their_target_of_the_dockerfile(
    resolved: dict[str, Any], name: str
) -> None:
    build = resolved["services"][name]["build"]
    assert Path(build["context"]) == REPO_ROOT
    assert build["dockerfile"] == "docker/Dockerfile"
    assert build["target"] == {"tracker": "cpu", "tracker-gpu": "gpu"}[name]


@pytest.mark.parametrize("name", TRACKERS)
def test_tracker_healthchecks_hit_healthz(resolved: dict[str, Any], name: str) -> None:
    service = resolved["services"][name]
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert HEALTHZ in test[-1]
    assert [port["target"] for port in service["ports"]] == [8000]


@pytest.mark.parametrize("name", TRACKERS)
def test_the_environment_matches_the_mounts(resolved: dict[str, Any], name: str) -> None:
    service = resolved["services"][name]
    env, mounted = service["environment"], mounts(service)
    assert mounted[env["TRACKER_MODELS_DIR"]]["source"] == "models"
    assert mounted[env["TRACKER_DATA_DIR"]]["type"] == "volume"
    assert mounted[f"{env['TRACKER_DATA_DIR']}/jobs"]["type"] == "volume"
    configs = mounted["/app/configs"]
    assert (configs["type"], Path(configs["source"])) == ("bind", REPO_ROOT / "configs")
    assert configs["read_only"] is True
    profile = Path(env["TRACKER_CONFIG"]).relative_to("/app/configs")
    assert (REPO_ROOT / "configs" / profile).is_file()


def test_the_gpu_service_shares_weights_but_not_state(resolved: dict[str, Any]) -> None:
    cpu = mounts(resolved["services"]["tracker"])
    gpu = mounts(resolved["services"]["tracker-gpu"])
    assert cpu[f"{STATE}/models"]["source"] == gpu[f"{STATE}/models"]["source"] == "models"
    assert cpu[f"{STATE}/data"]["source"] == "data"
    assert gpu[f"{STATE}/data"]["source"] == "gpu-data"
    assert cpu[f"{STATE}/data/jobs"]["source"] == "results"
    assert gpu[f"{STATE}/data/jobs"]["source"] == "gpu-results"


def test_the_gpu_reservation_survives_resolution(resolved: dict[str, Any]) -> None:
    devices = resolved["services"]["tracker-gpu"]["deploy"]["resources"]["reservations"]
    assert devices["devices"][0]["driver"] == "nvidia"
    assert devices["devices"][0]["capabilities"] == ["gpu"]


def test_the_demo_camera_loops_a_video_into_mediamtx(resolved: dict[str, Any]) -> None:
    camera = resolved["services"]["demo-camera"]
    command = " ".join(camera["command"])
    assert camera["entrypoint"] == ["ffmpeg"]
    assert "-re -stream_loop -1" in command
    assert "-i /media/people-detection.mp4" in command
    assert command.endswith("-c copy -f rtsp -rtsp_transport tcp rtsp://mediamtx:8554/demo")
    video = mounts(camera)["/media"]
    assert (video["type"], video["source"], video["read_only"]) == ("volume", "demo-media", True)
    assert camera["depends_on"]["mediamtx"]["condition"] == "service_started"
    assert camera["depends_on"]["demo-media"]["condition"] == "service_completed_successfully"


def test_the_demo_video_is_fetched_from_the_manifest_not_this_machine(
    resolved: dict[str, Any],
) -> None:
    fetch = resolved["services"]["demo-media"]
    name = fetch["command"][fetch["command"].index("pull") + 1]
    entry = load_manifest()[name]
    assert entry.kind == "sample" and entry.url and entry.url.startswith("https://")
    folder = fetch["command"][fetch["command"].index("--models-dir") + 1]
    assert mounts(fetch)[folder]["source"] == "demo-media"
    assert f"-i /media/{entry.file}" in " ".join(resolved["services"]["demo-camera"]["command"])
    assert fetch["build"]["target"] == "cpu"
    # No service of any profile needs a file from outside the repository.
    for service in resolved["services"].values():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).is_relative_to(REPO_ROOT), volume


def test_the_dockerfile_makes_the_demo_volume_writable() -> None:
    assert "/var/lib/tracker/demo" in DOCKERFILE.read_text()


def test_mediamtx_serves_the_demo_path(resolved: dict[str, Any]) -> None:
    server = resolved["services"]["mediamtx"]
    config_file = Path(mounts(server)["/mediamtx.yml"]["source"])
    settings = yaml.safe_load(config_file.read_text())
    assert "demo" in settings["paths"]
    assert settings["rtspAddress"] == ":8554"
    assert [port["target"] for port in server["ports"]] == [8554]


def test_settings_come_from_the_environment(compose: Compose) -> None:
    env = {
        "TRACKER_PROFILE": "many-cameras",
        "TRACKER_DETECTOR": "yolo11s.pt",
        "TRACKER_PORT": "9000",
        "TRACKER_API_KEY": "a-key-of-sixteen-chars",
        "TRACKER_BIND": "0.0.0.0",
        "TRACKER_MODELS_BASE_URL": "http://mirror.example/models",
    }
    result = compose.run("config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    tracker = json.loads(result.stdout)["services"]["tracker"]
    assert tracker["environment"]["TRACKER_CONFIG"] == "/app/configs/many-cameras.yaml"
    assert tracker["environment"]["TRACKER_DETECTOR"] == "yolo11s.pt"
    assert tracker["environment"]["TRACKER_API_KEY"] == "a-key-of-sixteen-chars"
    assert tracker["environment"]["TRACKER_MODELS_BASE_URL"] == "http://mirror.example/models"
    assert tracker["ports"][0]["published"] == "9000"
    assert tracker["ports"][0]["host_ip"] == "0.0.0.0"


@pytest.mark.parametrize("name", [*TRACKERS, "mediamtx"])
def test_ports_are_published_on_localhost_unless_told(resolved: dict[str, Any], name: str) -> None:
    # Without TRACKER_API_KEY the API is open: not to the whole network by default.
    assert [port["host_ip"] for port in resolved["services"][name]["ports"]] == ["127.0.0.1"]


@pytest.mark.parametrize("name", TRACKERS)
def test_the_api_key_is_passed_into_the_container(resolved: dict[str, Any], name: str) -> None:
    env = resolved["services"][name]["environment"]
    assert "TRACKER_API_KEY" in env and env["TRACKER_API_KEY"] is None  # unset stays unset


@pytest.mark.parametrize("spec", ["yolo11n.pt", "yolo11n", "yolo11s.pt"])
def test_detector_weights_land_in_the_models_volume(resolved: dict[str, Any], spec: str) -> None:
    # The service downloads a named detector to <models dir>/<file> (Ultralytics' own
    # names included), and the models dir is the `models` volume: kept across re-creation.
    service = resolved["services"]["tracker"]
    models_dir = Path(service["environment"]["TRACKER_MODELS_DIR"])
    assert mounts(service)[str(models_dir)]["source"] == "models"
    entry = load_manifest().get(Path(spec).stem)
    if entry is not None:  # downloaded by the service into <models dir>/<file>, verified
        assert entry.downloader == "model_store" and entry.url and entry.sha256
    else:  # no network here: only names Ultralytics itself would download
        assert Path(resolve_model(spec, "detector", models_dir)).parent == models_dir


def test_unset_model_variables_stay_unset(resolved: dict[str, Any]) -> None:
    # Not "": an empty TRACKER_DETECTOR would override the profile's model with nothing.
    env = resolved["services"]["tracker"]["environment"]
    assert env["TRACKER_DETECTOR"] is None
    assert env["TRACKER_EMBEDDER"] is None


# --- the cluster profile ------------------------------------------------------------------


def test_cluster_servers_are_the_official_images_with_healthchecks(
    resolved: dict[str, Any],
) -> None:
    postgres, broker = resolved["services"]["postgres"], resolved["services"]["mosquitto"]
    assert postgres["image"].startswith("pgvector/pgvector:")
    assert broker["image"].startswith("eclipse-mosquitto:")
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "mosquitto_sub" in broker["healthcheck"]["test"]
    assert mounts(postgres)["/var/lib/postgresql/data"]["source"] == "pgdata"
    assert mounts(broker)["/mosquitto/data"]["source"] == "mosquitto-data"
    config = Path(mounts(broker)["/mosquitto/config/mosquitto.conf"]["source"])
    assert "listener 1883" in config.read_text()


@pytest.mark.parametrize("name", CLUSTER_NODES)
def test_cluster_nodes_share_the_database_broker_and_jobs_volume(
    resolved: dict[str, Any], name: str
) -> None:
    node = resolved["services"][name]
    env, mounted = node["environment"], mounts(node)
    assert env["TRACKER_GALLERY__URL"] == env["TRACKER_JOBS__URL"]
    assert env["TRACKER_GALLERY__URL"].startswith("postgresql://tracker:")
    assert env["TRACKER_GALLERY__URL"].endswith("@postgres:5432/tracker")
    assert env["TRACKER_EVENTS__MQTT_URL"] == "mqtt://mosquitto:1883"
    assert env["TRACKER_EVENTS__NODE"] == name
    assert mounted[env["TRACKER_JOBS__FOLDER"]]["source"] == "cluster-jobs"
    assert mounted[env["TRACKER_DATA_DIR"]]["source"] == f"{name}-data"
    assert HEALTHZ in node["healthcheck"]["test"][-1]
    for server in ("postgres", "mosquitto"):
        assert node["depends_on"][server]["condition"] == "service_healthy"


def test_cluster_nodes_listen_on_their_own_ports(resolved: dict[str, Any]) -> None:
    published = {
        name: [port["published"] for port in resolved["services"][name]["ports"]]
        for name in CLUSTER_NODES
    }
    assert published == {"node-a": ["8010"], "node-b": ["8011"]}


def test_the_cluster_configuration_is_valid(resolved: dict[str, Any]) -> None:
    from tracker_service.config import load_config

    environment = {
        key: value
        for key, value in resolved["services"]["node-a"]["environment"].items()
        if key.startswith("TRACKER_") and key != "TRACKER_CONFIG" and value is not None
    }
    config = load_config(REPO_ROOT / "configs" / "cpu.yaml", environ=environment)
    assert config.gallery.url is not None and config.jobs.url is not None
    assert config.events.node == "node-a"
