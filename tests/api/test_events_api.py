"""Zones, counts, the event history and rules through the real service.

A camera (the shared video, looping) with a floor zone and a rule fires a webhook that a
real receiver on 127.0.0.1 verifies by its HMAC after failing twice; the event is in the
history with its snapshot. A video uploaded with zones gets counts.json and events.jsonl.
Bad zones, rules and event queries get clear 4xx answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest

from tests.conftest import REPO_ROOT
from tests.events.receiver import SECRET, Receiver
from tests.service import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FLOOR = {
    "name": "floor",
    "points": [
        [0.085, 0.488],
        [0.96, 0.47],
        [0.91, 0.74],
        [0.85, 0.926],
        [0.1, 0.926],
        [0.085, 0.74],
    ],
}
DOORWAY = {"name": "doorway", "start": [0.085, 0.72], "end": [0.085, 0.44]}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, video_path: Path) -> Iterator[ServiceProcess]:
    data = tmp_path_factory.mktemp("events-api") / "data"
    env = {
        # Quick retries keep the test short; the back-off itself is what is exercised.
        "TRACKER_HISTORY__WEBHOOK_BACKOFF_S": "0.2",
        # The cameras are files: the destination policy allows only the folders named.
        "TRACKER_STREAMS__FILE_ROOTS": json.dumps([str(video_path.parent)]),
    }
    process = ServiceProcess(data, env).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def first_person_clip(video_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 4.5 s of the video: one woman walks in from below and out to the right."""
    target = tmp_path_factory.mktemp("clip") / "first-person.mp4"
    capture = cv2.VideoCapture(str(video_path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for _ in range(108):
        ok, frame = capture.read()
        assert ok
        writer.write(frame)
    writer.release()
    capture.release()
    return target


def wait_for(probe: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"no {what} within {timeout_s} s")


def test_bad_zones_rules_and_queries_get_clear_answers(
    service: ServiceProcess, video_path: Path
) -> None:
    with service.client() as http:
        stream_id = http.post("/v1/streams", json={"url": str(video_path), "loop": True}).json()[
            "id"
        ]
        try:
            bowtie = {"zones": [{"name": "x", "points": [[0, 0], [1, 1], [1, 0], [0, 1]]}]}
            answer = http.put(f"/v1/streams/{stream_id}/zones", json=bowtie)
            assert answer.status_code == 422 and answer.json()["code"] == "invalid_zones"
            assert "Self-intersection" in answer.json()["detail"]
            outside = {"lines": [{"name": "l", "start": [0, 0], "end": [640, 480]}]}
            answer = http.put(f"/v1/streams/{stream_id}/zones", json=outside)
            assert answer.status_code == 422 and "outside the frame" in answer.json()["detail"]
            two = {"zones": [{"name": "x", "points": [[0, 0], [1, 1]]}]}
            assert "at least 3 points" in http.put(f"/v1/streams/{stream_id}/zones", json=two).text
            assert http.put("/v1/streams/nope/zones", json={}).status_code == 404
            assert http.delete(f"/v1/streams/{stream_id}/zones/ghost").status_code == 404
        finally:
            http.delete(f"/v1/streams/{stream_id}")
        rule = http.post("/v1/rules", json={"name": "r", "when": {"type": "dwell_above"}})
        assert rule.status_code == 422 and rule.json()["code"] == "invalid_rule"
        assert "zone" in rule.json()["detail"]
        for query, code in [
            ("kind=teleported", "invalid_kind"),
            ("since=yesterday", "invalid_time"),
            ("since=2026-12-03T10:00:00&until=2026-12-02T10:00:00", "invalid_query"),
            ("limit=0", "invalid_request"),
            ("stream=a&job=b", "invalid_query"),
        ]:
            answer = http.get(f"/v1/events?{query}")
            assert answer.status_code == 422 and answer.json()["code"] == code, query
        assert http.get("/v1/events/999999").status_code == 404
        assert http.get("/v1/identities/999999/timeline").status_code == 404
        assert http.get("/v1/rules/nope").status_code == 404


def test_a_camera_with_zones_and_a_rule_notifies_a_webhook_and_keeps_the_event(
    service: ServiceProcess, video_path: Path
) -> None:
    receiver = Receiver(failures=2)
    try:
        with service.client() as http:
            rule = http.post(
                "/v1/rules",
                json={
                    "name": "lingering on the floor",
                    "when": {"type": "dwell_above", "zone": "floor", "seconds": 0.3},
                    "webhook": {"url": receiver.url, "secret": SECRET},
                },
            )
            assert rule.status_code == 201, rule.text
            assert rule.json()["webhook"] == {"url": receiver.url, "secret_set": True}
            created = http.post("/v1/streams", json={"url": str(video_path), "loop": True})
            stream_id = created.json()["id"]
            zones = http.put(
                f"/v1/streams/{stream_id}/zones", json={"zones": [FLOOR], "lines": [DOORWAY]}
            )
            assert zones.status_code == 200, zones.text
            assert http.get(f"/v1/streams/{stream_id}/zones").json()["zones"][0]["name"] == "floor"

            wait_for(lambda: receiver.verified, 300, "verified webhook")
            body = receiver.verified[0]
            assert receiver.bad_signatures == 0
            event = body["event"]
            assert event["kind"] == "left_zone" and event["name"] == "floor"
            assert event["source"] == f"stream:{stream_id}" and event["dwell_s"] > 0.3

            # Two people may linger at once: the receiver's two failures then fall on two
            # deliveries. Either way what failed is retried and delivered, in the log.
            def retried() -> list[dict[str, Any]]:
                log = http.get("/v1/deliveries", params={"rule": rule.json()["id"]}).json()
                return [d for d in log["items"] if d["state"] == "delivered" and d["attempts"] > 1]

            assert wait_for(retried, 60, "a delivery that succeeded after failing")
            assert receiver.attempts >= 3
            metrics = http.get("/metrics").text.splitlines()
            (delivered,) = [
                m for m in metrics if m.startswith('tracker_webhook_recent{state="delivered"}')
            ]
            assert float(delivered.split()[-1]) >= 1  # more people may have lingered since

            stored = http.get(f"/v1/events/{event['id']}").json()
            assert stored["kind"] == "left_zone" and stored["snapshot"]
            snapshot = http.get(stored["snapshot"])
            assert snapshot.headers["content-type"] == "image/jpeg"
            assert snapshot.content[:2] == b"\xff\xd8"
            history = http.get(
                "/v1/events", params={"stream": stream_id, "kind": "left_zone"}
            ).json()
            assert event["id"] in [item["id"] for item in history["items"]]
            counts = http.get(f"/v1/streams/{stream_id}/counts").json()
            assert counts["zones"]["floor"]["visits"] >= 1
            assert "doorway" in counts["lines"]
            if event["identity_id"] is not None:
                timeline = http.get(f"/v1/identities/{event['identity_id']}/timeline").json()
                assert event["id"] in [item["id"] for item in timeline["items"]]
            http.delete(f"/v1/streams/{stream_id}")
            http.delete(f"/v1/rules/{rule.json()['id']}")
    finally:
        receiver.close()


def test_a_video_uploaded_with_zones_gets_counts_and_events(
    service: ServiceProcess, first_person_clip: Path
) -> None:
    zones = json.dumps({"zones": [FLOOR], "lines": [DOORWAY]})
    with service.client() as http:
        bad = http.post(
            "/v1/videos",
            files={"file": ("clip.mp4", first_person_clip.read_bytes(), "video/mp4")},
            data={"zones": '{"zones": [{"name": "a", "points": [[0, 0]]}]}'},
        )
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_zones"
        job = http.post(
            "/v1/videos",
            files={"file": ("clip.mp4", first_person_clip.read_bytes(), "video/mp4")},
            data={"zones": zones},
        ).json()
        job_id = job["job_id"]
        wait_for(
            lambda: http.get(f"/v1/jobs/{job_id}").json()["state"] in ("succeeded", "failed"),
            300,
            "finished job",
        )
        counts = http.get(f"/v1/jobs/{job_id}/counts").json()
        assert counts["zones"]["floor"]["visits"] == 1
        (dwell,) = next(iter(counts["zones"]["floor"]["dwell_by_identity"].values()))
        assert 1.6 <= dwell <= 2.6  # 2.09 s by eye (frames 27 to 77)
        assert counts["lines"]["doorway"] == {"in": 0, "out": 0}  # she leaves to the right
        lines = http.get(f"/v1/jobs/{job_id}/events.jsonl").text.splitlines()
        kinds = [json.loads(line)["kind"] for line in lines]
        # In time order (her identity may be shown before or after she steps onto the floor:
        # a provisional one comes with her track's confirmation).
        assert sorted(kinds) == ["appeared", "entered_zone", "left", "left_zone"]
        assert kinds.index("appeared") < kinds.index("left")
        assert kinds.index("entered_zone") < kinds.index("left_zone") < kinds.index("left")
        history = http.get("/v1/events", params={"job": job_id}).json()
        assert history["total"] == 4


def test_a_video_uploaded_with_its_ground_truth_is_scored(
    service: ServiceProcess, first_person_clip: Path
) -> None:
    committed = REPO_ROOT / "benchmarks" / "ground_truth" / "people-detection" / "gt" / "gt.txt"
    rows = [line for line in committed.read_text().splitlines() if int(line.split(",")[0]) <= 108]
    clip = first_person_clip.read_bytes()
    with service.client() as http:
        bad = http.post(
            "/v1/videos",
            files={"file": ("clip.mp4", clip, "video/mp4")},
            data={"ground_truth": "1,1,10,10,50,100,1\n2,1,ten,10,50,100,1\n"},
        )
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_ground_truth"
        assert "ground_truth:2" in bad.json()["detail"]  # the line that is wrong
        job_id = http.post(
            "/v1/videos",
            files={"file": ("clip.mp4", clip, "video/mp4")},
            data={"ground_truth": "\n".join(rows)},
        ).json()["job_id"]
        wait_for(
            lambda: http.get(f"/v1/jobs/{job_id}").json()["state"] in ("succeeded", "failed"),
            300,
            "finished job",
        )
        summary = http.get(f"/v1/jobs/{job_id}/summary").json()
    evaluation = summary["evaluation"]
    assert evaluation["people"] == 1  # the woman who walks in and out
    assert evaluation["transfers"] == 0
    # The service's gallery already holds her from the module's other tests (a looping camera
    # among them, for as long as it ran), so which identities she gets here depends on them:
    # the figures are there; their values on a fresh gallery are the CLI test's.
    assert set(evaluation["after_merges"]) == {"identities", "transfers", "splits"}
    assert evaluation["by_track"]["idf1"] >= 80.0
    assert summary["doubtful_tracks"] == 0  # the self-check, always there
