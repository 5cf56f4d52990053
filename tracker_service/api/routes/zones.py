"""Zones and lines of a camera (normalised coordinates, see `tracker_service/zones/spec.py`)
and its live counts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from tracker_service.api.deps import ServicesDep
from tracker_service.api.errors import ApiError, not_found
from tracker_service.api.services import Services
from tracker_service.streams.manager import StreamNotFoundError
from tracker_service.zones import ZoneSet, ZoneSpecError, parse_zone_set

router = APIRouter(tags=["zones"])


def _require_stream(services: Services, stream_id: str) -> None:
    try:
        services.streams.get(stream_id)
    except StreamNotFoundError:
        raise not_found("stream", stream_id) from None


def _store(services: Services, stream_id: str, zone_set: ZoneSet) -> dict[str, Any]:
    services.history.zones.put(stream_id, zone_set)
    services.streams.set_zones(stream_id, zone_set)
    return zone_set.model_dump(mode="json")


def parse_or_422(data: Any) -> ZoneSet:
    try:
        return parse_zone_set(data)
    except ZoneSpecError as exc:
        raise ApiError(422, "invalid_zones", str(exc)) from None


@router.get("/streams/{stream_id}/zones", summary="A camera's zones and lines")
def get_zones(stream_id: str, services: ServicesDep) -> dict[str, Any]:
    _require_stream(services, stream_id)
    return services.history.zones.get(stream_id).model_dump(mode="json")


@router.put("/streams/{stream_id}/zones", summary="Replace a camera's zones and lines")
def put_zones(
    stream_id: str, body: Annotated[dict[str, Any], Body()], services: ServicesDep
) -> dict[str, Any]:
    _require_stream(services, stream_id)
    return _store(services, stream_id, parse_or_422(body))


@router.delete("/streams/{stream_id}/zones", status_code=204, summary="Remove all zones")
def clear_zones(stream_id: str, services: ServicesDep) -> None:
    _require_stream(services, stream_id)
    _store(services, stream_id, ZoneSet())


@router.delete(
    "/streams/{stream_id}/zones/{name}", status_code=204, summary="Remove one zone or line"
)
def delete_zone(stream_id: str, name: str, services: ServicesDep) -> None:
    _require_stream(services, stream_id)
    current = services.history.zones.get(stream_id)
    kept = ZoneSet(
        zones=[zone for zone in current.zones if zone.name != name],
        lines=[line for line in current.lines if line.name != name],
    )
    if len(kept.zones) + len(kept.lines) == len(current.zones) + len(current.lines):
        raise ApiError(404, "zone_not_found", f"stream {stream_id} has no zone or line {name!r}")
    _store(services, stream_id, kept)


@router.get("/streams/{stream_id}/counts", summary="Live counts: lines in/out, zone visits")
def get_counts(stream_id: str, services: ServicesDep) -> dict[str, Any]:
    try:
        return services.streams.counts(stream_id)
    except StreamNotFoundError:
        raise not_found("stream", stream_id) from None
