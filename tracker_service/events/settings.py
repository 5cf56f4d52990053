"""Configuration of zones counting, the event history and notifications (part of `Config`)."""

from __future__ import annotations

from pydantic import Field

from tracker_service.config_base import StrictModel
from tracker_service.zones import CounterSettings


class ZonesConfig(StrictModel):
    """How people are counted in zones and across lines."""

    grace_s: float = Field(
        1.0, ge=0.0, le=600.0, description="a visit ends after this long out of the zone"
    )
    line_band_px: float = Field(
        4.0, ge=0.0, le=200.0, description="a side of a line is only decided this far from it"
    )
    crossing_min_s: float = Field(
        0.1, ge=0.0, le=10.0, description="a new side must hold this long to count a crossing"
    )
    state_ttl_s: float = Field(
        30.0, gt=0.0, le=3600.0, description="line state of an unseen person"
    )
    max_subjects: int = Field(4096, ge=1, le=1_000_000, description="people followed at once")

    def counter_settings(self, fps: float) -> CounterSettings:
        return CounterSettings(
            grace_s=self.grace_s,
            band_px=self.line_band_px,
            min_frames=max(1, round(self.crossing_min_s * fps)),
            state_ttl_s=self.state_ttl_s,
            max_subjects=self.max_subjects,
        )


class HistoryConfig(StrictModel):
    """The event history (SQLite beside the gallery) and its notifications (config `history`)."""

    retention_days: float = Field(30.0, gt=0.0, le=3650.0, description="older events are deleted")
    max_events: int = Field(100_000, ge=1, description="the oldest events beyond this are deleted")
    snapshots: bool = Field(True, description="keep a JPEG snapshot with each event")
    webhook_queue: int = Field(1000, ge=1, le=1_000_000, description="deliveries waiting at most")
    webhook_timeout_s: float = Field(5.0, gt=0.0, le=120.0)
    webhook_retries: int = Field(5, ge=0, le=20, description="attempts after the first")
    webhook_backoff_s: float = Field(
        1.0, gt=0.0, le=600.0, description="first wait before a retry; doubles each time"
    )
    max_rules: int = Field(100, ge=1, le=10_000)
