"""Two `tracker-service serve` nodes sharing one PostgreSQL (gallery and job queue), one
Mosquitto and one jobs folder: one set of identities, one queue, answers alike from either."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import psycopg
import pytest

from tests.cluster.mqtt_client import Subscriber
from tests.cluster.servers import MosquittoBroker, PostgresServer
from tests.service import ServiceProcess

pytestmark = pytest.mark.cluster

UPLOADS = 20
FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer, broker: MosquittoBroker
) -> Iterator[tuple[ServiceProcess, ServiceProcess, str]]:
    database = postgres.fresh_database()
    root = tmp_path_factory.mktemp("cluster")
    shared = {
        "TRACKER_JOBS__URL": database,
        "TRACKER_GALLERY__URL": database,
        "TRACKER_JOBS__FOLDER": str(root / "shared-jobs"),
        "TRACKER_JOBS__LEASE_S": "3",
        "TRACKER_JOBS__POLL_S": "0.2",
        "TRACKER_EVENTS__MQTT_URL": broker.url,
        "TRACKER_SERVICE__MAX_QUEUED_JOBS": str(UPLOADS),
        "TRACKER_OUTPUT__VIDEO": "false",
        # The cameras are clips cut into the tests' temporary folder: the policy names it.
        "TRACKER_STREAMS__FILE_ROOTS": json.dumps([str(tmp_path_factory.getbasetemp())]),
    }
    nodes = [
        ServiceProcess(root / name, {**shared, "TRACKER_EVENTS__NODE": name})
        for name in ("node-a", "node-b")
    ]
    for node in nodes:
        node.start(wait_ready=False)
    try:
        for node in nodes:
            # Two nodes load their models at once; on a busy machine that takes minutes.
            assert node.wait(ready=True, timeout_s=600).status_code == 200, node.log()
        yield nodes[0], nodes[1], database
    finally:
        for node in nodes:
            node.stop()


def _upload(node: ServiceProcess, clip: Path) -> str:
    with clip.open("rb") as handle:
        answer = httpx.post(
            f"{node.url}/v1/videos", files={"file": (clip.name, handle, "video/mp4")}, timeout=60
        )
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["job_id"]
    return job_id


def _states(node: ServiceProcess) -> dict[str, str]:
    items = httpx.get(f"{node.url}/v1/jobs", timeout=30).json()["items"]
    return {item["job_id"]: item["state"] for item in items}


def _wait_finished(node: ServiceProcess, jobs: list[str], timeout_s: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    while True:
        states = _states(node)
        if all(states.get(job) in FINISHED for job in jobs) or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def _runs(database: str) -> dict[str, tuple[int, str]]:
    with psycopg.connect(database) as db:
        rows = db.execute("SELECT job_id, attempts, node FROM tracker_jobs").fetchall()
    return {job_id: (attempts, node) for job_id, attempts, node in rows}


def _watch(
    node: ServiceProcess,
    clip: Path,
    name: str,
    until: Callable[[dict[str, Any]], bool],
    timeout_s: float = 180,
) -> None:
    """A camera on `node` that shows `clip` over and over until `until(stream)`, then is
    removed (`stream`: the camera's live figures from the API)."""
    body = {"url": str(clip), "name": name, "loop": True}
    answer = httpx.post(f"{node.url}/v1/streams", json=body, timeout=30)
    assert answer.status_code in (200, 201), answer.text
    stream_id = answer.json()["id"]
    deadline = time.monotonic() + timeout_s
    try:
        while not until(httpx.get(f"{node.url}/v1/streams/{stream_id}", timeout=30).json()):
            assert time.monotonic() < deadline, f"{name}: not done in {timeout_s} s"
            time.sleep(0.5)
    finally:
        final = httpx.delete(f"{node.url}/v1/streams/{stream_id}", timeout=60)
        assert final.status_code in (200, 204), final.text


def _passes(stream: dict[str, Any], clip: Path) -> float:
    """How many times the camera has shown the whole clip (frames read, processed or not)."""
    capture = cv2.VideoCapture(str(clip))
    frames = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    capture.release()
    return (int(stream["frames_processed"]) + int(stream["frames_dropped"])) / max(frames, 1.0)


def _seen_on(node: ServiceProcess, stream_name: str) -> set[int]:
    """Identities with a written sighting from the stream called `stream_name`."""
    return {
        identity
        for identity, item in _identities(node).items()
        if any(source.split(" [")[0] == stream_name for source in item["sources"])
    }


def _identities(node: ServiceProcess) -> dict[int, dict[str, Any]]:
    page = httpx.get(f"{node.url}/v1/identities", params={"limit": 200}, timeout=30).json()
    return {item["identity_id"]: item for item in page["items"]}


def _crop_of(clip: Path, seconds: float, box: list[float]) -> bytes:
    capture = cv2.VideoCapture(str(clip))
    capture.set(cv2.CAP_PROP_POS_MSEC, seconds * 1000)
    ok, frame = capture.read()
    capture.release()
    assert ok
    x1, y1, x2, y2 = (int(v) for v in box)
    encoded, data = cv2.imencode(".jpg", frame[max(0, y1) : y2, max(0, x1) : x2])
    assert encoded
    return data.tobytes()


def test_a_person_seen_through_one_node_is_the_same_identity_on_the_other(
    cluster: tuple[ServiceProcess, ServiceProcess, str], people_clip: Path
) -> None:
    node_a, node_b, _ = cluster
    # A person's identity is provisional until their good views are in (an edge cut while
    # they walk in proves little): node A's camera shows the walk twice, as a real one would.
    _watch(
        node_a,
        people_clip,
        "door-a",
        until=lambda s: _passes(s, people_clip) >= 2 and bool(_seen_on(node_a, "door-a")),
    )
    seen_on_a = _identities(node_a)
    assert _identities(node_b).keys() == seen_on_a.keys()  # B sees A's identities at once
    # The same person walks past node B's camera: recognised (B's provisional identity for
    # them, if any, is folded into A's once B has their good views), not a new identity.
    _watch(
        node_b,
        people_clip,
        "door-b",
        until=lambda s: (
            bool(_seen_on(node_b, "door-b") & _seen_on(node_b, "door-a"))
            or _passes(s, people_clip) >= 4
        ),
    )
    after = _identities(node_b)
    assert after.keys() == seen_on_a.keys(), {i: item["sources"] for i, item in after.items()}
    both = _seen_on(node_b, "door-a") & _seen_on(node_b, "door-b")
    assert both
    person = min(both)
    # A label set on A shows on B.
    assert httpx.patch(
        f"{node_a.url}/v1/identities/{person}", json={"label": "visitor"}
    ).status_code == 200  # fmt: skip
    assert httpx.get(f"{node_b.url}/v1/identities/{person}").json()["label"] == "visitor"
    # A search by photo on B finds the person and where A saw them.
    sighting = next(
        s for s in httpx.get(f"{node_a.url}/v1/identities/{person}").json()["sightings"]
        if s["source"].startswith("door-a")
    )  # fmt: skip
    frame_at = (sighting["first_media_s"] + sighting["last_media_s"]) / 2
    photo = _person_box(node_a, people_clip, frame_at)
    found = httpx.post(
        f"{node_b.url}/v1/search", files={"file": ("me.jpg", photo, "image/jpeg")}, timeout=60
    ).json()
    best = found["matches"][0]
    assert best["identity_id"] == person and best["label"] == "visitor"
    assert any(s["source"].startswith("door-a") for s in best["sightings"])


def _person_box(node: ServiceProcess, clip: Path, seconds: float) -> bytes:
    """A photo of the person: the frame at `seconds`, cut to the detector's best box (run as an
    upload job, whose tracks give the box)."""
    job = _upload(node, clip)
    assert _wait_finished(node, [job], timeout_s=120)[job] == "succeeded"
    frames = httpx.get(f"{node.url}/v1/jobs/{job}/tracks", timeout=30).json()["frames"]
    frame = min((f for f in frames if f["tracks"]), key=lambda f: abs(f["timestamp_s"] - seconds))
    return _crop_of(clip, frame["timestamp_s"], frame["tracks"][0]["box_xyxy"])


def test_uploads_to_both_nodes_finish_exactly_once(
    cluster: tuple[ServiceProcess, ServiceProcess, str], short_people_clip: Path
) -> None:
    node_a, node_b, database = cluster
    jobs = [_upload(node_a if i % 2 else node_b, short_people_clip) for i in range(UPLOADS)]
    states = _wait_finished(node_a, jobs, timeout_s=300)
    assert [states[job] for job in jobs] == ["succeeded"] * UPLOADS
    assert _states(node_b) == states  # the same answer from either node
    runs = _runs(database)
    assert all(runs[job][0] == 1 for job in jobs)  # each claimed and run once
    ran_on = {runs[job][1].rsplit("-", 1)[0] for job in jobs}
    assert ran_on == {"node-a", "node-b"}  # both nodes took work from the one queue
    # Results from the node that did not run the job: the shared folder.
    job = jobs[0]
    other = node_b if runs[job][1].startswith("node-a") else node_a
    summary = httpx.get(f"{other.url}/v1/jobs/{job}/summary", timeout=30)
    assert summary.status_code == 200 and summary.json()["frames"] > 0
    tracks = httpx.get(f"{other.url}/v1/jobs/{job}/tracks", timeout=30).json()
    assert len(tracks["frames"]) == summary.json()["frames"]


def test_a_job_of_a_killed_node_is_finished_by_the_other(
    cluster: tuple[ServiceProcess, ServiceProcess, str],
    people_clip: Path,
    broker: MosquittoBroker,
) -> None:
    node_a, node_b, database = cluster
    subscriber = Subscriber(broker.port, "tracker/+/jobs/#")
    try:
        job = _upload(node_a, people_clip)
        deadline = time.monotonic() + 60
        while (progress := httpx.get(f"{node_b.url}/v1/jobs/{job}").json())["progress"] <= 0:
            assert time.monotonic() < deadline, progress
            time.sleep(0.2)
        owner_name = _runs(database)[job][1].rsplit("-", 1)[0]
        owner, survivor = (node_a, node_b) if owner_name == "node-a" else (node_b, node_a)
        owner.kill()  # kill -9 mid-job
        states = _wait_finished(survivor, [job], timeout_s=120)
        assert states[job] == "succeeded"
        attempts, node = _runs(database)[job]
        assert attempts == 2 and not node.startswith(owner_name)
        # Exactly one "succeeded" for the job on the event bus (QoS 1 duplicates aside).
        time.sleep(1.0)
        finals = {
            payload["seq"]: payload
            for topic, payload in subscriber.received()
            if topic.endswith(f"/jobs/{job}/state") and payload["state"] == "succeeded"
        }
        assert len(finals) == 1
    finally:
        subscriber.close()
        owner_restart = node_a if node_a._process is None else node_b
        owner_restart.start(wait_ready=False)
