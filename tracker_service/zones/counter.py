"""Counting people in zones and across lines, frame after frame (pure: no frames, no I/O).

`ZoneCounter.update(timestamp_s, observations)` takes the tracks of one frame and returns the
zone and line events of that frame. People are counted as SUBJECTS: their global identity when
it is known, else their track. When a track's identity becomes known (a few frames after it
appears) its visits and line sides move over to the identity, so that a person lost and
re-found under a new track but the same identity keeps one visit and one side.

* Visits: a subject enters a zone on the first frame its anchor is inside; the visit ends when
  the anchor has been outside (or out of view) for longer than `grace_s`, so a short occlusion
  does not split it. Dwell = last frame inside - first frame inside. Occupancy = open visits.
* Lines: each subject's side of each line is only decided outside a band of `band_px` around
  the line, and a change of side only counts once it has held for `min_frames` frames (the
  idea of supervision's `minimum_crossing_threshold`). A box jittering on the line therefore
  counts one crossing or none, never several.

Every structure is bounded: visits are closed by time, line states are dropped after
`state_ttl_s` unseen, and at most `max_subjects` subjects are followed.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from tracker_service.zones.geometry import Box, anchors_of, to_pixels
from tracker_service.zones.spec import ZoneSet

Subject = tuple[str, int]  # ("identity", id) or ("track", id)
OCCUPANCY_HISTORY = 10_000


class EventKind(StrEnum):
    APPEARED = "appeared"
    LEFT = "left"
    ENTERED_ZONE = "entered_zone"
    LEFT_ZONE = "left_zone"
    CROSSED_LINE = "crossed_line"


@dataclass(frozen=True, slots=True)
class Observation:
    """One visible track in a frame."""

    track_id: int
    identity_id: int | None
    xyxy: Box


@dataclass(frozen=True, slots=True)
class ZoneEvent:
    kind: EventKind
    timestamp_s: float
    track_id: int
    identity_id: int | None
    name: str
    direction: str | None = None  # "in" / "out" for line crossings
    dwell_s: float | None = None  # for left_zone
    xyxy: Box | None = None


@dataclass(frozen=True, slots=True)
class CounterSettings:
    grace_s: float = 1.0
    band_px: float = 4.0
    min_frames: int = 2
    state_ttl_s: float = 30.0
    max_subjects: int = 4096


@dataclass(slots=True)
class _Visit:
    entered_s: float
    last_inside_s: float
    track_id: int
    identity_id: int | None
    xyxy: Box


@dataclass(slots=True)
class _LineState:
    side: int = 0  # confirmed side, 0 until first decided
    pending: int = 0
    pending_frames: int = 0
    seen_s: float = 0.0


@dataclass(slots=True)
class ZoneTally:
    visits: int = 0
    dwell_total_s: float = 0.0
    dwell_max_s: float = 0.0
    peak_occupancy: int = 0
    occupancy: int = 0
    occupancy_history: deque[tuple[float, int]] = field(
        default_factory=lambda: deque(maxlen=OCCUPANCY_HISTORY)
    )
    dwell_by_identity: dict[int, list[float]] = field(default_factory=dict)


@dataclass(slots=True)
class LineTally:
    crossed_in: int = 0
    crossed_out: int = 0


def subject_of(track_id: int, identity_id: int | None) -> Subject:
    return ("identity", identity_id) if identity_id is not None else ("track", track_id)


class ZoneCounter:
    """Visits, dwell, occupancy and line crossings for one stream or video."""

    def __init__(
        self, zone_set: ZoneSet, frame_size: tuple[int, int], settings: CounterSettings
    ) -> None:
        self.settings = settings
        self.zones, self.lines = to_pixels(zone_set, frame_size)
        self.zone_tallies = {zone.name: ZoneTally() for zone in self.zones}
        self.line_tallies = {line.name: LineTally() for line in self.lines}
        self._visits: dict[str, dict[Subject, _Visit]] = {zone.name: {} for zone in self.zones}
        self._line_states: OrderedDict[tuple[Subject, str], _LineState] = OrderedDict()
        self._subject_of_track: OrderedDict[int, Subject] = OrderedDict()

    def update(self, timestamp_s: float, observations: list[Observation]) -> list[ZoneEvent]:
        subjects = [self._follow(obs) for obs in observations]
        anchors = anchors_of([obs.xyxy for obs in observations])
        events: list[ZoneEvent] = []
        for zone in self.zones:
            inside = zone.contains(anchors)
            events += self._update_zone(zone.name, timestamp_s, observations, subjects, inside)
        for line in self.lines:
            sides = line.sides(anchors, self.settings.band_px)
            events += self._update_line(line.name, timestamp_s, observations, subjects, sides)
        self._expire_line_states(timestamp_s)
        return events

    def close(self) -> list[ZoneEvent]:
        """The stream ended: every open visit ends at its last frame inside."""
        events: list[ZoneEvent] = []
        for name, visits in self._visits.items():
            for subject in list(visits):
                events.append(self._end_visit(name, subject, visits.pop(subject)))
            self._set_occupancy(name, float("inf"))
        return events

    def occupancy(self) -> dict[str, int]:
        return {name: tally.occupancy for name, tally in self.zone_tallies.items()}

    def _follow(self, obs: Observation) -> Subject:
        """The subject of a track; moves its state over when its identity becomes known."""
        subject = subject_of(obs.track_id, obs.identity_id)
        previous = self._subject_of_track.get(obs.track_id)
        if previous is not None and previous != subject:
            self._rename(previous, subject)
        self._subject_of_track[obs.track_id] = subject
        self._subject_of_track.move_to_end(obs.track_id)
        while len(self._subject_of_track) > self.settings.max_subjects:
            self._subject_of_track.popitem(last=False)
        return subject

    def _rename(self, old: Subject, new: Subject) -> None:
        for visits in self._visits.values():
            visit = visits.pop(old, None)
            if visit is None:
                continue
            kept = visits.get(new)
            if kept is None:
                visits[new] = visit
            else:  # the identity was already here (in its grace period): one visit
                kept.entered_s = min(kept.entered_s, visit.entered_s)
                kept.last_inside_s = max(kept.last_inside_s, visit.last_inside_s)
        for name in self.line_tallies:
            state = self._line_states.pop((old, name), None)
            if state is not None and (new, name) not in self._line_states:
                self._line_states[(new, name)] = state

    def _update_zone(
        self,
        name: str,
        now: float,
        observations: list[Observation],
        subjects: list[Subject],
        inside: NDArray[np.bool_],
    ) -> list[ZoneEvent]:
        visits = self._visits[name]
        events: list[ZoneEvent] = []
        for obs, subject, is_in in zip(observations, subjects, inside, strict=True):
            if not is_in:
                continue
            visit = visits.get(subject)
            if visit is None:
                if len(visits) >= self.settings.max_subjects:
                    continue
                visits[subject] = _Visit(now, now, obs.track_id, obs.identity_id, obs.xyxy)
                events.append(
                    ZoneEvent(
                        EventKind.ENTERED_ZONE,
                        now,
                        obs.track_id,
                        obs.identity_id,
                        name,
                        xyxy=obs.xyxy,
                    )
                )
            else:
                visit.last_inside_s = now
                visit.track_id, visit.identity_id, visit.xyxy = (
                    obs.track_id,
                    obs.identity_id,
                    obs.xyxy,
                )
        for subject in list(visits):
            if now - visits[subject].last_inside_s > self.settings.grace_s:
                events.append(self._end_visit(name, subject, visits.pop(subject)))
        self._set_occupancy(name, now)
        return events

    def _end_visit(self, name: str, subject: Subject, visit: _Visit) -> ZoneEvent:
        dwell = visit.last_inside_s - visit.entered_s
        tally = self.zone_tallies[name]
        tally.visits += 1
        tally.dwell_total_s += dwell
        tally.dwell_max_s = max(tally.dwell_max_s, dwell)
        if subject[0] == "identity" and len(tally.dwell_by_identity) < self.settings.max_subjects:
            tally.dwell_by_identity.setdefault(subject[1], []).append(dwell)
        return ZoneEvent(
            EventKind.LEFT_ZONE,
            visit.last_inside_s,
            visit.track_id,
            visit.identity_id,
            name,
            dwell_s=dwell,
            xyxy=visit.xyxy,
        )

    def _set_occupancy(self, name: str, now: float) -> None:
        tally = self.zone_tallies[name]
        occupancy = len(self._visits[name])
        if occupancy != tally.occupancy:
            tally.occupancy_history.append((now, occupancy))
        tally.occupancy = occupancy
        tally.peak_occupancy = max(tally.peak_occupancy, occupancy)

    def _update_line(
        self,
        name: str,
        now: float,
        observations: list[Observation],
        subjects: list[Subject],
        sides: NDArray[np.int8],
    ) -> list[ZoneEvent]:
        events: list[ZoneEvent] = []
        for obs, subject, side in zip(observations, subjects, sides, strict=True):
            key = (subject, name)
            state = self._line_states.get(key)
            if state is None:
                state = self._line_states[key] = _LineState()
            self._line_states.move_to_end(key)
            state.seen_s = now
            if side == 0:
                continue  # on the line or beyond its ends: nothing decided, nothing reset
            if state.side == 0:
                state.side = int(side)
            elif side == state.side:
                state.pending, state.pending_frames = 0, 0
            else:
                state.pending_frames = state.pending_frames + 1 if state.pending == side else 1
                state.pending = int(side)
                if state.pending_frames >= self.settings.min_frames:
                    state.side, state.pending, state.pending_frames = int(side), 0, 0
                    events.append(self._crossed(name, now, obs, int(side)))
        return events

    def _crossed(self, name: str, now: float, obs: Observation, side: int) -> ZoneEvent:
        tally = self.line_tallies[name]
        if side > 0:
            tally.crossed_in += 1
        else:
            tally.crossed_out += 1
        return ZoneEvent(
            EventKind.CROSSED_LINE,
            now,
            obs.track_id,
            obs.identity_id,
            name,
            direction="in" if side > 0 else "out",
            xyxy=obs.xyxy,
        )

    def _expire_line_states(self, now: float) -> None:
        while self._line_states:
            key, state = next(iter(self._line_states.items()))
            stale = now - state.seen_s > self.settings.state_ttl_s
            if not stale and len(self._line_states) <= self.settings.max_subjects:
                break
            del self._line_states[key]
