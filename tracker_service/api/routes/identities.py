"""The identity gallery: list, inspect, label, merge, delete, and search by photo."""

from __future__ import annotations

import asyncio
import io
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from tracker_service.api.deps import ServicesDep
from tracker_service.api.errors import ApiError, not_found
from tracker_service.api.media import decode_photo
from tracker_service.api.schemas import (
    IdentityDetail,
    IdentityOut,
    IdentityPage,
    IdentityPatch,
    MergeIn,
    SearchMatch,
    SearchOut,
    SightingOut,
)
from tracker_service.api.services import Services
from tracker_service.api.uploads import MULTIPART_FILE_BODY, check_declared_length, receive_file
from tracker_service.crops import crop_boxes
from tracker_service.reid.gallery import GalleryError, IdentityRecord
from tracker_service.reid.identity_gallery import IdentityGallery

router = APIRouter(tags=["identities"])
MAX_SEARCH_IMAGE_BYTES = 20 * 2**20
SEARCH_SIGHTINGS = 10
# SQLite integers are 64-bit; a larger id or offset would overflow inside the query.
MAX_ID = 2**62
IdentityId = Annotated[int, Path(ge=0, le=MAX_ID)]


def identity_out(record: IdentityRecord) -> IdentityOut:
    return IdentityOut(
        identity_id=record.identity_id,
        label=record.label,
        created_at=record.created_at,
        first_seen=record.first_seen,
        last_seen=record.last_seen,
        exemplars=record.exemplars,
        sources=list(record.sources),
        thumbnail_url=_thumbnail_url(record.identity_id) if record.has_thumbnail else None,
    )


def _thumbnail_url(identity_id: int) -> str:
    return f"/v1/identities/{identity_id}/thumbnail.jpg"


def _sightings(gallery: IdentityGallery, identity_id: int, limit: int) -> list[SightingOut]:
    return [SightingOut(**vars_of(s)) for s in gallery.sightings(identity_id, limit)]


def vars_of(sighting: object) -> dict[str, object]:
    fields = ("source", "track_id", "first_seen", "last_seen", "first_media_s", "last_media_s")
    return {name: getattr(sighting, name) for name in fields}


def _record(gallery: IdentityGallery, identity_id: int) -> IdentityRecord:
    try:
        return gallery.identity(identity_id)
    except KeyError:
        raise not_found("identity", identity_id) from None


@router.get("/identities", response_model=IdentityPage, summary="Identities, recently seen first")
def list_identities(
    services: ServicesDep,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> IdentityPage:
    records, total = services.gallery.identities(offset, limit)
    return IdentityPage(
        items=[identity_out(r) for r in records], total=total, offset=offset, limit=limit
    )


@router.get("/identities/{identity_id}", response_model=IdentityDetail, summary="One identity")
def get_identity(identity_id: IdentityId, services: ServicesDep) -> IdentityDetail:
    record = _record(services.gallery, identity_id)
    return IdentityDetail(
        **identity_out(record).model_dump(),
        sightings=_sightings(services.gallery, identity_id, 50),
    )


@router.get("/identities/{identity_id}/thumbnail.jpg", summary="A crop of the person (JPEG)")
def identity_thumbnail(identity_id: IdentityId, services: ServicesDep) -> Response:
    try:
        data = services.gallery.thumbnail(identity_id)
    except KeyError:
        raise not_found("identity", identity_id) from None
    if data is None:
        raise ApiError(404, "no_thumbnail", f"identity {identity_id} has no thumbnail")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


@router.patch("/identities/{identity_id}", response_model=IdentityOut, summary="Set the label")
def patch_identity(
    identity_id: IdentityId, body: IdentityPatch, services: ServicesDep
) -> IdentityOut:
    label = body.label.strip() if body.label else None
    try:
        services.gallery.set_label(identity_id, label or None)
    except KeyError:
        raise not_found("identity", identity_id) from None
    return identity_out(_record(services.gallery, identity_id))


@router.delete("/identities/{identity_id}", status_code=204, summary="Forget an identity")
def delete_identity(identity_id: IdentityId, services: ServicesDep) -> None:
    try:
        services.gallery.delete(identity_id)
    except KeyError:
        raise not_found("identity", identity_id) from None
    services.history.store.forget(identity_id)  # forgetting a person forgets their events


@router.post(
    "/identities/{identity_id}/merge",
    response_model=IdentityOut,
    summary="Fold another identity (source_id) into this one",
)
def merge_identity(identity_id: IdentityId, body: MergeIn, services: ServicesDep) -> IdentityOut:
    try:
        services.gallery.merge(identity_id, body.source_id)
    except KeyError as exc:
        raise not_found("identity", exc.args[0]) from None
    except GalleryError as exc:
        raise ApiError(422, "invalid_merge", str(exc)) from None
    services.history.store.reassign(body.source_id, identity_id)
    return identity_out(_record(services.gallery, identity_id))


@router.post(
    "/search",
    response_model=SearchOut,
    summary="Find a person: upload a photo (multipart `file`), get the best-matching identities",
    openapi_extra=MULTIPART_FILE_BODY,
)
async def search(
    request: Request,
    services: ServicesDep,
    k: Annotated[int, Query(ge=1, le=50)] = 5,
) -> SearchOut:
    check_declared_length(request.headers, MAX_SEARCH_IMAGE_BYTES)
    buffer = io.BytesIO()
    received = await receive_file(
        request.stream(), request.headers.get("content-type", ""), buffer, MAX_SEARCH_IMAGE_BYTES
    )
    image = await asyncio.to_thread(
        decode_photo, buffer.getvalue(), services.config.service.max_pixels, received.filename
    )
    return await asyncio.to_thread(_search_image, services, image, k)


def _search_image(services: Services, image: np.ndarray, k: int) -> SearchOut:
    # A photo may show a person in a scene: search with the most confident person box. With
    # no person in it, any answer would be noise (the nearest identities of a wall).
    detections = services.models.detector.detect(image)
    if not len(detections):
        raise ApiError(422, "no_person_found", "no person found in the photo")
    best = int(np.argmax(detections.confidence))
    box = [round(float(v), 1) for v in detections.xyxy[best]]
    crop = crop_boxes(image, detections.xyxy[best : best + 1])[0]
    vector = services.models.embedder.embed([crop])[0]
    matches = []
    for match in services.gallery.search(vector, k=k):
        record = services.gallery.identity(match.identity_id)
        matches.append(
            SearchMatch(
                identity_id=match.identity_id,
                similarity=round(match.similarity, 4),
                label=record.label,
                thumbnail_url=_thumbnail_url(match.identity_id) if record.has_thumbnail else None,
                sightings=_sightings(services.gallery, match.identity_id, SEARCH_SIGHTINGS),
            )
        )
    return SearchOut(query_box_xyxy=box, matches=matches)
