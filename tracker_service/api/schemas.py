"""Request and response bodies of the public API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobOut(BaseModel):
    job_id: str
    state: str = Field(description="queued, running, succeeded, failed or cancelled")
    filename: str
    size_bytes: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    progress: float = Field(description="0..1")
    frames_done: int
    frames_total: int
    error: str | None
    summary: dict[str, object] | None
    links: dict[str, str]


class JobList(BaseModel):
    items: list[JobOut]


class StreamIn(Strict):
    url: str = Field(
        max_length=2048,
        description="rtsp://, rtsps://, http(s):// or, where streams.file_roots allows, a file",
    )
    name: str | None = Field(None, max_length=100)
    loop: bool = Field(False, description="play a file source in a loop (demos, tests)")


class StreamOut(BaseModel):
    """A camera: identity, status and live figures (`lag_s`: age of the frame processed)."""

    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    url: str = Field(description="with any password hidden")
    state: str = Field(description="connecting, live, reconnecting, stopped or failed")
    error: str | None
    state_since: float = Field(
        description="when the state (or its error) began, epoch seconds: the newest status "
        "has the latest; status events of the stream's WebSocket carry it as `timestamp`"
    )
    last_error: str | None
    fps: float
    lag_s: float | None
    frames_processed: int
    frames_dropped: int
    reconnects: int
    links: dict[str, str]


class StreamList(BaseModel):
    items: list[StreamOut]


class IdentityOut(BaseModel):
    identity_id: int
    label: str | None
    created_at: float
    first_seen: float
    last_seen: float
    exemplars: int
    sources: list[str]
    thumbnail_url: str | None


class IdentityPage(BaseModel):
    items: list[IdentityOut]
    total: int
    offset: int
    limit: int


class SightingOut(BaseModel):
    source: str
    track_id: int
    first_seen: float
    last_seen: float
    first_media_s: float
    last_media_s: float


class IdentityDetail(IdentityOut):
    sightings: list[SightingOut]


class IdentityPatch(Strict):
    label: str | None = Field(description="a name for this person; null clears it", max_length=100)

    @field_validator("label")
    @classmethod
    def _printable(cls, label: str | None) -> str | None:
        if label is not None and not label.strip().isprintable():
            raise ValueError("the label must not hold control characters")
        return label


class MergeIn(Strict):
    source_id: int = Field(
        ge=0, le=2**62, description="the identity folded into this one (and then removed)"
    )


class SearchMatch(BaseModel):
    identity_id: int
    similarity: float
    label: str | None
    thumbnail_url: str | None
    sightings: list[SightingOut]


class SearchOut(BaseModel):
    query_box_xyxy: list[float] | None = Field(
        description="where the person was found in the image; null when the image was used whole"
    )
    matches: list[SearchMatch]
