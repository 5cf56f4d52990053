"""Streaming multipart upload straight to disk, with a size limit enforced while reading.

FastAPI's `UploadFile` would first spool the whole body to a temporary file; here the body
is parsed as it arrives and the `file` field is written to its final place, so an oversize
upload is refused as soon as it crosses the limit and never fills the disk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from tracker_service.api.errors import ApiError

FIELD_NAME = "file"
MAX_FILENAME = 200
# Small form fields read beside the video: `zones` (JSON or YAML, see zones/spec.py).
TEXT_FIELDS = frozenset({"zones"})
MAX_TEXT_FIELD = 64 * 1024


def too_large(limit_bytes: int) -> ApiError:
    return ApiError(
        413,
        "upload_too_large",
        f"the upload exceeds the limit of {limit_bytes / 2**20:.0f} MiB (service.max_upload_mb)",
    )


def safe_suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 8 else ".bin"


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    field_name: str = ""
    filename: str | None = None


@dataclass
class ReceivedFile:
    filename: str
    path: Path
    size: int
    fields: dict[str, str]


class _FileFieldWriter:
    """Multipart callbacks: the `file` field goes to `target`, the small text fields named in
    TEXT_FIELDS are kept in memory (bounded), every other field is ignored."""

    def __init__(self, target: Path, limit_bytes: int) -> None:
        self.target = target
        self.limit_bytes = limit_bytes
        self.fields: dict[str, bytearray] = {}
        self.size = 0
        self.filename: str | None = None
        self._part = _Part()
        self._header_field = b""
        self._header_value = b""
        self._handle: BinaryIO | None = None
        self._done = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._part = _Part()

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._part.headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        disposition = self._part.headers.get(b"content-disposition", b"")
        _, options = parse_options_header(disposition)
        self._part.field_name = options.get(b"name", b"").decode("utf-8", "replace")
        raw_name = options.get(b"filename")
        self._part.filename = None if raw_name is None else raw_name.decode("utf-8", "replace")
        if self._part.field_name == FIELD_NAME and not self._done:
            self.filename = Path(self._part.filename or "upload").name[:MAX_FILENAME]
            self._handle = self.target.open("wb")
        elif self._part.field_name in TEXT_FIELDS:
            self.fields[self._part.field_name] = bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        text = self.fields.get(self._part.field_name)
        if text is not None and self._handle is None:
            text += data[start:end]
            if len(text) > MAX_TEXT_FIELD:
                raise ApiError(
                    413, "field_too_large", f"field {self._part.field_name!r} is over 64 KiB"
                )
            return
        if self._handle is None:
            return
        self.size += end - start
        if self.size > self.limit_bytes:
            raise too_large(self.limit_bytes)
        self._handle.write(data[start:end])

    def _part_end(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._done = True

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    @property
    def received(self) -> bool:
        return self._done


def multipart_boundary(content_type: str) -> bytes:
    media_type, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise ApiError(
            415,
            "not_multipart",
            "send the video as multipart/form-data with the video in the field 'file'",
        )
    return boundary


async def receive_file(
    chunks: AsyncIterator[bytes], content_type: str, target: Path, limit_bytes: int
) -> ReceivedFile:
    """Write the `file` field of a multipart body to `target`; ApiError for bad requests."""
    boundary = multipart_boundary(content_type)
    writer = _FileFieldWriter(target, limit_bytes)
    parser = MultipartParser(boundary, writer.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        raise
    except Exception as exc:  # python-multipart raises its own error types for bad bodies
        raise ApiError(400, "malformed_multipart", f"malformed multipart body: {exc}") from None
    finally:
        writer.close()
    if not writer.received or writer.filename is None:
        raise ApiError(
            422, "missing_file", "no field named 'file' in the upload (multipart/form-data)"
        )
    fields = {
        name: bytes(value).decode("utf-8", "replace") for name, value in writer.fields.items()
    }
    return ReceivedFile(writer.filename, target, writer.size, fields)
