"""Two `tracker-service serve` nodes sharing one PostgreSQL job queue and one jobs folder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

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
        "TRACKER_JOBS__FOLDER": str(root / "shared-jobs"),
        "TRACKER_JOBS__LEASE_S": "3",
        "TRACKER_JOBS__POLL_S": "0.2",
        "TRACKER_EVENTS__MQTT_URL": broker.url,
        "TRACKER_SERVICE__MAX_QUEUED_JOBS": str(UPLOADS),
        "TRACKER_OUTPUT__VIDEO": "false",
        "TRACKER_DETECTOR__IMGSZ": "320",  # the queue is under test, not the detector
    }
    nodes = [
        ServiceProcess(root / name, {**shared, "TRACKER_EVENTS__NODE": name})
        for name in ("node-a", "node-b")
    ]
    for node in nodes:
        node.start(wait_ready=False)
    try:
        for node in nodes:
            assert node.wait(ready=True).status_code == 200, node.log()
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
