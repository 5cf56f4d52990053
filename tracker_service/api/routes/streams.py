"""Live cameras: register, watch status, follow events (WebSocket), view frames (JPEG/MJPEG)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response, StreamingResponse
from starlette.websockets import WebSocketState

from tracker_service.api.deps import ServicesDep, get_services
from tracker_service.api.errors import ApiError, not_found
from tracker_service.api.schemas import StreamIn, StreamList, StreamOut
from tracker_service.streams.events import TooManySubscribersError
from tracker_service.streams.manager import (
    InvalidStreamError,
    StreamInfo,
    StreamLimitError,
    StreamManager,
    StreamNotFoundError,
)

router = APIRouter(tags=["streams"])
MJPEG_BOUNDARY = "frame"
MJPEG_MAX_FPS = 10.0
EVENT_HEARTBEAT_S = 15.0
REMOVE_TIMEOUT_S = 15.0


def stream_out(info: StreamInfo) -> StreamOut:
    base = f"/v1/streams/{info.id}"
    return StreamOut(
        **info.to_dict(),
        links={
            "self": base,
            "events": f"{base}/events",
            "frame": f"{base}/frame.jpg",
            "mjpeg": f"{base}/mjpeg",
        },
    )


def _info(streams: StreamManager, stream_id: str) -> StreamInfo:
    try:
        return streams.get(stream_id)
    except StreamNotFoundError:
        raise not_found("stream", stream_id) from None


@router.post("/streams", status_code=201, response_model=StreamOut, summary="Add a camera")
def add_stream(body: StreamIn, services: ServicesDep) -> StreamOut:
    try:
        info = services.streams.add(body.url, body.name, loop=body.loop)
    except InvalidStreamError as exc:
        raise ApiError(422, "invalid_stream_url", str(exc)) from None
    except StreamLimitError as exc:
        raise ApiError(409, "stream_limit", str(exc)) from None
    return stream_out(info)


@router.get("/streams", response_model=StreamList, summary="All cameras with their status")
def list_streams(services: ServicesDep) -> StreamList:
    return StreamList(items=[stream_out(info) for info in services.streams.list()])


@router.get("/streams/{stream_id}", response_model=StreamOut, summary="A camera's status")
def get_stream(stream_id: str, services: ServicesDep) -> StreamOut:
    return stream_out(_info(services.streams, stream_id))


@router.delete("/streams/{stream_id}", status_code=204, summary="Stop and remove a camera")
def remove_stream(stream_id: str, services: ServicesDep) -> None:
    try:
        services.streams.remove(stream_id, REMOVE_TIMEOUT_S)
    except StreamNotFoundError:
        raise not_found("stream", stream_id) from None


@router.get(
    "/streams/{stream_id}/frame.jpg",
    summary="The latest annotated frame",
    responses={200: {"content": {"image/jpeg": {}}}},
)
def latest_frame(stream_id: str, services: ServicesDep) -> Response:
    try:
        snapshot = services.streams.latest_jpeg(stream_id)
    except StreamNotFoundError:
        raise not_found("stream", stream_id) from None
    if snapshot is None:
        raise ApiError(503, "no_frame_yet", "no frame processed yet", headers={"Retry-After": "1"})
    return Response(
        snapshot.data,
        media_type="image/jpeg",
        headers={"Cache-Control": "no-store", "X-Frame-Index": str(snapshot.frame)},
    )


@router.get(
    "/streams/{stream_id}/mjpeg",
    summary="Annotated frames as MJPEG (open in a browser or an <img>)",
    responses={200: {"content": {f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}": {}}}},
)
def mjpeg(stream_id: str, request: Request, services: ServicesDep) -> StreamingResponse:
    _info(services.streams, stream_id)
    return StreamingResponse(
        _mjpeg_parts(services.streams, stream_id, request),
        media_type=f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}",
        headers={"Cache-Control": "no-store"},
    )


async def _mjpeg_parts(
    streams: StreamManager, stream_id: str, request: Request
) -> AsyncIterator[bytes]:
    last_frame = -1
    while not await request.is_disconnected():
        try:
            # Drawing and encoding take milliseconds: keep them off the event loop.
            snapshot = await asyncio.to_thread(streams.latest_jpeg, stream_id)
        except StreamNotFoundError:
            return  # the stream was removed: end the response
        if snapshot is not None and snapshot.frame != last_frame:
            last_frame = snapshot.frame
            yield (
                (
                    f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(snapshot.data)}\r\n\r\n"
                ).encode()
                + snapshot.data
                + b"\r\n"
            )
        await asyncio.sleep(1.0 / MJPEG_MAX_FPS)


@router.websocket("/streams/{stream_id}/events")
async def stream_events(websocket: WebSocket, stream_id: str) -> None:
    """Per-frame tracks with identities, identity appeared/left, and status changes (JSON)."""
    try:
        services = get_services(websocket)
    except ApiError as exc:
        await websocket.close(code=1013, reason=exc.message[:120])
        return
    try:
        subscription = services.streams.subscribe(stream_id)
    except StreamNotFoundError:
        await websocket.close(code=4404, reason=f"no stream with id {stream_id}")
        return
    except TooManySubscribersError as exc:
        await websocket.close(code=1013, reason=str(exc)[:120])
        return
    await websocket.accept()
    try:
        await _forward(websocket, subscription)
    except WebSocketDisconnect:
        pass
    finally:
        subscription.close()
        if websocket.application_state is WebSocketState.CONNECTED:
            await websocket.close()


async def _forward(websocket: WebSocket, subscription: Any) -> None:
    while True:
        event = await subscription.aget(EVENT_HEARTBEAT_S)
        if event is not None:
            await websocket.send_json(event)
        elif subscription.closed:
            # The last status event (stopped or failed, with its error) came just before.
            await websocket.send_json({"type": "end", "reason": "the stream ended"})
            return
        else:
            await websocket.send_json({"type": "heartbeat"})
