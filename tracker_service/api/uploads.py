"""Streaming multipart upload, with a size limit enforced while reading.

FastAPI's `UploadFile` would first spool the whole body to a temporary file; here the body
is parsed as it arrives and the `file` field is written to its final place (a file, or memory
for a photo), so an oversize upload is refused as soon as it crosses the limit and never fills
the disk. Every byte of the body counts, whatever field it belongs to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from tracker_service.api.errors import ApiError

FIELD_NAME = "file"
MAX_FILENAME = 200
# Text form fields read beside the file, with the most each may hold: `zones` (JSON or
# YAML, see zones/spec.py) and `ground_truth` (MOTChallenge gt.txt rows: about 40 bytes a
# box, so 8 MiB is 200,000 boxes, an hour of a busy camera at 10 fps).
TEXT_FIELDS = {"zones": 64 * 1024, "ground_truth": 8 * 2**20}


def multipart_body(**text_fields: str) -> dict[str, object]:
    """The OpenAPI description of a body read by `receive_file` (routes take no UploadFile):
    the file, and the named text fields with their descriptions."""
    properties: dict[str, object] = {FIELD_NAME: {"type": "string", "format": "binary"}}
    for name, description in text_fields.items():
        properties[name] = {"type": "string", "description": description}
    schema = {"type": "object", "required": [FIELD_NAME], "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


MULTIPART_FILE_BODY = multipart_body()
# Multipart framing (boundaries, part headers) and the small text fields besides the file.
# The ground truth counts against the upload limit like the video (it is small beside it).
BODY_OVERHEAD_BYTES = 64 * 1024 + TEXT_FIELDS["zones"]


def too_large(limit_bytes: int) -> ApiError:
    return ApiError(
        413,
        "upload_too_large",
        f"the upload exceeds the limit of {limit_bytes / 2**20:.4g} MiB",
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
    size: int
    fields: dict[str, str]


class _FileFieldWriter:
    """Multipart callbacks: the `file` field goes to `sink`, the small text fields named in
    TEXT_FIELDS are kept in memory (bounded), every other field is ignored."""

    def __init__(self, sink: BinaryIO, limit_bytes: int) -> None:
        self.sink = sink
        self.limit_bytes = limit_bytes
        self.fields: dict[str, bytearray] = {}
        self.size = 0
        self.filename: str | None = None
        self._part = _Part()
        self._header_field = b""
        self._header_value = b""
        self._writing = False
        self._text: bytearray | None = None  # the text field being read, if any
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
            self._writing = True
        elif self._part.field_name in TEXT_FIELDS:
            self._text = self.fields[self._part.field_name] = bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._text is not None:
            self._text += data[start:end]
            most = TEXT_FIELDS[self._part.field_name]
            if len(self._text) > most:
                raise ApiError(
                    413,
                    "field_too_large",
                    f"field {self._part.field_name!r} is over {most // 1024} KiB",
                )
            return
        if not self._writing:
            return
        self.size += end - start
        if self.size > self.limit_bytes:
            raise too_large(self.limit_bytes)
        self.sink.write(data[start:end])

    def _part_end(self) -> None:
        self._text = None
        if self._writing:
            self._writing = False
            self._done = True

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


def check_declared_length(headers: Mapping[str, str], limit_bytes: int) -> None:
    """413 at once when the declared body is too big: nothing of it is read."""
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit_bytes + BODY_OVERHEAD_BYTES:
        raise too_large(limit_bytes)


async def receive_file(
    chunks: AsyncIterator[bytes], content_type: str, sink: BinaryIO, limit_bytes: int
) -> ReceivedFile:
    """Write the `file` field of a multipart body to `sink`; ApiError for bad requests.

    The whole body, every field included, may hold `limit_bytes` plus framing; the file
    field alone `limit_bytes`."""
    boundary = multipart_boundary(content_type)
    writer = _FileFieldWriter(sink, limit_bytes)
    parser = MultipartParser(boundary, writer.callbacks())  # type: ignore[arg-type]
    body_bytes = 0
    try:
        async for chunk in chunks:
            body_bytes += len(chunk)
            if body_bytes > limit_bytes + BODY_OVERHEAD_BYTES:
                raise too_large(limit_bytes)
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        raise
    except Exception:  # python-multipart raises its own error types for bad bodies
        raise ApiError(400, "malformed_multipart", "malformed multipart body") from None
    if not writer.received or writer.filename is None:
        raise ApiError(
            422, "missing_file", "no field named 'file' in the upload (multipart/form-data)"
        )
    fields = {
        name: bytes(value).decode("utf-8", "replace") for name, value in writer.fields.items()
    }
    return ReceivedFile(writer.filename, writer.size, fields)
