"""The console's zones, wall and event history in real Chromium against the real service:
draw a zone on a camera's frame, see its live counts change, find the event with its
snapshot in the history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service import ServiceProcess
from tests.ui.test_console import CAMERA_SLOWDOWN, open_console, screenshot, slowed_copy

pytestmark = pytest.mark.slow

# The room's floor in people-detection.mp4, as fractions of the frame (see
# examples/people-detection-zones.yaml).
FLOOR = [(0.085, 0.488), (0.96, 0.47), (0.91, 0.74), (0.85, 0.926), (0.1, 0.926)]
COUNTS_TIMEOUT_MS = 300_000


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    # The camera is a file under the test's temporary folder: the policy must allow it.
    roots = json.dumps([str(tmp_path_factory.getbasetemp())])
    env = {"TRACKER_STREAMS__FILE_ROOTS": roots}
    process = ServiceProcess(tmp_path_factory.mktemp("zones-ui") / "data", env).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def camera_id(
    service: ServiceProcess, video_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The shared video, slowed down as in test_console, looping as a file camera."""
    slow = slowed_copy(video_path, tmp_path_factory.mktemp("cam") / "slow.mp4", CAMERA_SLOWDOWN)
    with service.client() as http:
        created = http.post("/v1/streams", json={"url": str(slow), "name": "room", "loop": True})
        assert created.status_code == 201, created.text
        yield created.json()["id"]
        http.delete(f"/v1/streams/{created.json()['id']}")


@pytest.mark.timeout(600)
def test_draw_a_zone_see_counts_change_and_find_the_event(
    page: Any, service: ServiceProcess, camera_id: str, artifacts_dir: Path
) -> None:
    open_console(page, service, f"#zones/{camera_id}")
    page.wait_for_function(
        "() => document.querySelector('#zone-image').naturalWidth > 0", timeout=120_000
    )
    page.fill("#zone-name", "floor")
    page.click("#zone-draw-zone")
    box = page.locator("#zone-canvas").bounding_box()
    for x, y in FLOOR:
        page.locator("#zone-canvas").click(position={"x": x * box["width"], "y": y * box["height"]})
    page.click("#zone-finish")
    page.click("#zone-save")
    page.wait_for_selector("#notices :text('Zones saved')")
    with service.client() as http:
        (zone,) = http.get(f"/v1/streams/{camera_id}/zones").json()["zones"]
    assert zone["name"] == "floor" and len(zone["points"]) == len(FLOOR)
    for (x, y), (sx, sy) in zip(FLOOR, zone["points"], strict=True):
        assert abs(x - sx) < 0.01 and abs(y - sy) < 0.01  # drawn where clicked
    screenshot(page, artifacts_dir, "zone-drawn")

    # Live counts: someone walks onto the floor (occupancy above 0 or a visit counted).
    page.wait_for_function(
        """() => {
            const row = document.querySelector('#zone-count-rows tr[data-name=floor]');
            if (!row) return false;
            const now = parseInt(row.querySelector('.occupancy').textContent, 10);
            const visits = parseInt(row.querySelector('.visits').textContent, 10);
            return now > 0 || visits > 0;
        }""",
        timeout=COUNTS_TIMEOUT_MS,
    )
    screenshot(page, artifacts_dir, "zone-counts")

    open_console(page, service, "#events")
    page.select_option("#event-filters select[name=kind]", "entered_zone")
    page.select_option("#event-filters select[name=stream]", camera_id)
    page.click("#event-filters button[type=submit]")
    row = page.locator("#event-rows tr[data-kind=entered_zone]").first
    row.wait_for(timeout=60_000)
    assert "floor" in row.inner_text()
    page.wait_for_function(
        "() => { const img = document.querySelector('#event-rows img.event-snapshot');"
        " return img && img.complete && img.naturalWidth > 0; }",
        timeout=30_000,
    )
    screenshot(page, artifacts_dir, "event-history")

    open_console(page, service, "#wall")
    tile = page.locator(f".wall-tile[data-stream='{camera_id}']")
    tile.wait_for()
    page.wait_for_function(
        f"() => document.querySelector(\"[data-counts='{camera_id}']\").textContent"
        ".includes('floor:')"
    )
    page.wait_for_function(
        f"() => document.querySelector(\".wall-tile[data-stream='{camera_id}'] img\")"
        ".naturalWidth > 0"
    )
    screenshot(page, artifacts_dir, "wall")
