"""Zones and lines: validation, anchors, visits with grace, dwell, occupancy, crossings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker_service.zones import (
    CounterSettings,
    EventKind,
    Observation,
    ZoneCounter,
    ZoneSpecError,
    load_zone_file,
    parse_zone_set,
)

SIZE = (1000, 500)
SQUARE = {"name": "floor", "points": [[0.2, 0.2], [0.6, 0.2], [0.6, 0.8], [0.2, 0.8]]}
# Horizontal line at y = 250 px from left to right: moving DOWN the image is "in".
DOOR = {"name": "door", "start": [0.1, 0.5], "end": [0.9, 0.5]}


def box_at(x: float, y: float) -> tuple[float, float, float, float]:
    """A 40x100 box whose anchor (bottom centre) is (x, y) in pixels."""
    return (x - 20, y - 100, x + 20, y)


def counter(settings: CounterSettings | None = None, **zones: object) -> ZoneCounter:
    spec = parse_zone_set(zones or {"zones": [SQUARE], "lines": [DOOR]})
    return ZoneCounter(spec, SIZE, settings or CounterSettings(grace_s=1.0, min_frames=2))


def kinds(events: list) -> list[tuple[str, str]]:
    return [(event.kind.value, event.name) for event in events]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"zones": [{"name": "a", "points": [[0, 0], [1, 1]]}]}, "at least 3 points"),
        (
            {"zones": [{"name": "bow", "points": [[0, 0], [1, 1], [1, 0], [0, 1]]}]},
            "Self-intersection",
        ),
        ({"zones": [{"name": "a", "points": [[0, 0], [1.2, 0], [0, 1]]}]}, "outside the frame"),
        ({"lines": [{"name": "l", "start": [0.5, 0.5], "end": [0.5, 0.5]}]}, "same point"),
        ({"zones": [SQUARE], "lines": [{**DOOR, "name": "floor"}]}, "used twice"),
        ({"zones": [{**SQUARE, "name": "../x"}]}, "name"),
        ({"zones": [{**SQUARE, "colour": "red"}]}, "Extra inputs"),
        ({"zones": [{"name": "a", "points": [[0, 0], [0.5, 0], [1, 0]]}]}, "not a simple polygon"),
    ],
)
def test_bad_zone_sets_are_refused_with_a_reason(data: dict, message: str) -> None:
    with pytest.raises(ZoneSpecError, match=message):
        parse_zone_set(data)


def test_zone_file_in_yaml(tmp_path: Path) -> None:
    path = tmp_path / "zones.yaml"
    path.write_text(
        "zones:\n  - name: floor\n    points: [[0.2, 0.2], [0.6, 0.2], [0.6, 0.8]]\n"
        "lines:\n  - {name: door, start: [0.1, 0.5], end: [0.9, 0.5]}\n"
    )
    spec = load_zone_file(path)
    assert [z.name for z in spec.zones] == ["floor"] and [x.name for x in spec.lines] == ["door"]
    path.write_text("zones: [")
    with pytest.raises(ZoneSpecError, match="not valid YAML"):
        load_zone_file(path)


def test_the_anchor_is_the_bottom_centre_of_the_box() -> None:
    zones = counter()
    # The box overlaps the floor zone (x 200..600, y 100..400) but its feet are below it.
    events = zones.update(0.0, [Observation(1, 7, (300, 300, 340, 450))])
    assert EventKind.ENTERED_ZONE not in [e.kind for e in events]
    events = zones.update(0.1, [Observation(1, 7, (300, 250, 340, 390))])
    assert kinds(events) == [("entered_zone", "floor")]


def test_a_short_occlusion_does_not_split_a_visit_and_dwell_is_measured() -> None:
    zones = counter()
    events = []
    for frame in range(30):  # 0.0 .. 2.9 s inside, with frames 10..15 (0.6 s) out of view
        seen = [] if 10 <= frame <= 15 else [Observation(1, 7, box_at(400, 300))]
        events += zones.update(frame / 10, seen)
    for frame in range(30, 60):  # out of view for good
        events += zones.update(frame / 10, [])
    assert kinds(events) == [("entered_zone", "floor"), ("left_zone", "floor")]
    left = events[-1]
    assert left.dwell_s == pytest.approx(2.9)
    assert left.timestamp_s == pytest.approx(2.9)
    tally = zones.zone_tallies["floor"]
    assert (tally.visits, tally.peak_occupancy, tally.occupancy) == (1, 1, 0)
    assert tally.dwell_by_identity == {7: [pytest.approx(2.9)]}


def test_an_absence_longer_than_the_grace_period_makes_two_visits() -> None:
    zones = counter()
    events = []
    for frame in range(60):
        seen = [] if 10 <= frame <= 30 else [Observation(1, 7, box_at(400, 300))]
        events += zones.update(frame / 10, seen)
    events += zones.close()
    assert [e.kind for e in events].count(EventKind.ENTERED_ZONE) == 2
    assert [e.dwell_s for e in events if e.dwell_s is not None] == [
        pytest.approx(0.9),
        pytest.approx(2.8),
    ]


def test_occupancy_counts_people_in_the_zone() -> None:
    zones = counter()
    zones.update(0.0, [Observation(1, 1, box_at(300, 300)), Observation(2, 2, box_at(350, 300))])
    zones.update(0.1, [Observation(1, 1, box_at(300, 300)), Observation(2, 2, box_at(350, 300))])
    assert zones.occupancy() == {"floor": 2}
    for frame in range(2, 40):
        zones.update(frame / 10, [Observation(1, 1, box_at(300, 300))])
    assert zones.occupancy() == {"floor": 1}
    assert zones.zone_tallies["floor"].peak_occupancy == 2
    assert list(zones.zone_tallies["floor"].occupancy_history)[:2] == [(0.0, 2), (1.2, 1)]


def test_a_visit_begun_before_the_identity_is_known_stays_one_visit() -> None:
    zones = counter()
    events = zones.update(0.0, [Observation(5, None, box_at(300, 300))])
    events += zones.update(0.1, [Observation(5, 9, box_at(300, 300))])
    # Lost, then re-found as another track with the same identity within the grace period.
    events += zones.update(0.5, [Observation(6, 9, box_at(300, 300))])
    events += zones.close()
    assert kinds(events) == [("entered_zone", "floor"), ("left_zone", "floor")]
    assert events[-1].identity_id == 9 and events[-1].dwell_s == pytest.approx(0.5)


def walk(zones: ZoneCounter, ys: list[float], track: int = 1, identity: int = 3) -> list:
    events = []
    for frame, y in enumerate(ys):
        events += zones.update(frame / 10, [Observation(track, identity, box_at(700, y))])
    return events


def test_a_crossing_down_is_in_and_up_is_out() -> None:
    zones = counter()
    events = walk(zones, [150, 200, 240, 260, 300, 350, 300, 260, 240, 200, 150])
    crossings = [(e.kind, e.direction) for e in events]
    assert crossings == [(EventKind.CROSSED_LINE, "in"), (EventKind.CROSSED_LINE, "out")]
    assert (zones.line_tallies["door"].crossed_in, zones.line_tallies["door"].crossed_out) == (
        1,
        1,
    )


def test_jitter_on_the_line_counts_one_crossing() -> None:
    zones = counter()
    # Feet wobbling around y = 250 (inside the band, and single frames beyond it), then in.
    jitter = [200, 248, 253, 246, 258, 247, 252, 242, 256, 249, 251, 300, 320, 330, 320]
    events = walk(zones, jitter)
    assert [(e.name, e.direction) for e in events] == [("door", "in")]


def test_beyond_the_ends_of_the_line_nothing_is_counted() -> None:
    zones = counter()
    events = []
    for frame, y in enumerate([150, 200, 300, 350, 360]):
        events += zones.update(frame / 10, [Observation(1, 3, box_at(950, y))])
    assert events == []


def test_state_is_bounded() -> None:
    settings = CounterSettings(grace_s=0.5, state_ttl_s=1.0, max_subjects=50)
    zones = counter(settings)
    for frame in range(2000):  # a new person every frame, each seen once
        zones.update(frame / 10, [Observation(frame, frame, box_at(400, 300))])
    assert len(zones._line_states) <= 50
    assert len(zones._visits["floor"]) <= 50
    assert len(zones._subject_of_track) <= 50
