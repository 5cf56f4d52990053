"""Configuration of the scale-out backends: a shared job queue and MQTT events.

Both are off by default (the embedded service: an in-process job queue, events only on the
WebSocket). `jobs.url` and `gallery.url` take a PostgreSQL URL; `events.mqtt_url` a broker.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from tracker_service.config_base import StrictModel

_TOPIC_WORD = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_postgres_url(url: str | None) -> str | None:
    """`url` when it names a PostgreSQL database; a ValueError naming the problem otherwise."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("must be a postgresql://user@host:port/database URL")
    if not parts.hostname or not parts.path.strip("/"):
        raise ValueError("must name a host and a database (postgresql://user@host:port/db)")
    return url


def _default_node() -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:64]
    return name or "node"


class JobsConfig(StrictModel):
    """Where video jobs are queued."""

    url: str | None = Field(
        None,
        description="postgresql://... : one job queue shared by every node (inputs and results "
        "in data_dir, which must then be a folder every node mounts); unset: in this process",
    )
    folder: Path | None = Field(
        None,
        description="job inputs and results (default: data_dir/jobs); with url set, a folder "
        "every node mounts at the same path",
    )
    lease_s: float = Field(
        30.0,
        ge=3.0,
        le=3600.0,
        description="a running job whose node stops renewing its lease for this long is taken "
        "over by another node",
    )
    poll_s: float = Field(1.0, gt=0.0, le=60.0, description="how often idle workers look for work")

    @field_validator("url")
    @classmethod
    def _postgres(cls, url: str | None) -> str | None:
        return check_postgres_url(url)


class EventsConfig(StrictModel):
    """Events published to an MQTT broker (identity appeared/left, tracks, status, jobs)."""

    mqtt_url: str | None = Field(
        None, description="mqtt://[user:password@]host[:1883] or mqtts://...; unset: off"
    )
    node: str = Field(
        default_factory=_default_node, description="this node's name in topics (the host name)"
    )
    topic_prefix: str = Field("tracker", description="first level of every topic")
    tracks_interval_s: float = Field(
        1.0, ge=0.0, le=3600.0, description="track summaries per stream at most this often"
    )
    outbox_size: int = Field(
        10_000, ge=10, le=1_000_000, description="events waiting for the broker; the oldest go"
    )
    reconnect_initial_s: float = Field(1.0, gt=0.0, le=300.0)
    reconnect_max_s: float = Field(30.0, gt=0.0, le=3600.0)

    @field_validator("mqtt_url")
    @classmethod
    def _broker_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must be mqtt://host[:port] or mqtts://host[:port]")
        return url

    @field_validator("node", "topic_prefix")
    @classmethod
    def _topic_word(cls, value: str) -> str:
        if not _TOPIC_WORD.match(value):
            raise ValueError("1-64 letters, digits, '_', '.' or '-' (it is a topic level)")
        return value
