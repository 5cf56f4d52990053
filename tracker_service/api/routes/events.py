"""The event history: filtered and paged, one event with its snapshot, an identity's timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from tracker_service.api.deps import ServicesDep
from tracker_service.api.errors import ApiError, not_found
from tracker_service.events.model import EventKind
from tracker_service.events.store import MAX_PAGE, EventNotFoundError, EventQuery

router = APIRouter(tags=["events"])
KINDS = ", ".join(kind.value for kind in EventKind)


def parse_instant(name: str, value: str | None) -> float | None:
    """ISO 8601 (a time without zone is UTC) or UNIX seconds; 422 otherwise."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            422, "invalid_time", f"{name}: {value!r} is neither ISO 8601 nor UNIX seconds"
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _source(stream: str | None, job: str | None, source: str | None) -> str | None:
    given = [value for value in (stream, job, source) if value]
    if len(given) > 1:
        raise ApiError(422, "invalid_query", "give at most one of stream, job and source")
    if stream:
        return f"stream:{stream}"
    if job:
        return f"job:{job}"
    return source


def _kind(kind: str | None) -> EventKind | None:
    if not kind:
        return None
    try:
        return EventKind(kind)
    except ValueError:
        raise ApiError(422, "invalid_kind", f"kind must be one of: {KINDS}") from None


Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Query(ge=0)]


def _page(services: ServicesDep, query: EventQuery) -> dict[str, Any]:
    items, total = services.history.store.query(query)
    return {
        "items": [event.to_dict() for event in items],
        "total": total,
        "offset": query.offset,
        "limit": query.limit,
    }


def _query(**kw: Any) -> EventQuery:
    try:
        return EventQuery(**kw)
    except ValueError as exc:
        raise ApiError(422, "invalid_query", str(exc)) from None


@router.get("/events", summary="Events of cameras and jobs, newest first, filtered and paged")
def list_events(
    services: ServicesDep,
    *,
    stream: str | None = None,
    job: str | None = None,
    source: str | None = None,
    identity: int | None = None,
    kind: str | None = None,
    since: str | None = None,
    until: str | None = None,
    offset: Offset = 0,
    limit: Page = 50,
) -> dict[str, Any]:
    query = _query(
        source=_source(stream, job, source),
        identity_id=identity,
        kind=_kind(kind),
        since=parse_instant("since", since),
        until=parse_instant("until", until),
        offset=offset,
        limit=limit,
    )
    return _page(services, query)


@router.get("/events/{event_id}", summary="One event")
def get_event(event_id: int, services: ServicesDep) -> dict[str, Any]:
    try:
        return services.history.store.get(event_id).to_dict()
    except EventNotFoundError:
        raise not_found("event", event_id) from None


@router.get(
    "/events/{event_id}/snapshot.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="The event's snapshot: the frame, the person outlined",
)
def event_snapshot(event_id: int, services: ServicesDep) -> Response:
    jpeg = services.history.store.snapshot(event_id)
    if jpeg is None:
        raise ApiError(404, "snapshot_not_found", f"event {event_id} has no snapshot")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})


@router.get(
    "/identities/{identity_id}/timeline",
    summary="Where and when this person was seen: their events on every camera and video",
)
def identity_timeline(
    identity_id: int,
    services: ServicesDep,
    *,
    since: str | None = None,
    until: str | None = None,
    offset: Offset = 0,
    limit: Page = 100,
) -> dict[str, Any]:
    if services.gallery.canonical(identity_id) is None:
        raise not_found("identity", identity_id)
    query = _query(
        identity_id=identity_id,
        since=parse_instant("since", since),
        until=parse_instant("until", until),
        offset=offset,
        limit=limit,
    )
    return _page(services, query)
