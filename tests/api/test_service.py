"""The real service over HTTP: uploads and jobs, identities, search, restarts, bad input.

One service process (uvicorn on 127.0.0.1, the shared models) serves the module; tests run
in file order: the first upload is compared with the CLI's run of the same video.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import pytest

from tests.service import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
JOB_TIMEOUT_S = 600.0


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("service") / "data"


@pytest.fixture(scope="module")
def service(data_dir: Path) -> Iterator[ServiceProcess]:
    env = {"TRACKER_SERVICE__MAX_UPLOAD_MB": "8", "TRACKER_SERVICE__MAX_QUEUED_JOBS": "1"}
    process = ServiceProcess(data_dir, env).start()
    yield process
    process.stop()


def upload(client: httpx.Client, path: Path, name: str | None = None) -> httpx.Response:
    with path.open("rb") as handle:
        return client.post("/v1/videos", files={"file": (name or path.name, handle, "video/mp4")})


def wait_for_job(client: httpx.Client, job_id: str) -> dict[str, object]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    seen_progress = []
    while time.monotonic() < deadline:
        job: dict[str, object] = client.get(f"/v1/jobs/{job_id}").json()
        seen_progress.append(job["progress"])
        if job["state"] in ("succeeded", "failed", "cancelled"):
            job["_progress_seen"] = seen_progress
            return job
        time.sleep(1.0)
    raise TimeoutError(f"job {job_id} did not finish")


def mot_rows(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.strip().splitlines()]


def test_health_and_docs(service: ServiceProcess) -> None:
    with service.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready"
        assert ready["embedder"]["dim"] == 512
        assert client.get("/docs").status_code == 200
        paths = client.get("/openapi.json").json()["paths"]
        for path in ("/v1/videos", "/v1/jobs/{job_id}", "/v1/identities", "/v1/search"):
            assert path in paths


def test_uploaded_video_matches_the_cli(
    service: ServiceProcess, video_path: Path, cli_run: Path
) -> None:
    with service.client() as client:
        response = upload(client, video_path)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        job = wait_for_job(client, job_id)
        assert job["state"] == "succeeded", job
        progress = job["_progress_seen"]
        assert isinstance(progress, list) and progress[-1] == 1.0

        api_mot = client.get(f"/v1/jobs/{job_id}/mot.txt").text
        cli_mot = (cli_run / "mot.txt").read_text()
        assert mot_rows(api_mot) == mot_rows(cli_mot)

        tracks = client.get(f"/v1/jobs/{job_id}/tracks").json()
        assert len(tracks["frames"]) == 594
        cli_frames = [json.loads(line) for line in (cli_run / "tracks.jsonl").open()]
        assert [f["tracks"] for f in tracks["frames"]] == [f["tracks"] for f in cli_frames]

        summary = client.get(f"/v1/jobs/{job_id}/summary").json()
        cli_summary = json.loads((cli_run / "summary.json").read_text())
        for key in ("frames", "detections", "embedder_calls", "tracks", "identities"):
            assert summary[key] == cli_summary[key], key


def test_annotated_video_plays_with_range_requests(service: ServiceProcess, tmp_path: Path) -> None:
    with service.client() as client:
        job = client.get("/v1/jobs").json()["items"][0]
        video_url = job["links"]["video"]
        partial = client.get(video_url, headers={"Range": "bytes=0-1023"})
        assert partial.status_code == 206
        assert len(partial.content) == 1024
        whole = client.get(video_url)
        assert whole.headers["content-type"] == "video/mp4"
        (tmp_path / "annotated.mp4").write_bytes(whole.content)
    capture = cv2.VideoCapture(str(tmp_path / "annotated.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 594


def test_identities_are_listed_and_labelled(service: ServiceProcess) -> None:
    with service.client() as client:
        page = client.get("/v1/identities", params={"limit": 100}).json()
        assert page["total"] >= 1
        first = page["items"][0]
        assert first["thumbnail_url"]
        thumbnail = client.get(first["thumbnail_url"])
        assert thumbnail.headers["content-type"] == "image/jpeg"
        renamed = client.patch(f"/v1/identities/{first['identity_id']}", json={"label": "Ada"})
        assert renamed.json()["label"] == "Ada"
        detail = client.get(f"/v1/identities/{first['identity_id']}").json()
        assert detail["sightings"] and detail["sightings"][0]["source"].startswith("job:")


@pytest.mark.parametrize(
    ("content", "name", "code"),
    [
        (b"", "empty.mp4", "empty_file"),
        (b"this is not a video at all" * 100, "notes.mp4", "not_a_video"),
    ],
)
def test_bad_uploads_are_refused_clearly(
    service: ServiceProcess, content: bytes, name: str, code: str
) -> None:
    with service.client() as client:
        response = client.post("/v1/videos", files={"file": (name, content, "video/mp4")})
        assert response.status_code == 422
        assert response.json()["code"] == code
        assert name in response.json()["detail"] or code == "empty_file"
        assert client.get("/healthz").status_code == 200


def test_truncated_upload_is_refused(service: ServiceProcess, video_path: Path) -> None:
    truncated = video_path.read_bytes()[:200_000]
    with service.client() as client:
        response = client.post("/v1/videos", files={"file": ("cut.mp4", truncated, "video/mp4")})
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "not_a_video"


def test_oversize_upload_gets_413(service: ServiceProcess) -> None:
    with service.client() as client:
        big = b"\0" * (9 * 2**20)
        response = client.post("/v1/videos", files={"file": ("big.mp4", big, "video/mp4")})
        assert response.status_code == 413
        assert response.json()["code"] == "upload_too_large"
    leftovers = [p for p in (service.data_dir / "jobs").iterdir() if not (p / "job.json").exists()]
    assert leftovers == []


def test_not_multipart_and_missing_field(service: ServiceProcess) -> None:
    with service.client() as client:
        raw = client.post("/v1/videos", content=b"abc", headers={"content-type": "video/mp4"})
        assert raw.status_code == 415
        missing = client.post("/v1/videos", files={"other": ("a.mp4", b"x", "video/mp4")})
        assert missing.status_code == 422
        assert missing.json()["code"] == "missing_file"


def test_full_queue_answers_503_with_retry_after(service: ServiceProcess, video_path: Path) -> None:
    with service.client() as client:
        running = upload(client, video_path).json()["job_id"]
        deadline = time.monotonic() + 60
        while client.get(f"/v1/jobs/{running}").json()["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        queued = upload(client, video_path)
        assert queued.status_code == 202
        refused = upload(client, video_path)
        assert refused.status_code == 503
        assert refused.headers["retry-after"]
        assert refused.json()["code"] == "queue_full"
        cancelled = client.post(f"/v1/jobs/{queued.json()['job_id']}/cancel").json()
        assert cancelled["state"] == "cancelled"
        client.post(f"/v1/jobs/{running}/cancel")
        assert wait_for_job(client, running)["state"] == "cancelled"
        assert client.delete(f"/v1/jobs/{running}").status_code == 204
        assert client.get(f"/v1/jobs/{running}").status_code == 404


def test_unknown_ids_and_malformed_requests(service: ServiceProcess) -> None:
    with service.client() as client:
        for path in ("/v1/jobs/nope", "/v1/identities/999999"):
            response = client.get(path)
            assert response.status_code == 404
            assert "no " in response.json()["detail"]
        bad_json = client.patch(
            "/v1/identities/1", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 422
        assert bad_json.json()["code"] == "invalid_request"
        extra = client.patch("/v1/identities/1", json={"label": "x", "colour": "red"})
        assert extra.status_code == 422
        not_image = client.post("/v1/search", files={"file": ("a.jpg", b"nope", "image/jpeg")})
        assert not_image.status_code == 422
        assert not_image.json()["code"] == "not_an_image"


def _person_crop(video_path: Path, cli_run: Path, tmp_path: Path) -> tuple[Path, int, int]:
    """A crop of the largest person box in the video: (image, frame index, track id)."""
    frames = [json.loads(line) for line in (cli_run / "tracks.jsonl").open()]
    frame = max(
        (f for f in frames if f["tracks"]),
        key=lambda f: max(t["box_xyxy"][3] - t["box_xyxy"][1] for t in f["tracks"]),
    )
    track = max(frame["tracks"], key=lambda t: t["box_xyxy"][3] - t["box_xyxy"][1])
    capture = cv2.VideoCapture(str(video_path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, frame["frame"])
    ok, image = capture.read()
    assert ok
    x1, y1, x2, y2 = (int(v) for v in track["box_xyxy"])
    path = tmp_path / "person.jpg"
    cv2.imwrite(str(path), image[max(0, y1) : y2, max(0, x1) : x2])
    return path, int(frame["frame"]), int(track["track_id"])


def test_restart_keeps_identities_and_search_finds_the_person(
    service: ServiceProcess, video_path: Path, cli_run: Path, tmp_path: Path
) -> None:
    with service.client() as client:
        before = client.get("/v1/identities", params={"limit": 500}).json()
    labels = {i["identity_id"]: i["label"] for i in before["items"]}
    assert "Ada" in labels.values()
    assert service.stop() == 0
    service.start()
    with service.client() as client:
        after = client.get("/v1/identities", params={"limit": 500}).json()
        assert {i["identity_id"]: i["label"] for i in after["items"]} == labels
        crop, frame_index, track_id = _person_crop(video_path, cli_run, tmp_path)
        with crop.open("rb") as handle:
            result = client.post("/v1/search", files={"file": ("p.jpg", handle, "image/jpeg")})
        assert result.status_code == 200, result.text
        matches = result.json()["matches"]
        assert matches, "search found nobody"
        best = matches[0]
        # The best match must be the identity the job gave that person's track.
        job_id = client.get("/v1/jobs").json()["items"][-1]["job_id"]
        frames = client.get(f"/v1/jobs/{job_id}/tracks").json()["frames"]
        expected = next(
            t["identity_id"] for t in frames[frame_index]["tracks"] if t["track_id"] == track_id
        )
        assert best["identity_id"] == expected
        assert best["sightings"]
