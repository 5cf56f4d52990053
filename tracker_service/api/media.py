"""Images and videos from the API, checked from their headers before anything is decoded.

A 380 kB PNG can declare 20000 x 20000 pixels: decoding it takes gigabytes. The header says
how big the picture is, so the size is checked there (`service.max_pixels`) and only then
decoded. Still images are not videos: an upload that is a picture is refused as one, before
a decoder would turn it into a one-frame "video".
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import cv2
import imagesize
import numpy as np

from tracker_service.api.errors import ApiError
from tracker_service.types import Frame

# File signatures of still images (magic bytes at the start of the file).
_IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}
PHOTO_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
# The smallest photo worth looking for a person in.
MIN_PHOTO_SIDE = 16


def too_many_pixels(width: int, height: int, limit: int) -> ApiError:
    return ApiError(
        413,
        "too_many_pixels",
        f"the picture is {width} x {height} pixels, more than the limit of {limit:,} "
        "(service.max_pixels)",
    )


def image_format(head: bytes) -> str | None:
    """The still-image format that `head` (a file's first bytes) starts, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    for signature, name in _IMAGE_SIGNATURES.items():
        if head.startswith(signature):
            return name
    return None


def _header(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) of a still image, from its header only; None if none."""
    kind = image_format(data[:16])
    if kind is None:
        return None
    # imagesize reads the dimensions from the header; nothing is decoded.
    info = imagesize.get_info(io.BytesIO(data), dpi=False, colors=False, channels=False)
    return kind, int(info.width), int(info.height)


def decode_photo(data: bytes, max_pixels: int, filename: str) -> Frame:
    """A JPEG, PNG or WebP photo as a BGR array; ApiError when it is none or too big."""
    header = _header(data)
    if header is None or header[0] not in PHOTO_FORMATS or min(header[1:]) < 0:
        raise ApiError(422, "not_an_image", f"{filename} is not a JPEG, PNG or WebP image")
    _, width, height = header
    if width * height > max_pixels:
        raise too_many_pixels(width, height, max_pixels)
    if min(width, height) < MIN_PHOTO_SIDE:
        raise ApiError(
            422,
            "image_too_small",
            f"the photo is {width} x {height} pixels: too small to show "
            f"a person (at least {MIN_PHOTO_SIDE} pixels a side)",
        )
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ApiError(422, "not_an_image", f"{filename} cannot be decoded (corrupt image)")
    return np.asarray(image, np.uint8)


def check_video_header(path: Path, max_pixels: int, filename: str) -> None:
    """Refuse still images and oversize frames before a decoder sees the file."""
    with path.open("rb") as handle:
        head = handle.read(16)
    if image_format(head) is not None:
        raise ApiError(
            422, "not_a_video", f"{filename!r} is a still image, not a video (upload a video file)"
        )
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ApiError(422, "not_a_video", f"{filename!r} has no video stream")
            if container.format.name == "image2" or container.format.name.endswith("_pipe"):
                raise ApiError(422, "not_a_video", f"{filename!r} is a still image, not a video")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
    except av.error.FFmpegError:
        raise ApiError(422, "not_a_video", f"{filename!r} cannot be read as a video") from None
    if width * height > max_pixels:
        raise too_many_pixels(width, height, max_pixels)
