"""Rules over events, and when they fire.

A rule has one condition (`when`) and where to notify (`webhook`, and `mqtt_topic` when an
MQTT deliverer is installed):

* `identity_appears` `{label}`: an identity with that label (its name) appears.
* `occupancy_above` `{zone, count, for_s}`: more than `count` people in the zone for
  `for_s` seconds without a break (fires once, again only after it has dropped back).
* `dwell_above` `{zone, seconds}`: a visit of the zone lasted longer than `seconds` (fires when
  the visit ends).
* `line_crossed` `{line, direction, between}`: the line was crossed (`in`, `out` or `any`),
  optionally only between two clock times (`["22:00", "06:00"]` spans midnight) in `timezone`.

Any rule may be limited to one `source` (`stream:<id>` or `job:<id>`).
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tracker_service.events.model import Event, EventKind

CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdentityAppears(_Strict):
    type: Literal["identity_appears"]
    label: str = Field(min_length=1, max_length=200)


class OccupancyAbove(_Strict):
    type: Literal["occupancy_above"]
    zone: str = Field(min_length=1, max_length=64)
    count: int = Field(ge=0, le=100_000)
    for_s: float = Field(0.0, ge=0.0, le=86_400.0)


class DwellAbove(_Strict):
    type: Literal["dwell_above"]
    zone: str = Field(min_length=1, max_length=64)
    seconds: float = Field(ge=0.0, le=86_400.0)


class LineCrossed(_Strict):
    type: Literal["line_crossed"]
    line: str = Field(min_length=1, max_length=64)
    direction: Literal["in", "out", "any"] = "any"
    between: tuple[str, str] | None = None
    timezone: str = "UTC"

    @field_validator("between")
    @classmethod
    def _clock_times(cls, value: tuple[str, str] | None) -> tuple[str, str] | None:
        if value is not None:
            for clock in value:
                if not CLOCK.match(clock):
                    raise ValueError(f"{clock!r} is not a clock time HH:MM")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def in_window(self, unix_s: float) -> bool:
        if self.between is None:
            return True
        local = datetime.fromtimestamp(unix_s, ZoneInfo(self.timezone)).time()
        start, end = (time.fromisoformat(clock) for clock in self.between)
        if start <= end:
            return start <= local < end
        return local >= start or local < end  # the window spans midnight


Condition = Annotated[
    IdentityAppears | OccupancyAbove | DwellAbove | LineCrossed, Field(discriminator="type")
]


class Webhook(_Strict):
    url: str = Field(max_length=2000)
    secret: str = Field(min_length=16, max_length=200, description="HMAC-SHA256 key")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("webhook url must be http:// or https:// with a host")
        return value


class RuleSpec(_Strict):
    """What a client sends to create or replace a rule."""

    name: str = Field(min_length=1, max_length=100)
    when: Condition
    source: str | None = Field(None, max_length=200)
    webhook: Webhook | None = None
    # Published under `<prefix>/<node>/rules/`: a plain topic, no MQTT wildcards.
    mqtt_topic: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[^#+\x00]+$")
    enabled: bool = True

    @model_validator(mode="after")
    def _somewhere_to_notify(self) -> RuleSpec:
        if self.webhook is None and self.mqtt_topic is None:
            raise ValueError("a rule needs a webhook or an mqtt_topic to notify")
        return self


def matches(spec: RuleSpec, event: Event) -> bool:
    """Whether one event fires the rule (occupancy rules are decided over time instead)."""
    if not spec.enabled or (spec.source is not None and event.source != spec.source):
        return False
    when = spec.when
    if isinstance(when, IdentityAppears):
        return event.kind is EventKind.APPEARED and event.label == when.label
    if isinstance(when, DwellAbove):
        return (
            event.kind is EventKind.LEFT_ZONE
            and event.name == when.zone
            and (event.dwell_s or 0.0) > when.seconds
        )
    if isinstance(when, LineCrossed):
        return (
            event.kind is EventKind.CROSSED_LINE
            and event.name == when.line
            and when.direction in ("any", event.direction)
            and when.in_window(event.time)
        )
    return False


class OccupancyWatch:
    """`occupancy_above` for one rule and source: above `count` for `for_s`, once per spell."""

    def __init__(self, condition: OccupancyAbove) -> None:
        self.condition = condition
        self.above_since: float | None = None
        self.fired = False

    def update(self, occupancy: int, now: float) -> bool:
        if occupancy <= self.condition.count:
            self.above_since, self.fired = None, False
            return False
        if self.above_since is None:
            self.above_since = now
        if not self.fired and now - self.above_since >= self.condition.for_s:
            self.fired = True
            return True
        return False
