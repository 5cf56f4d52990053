"""Inputs for the security tests: short real clips, crafted images, raw HTTP uploads."""

from __future__ import annotations

import socket
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

BOUNDARY = "sec-boundary-7f3a"


def clip_of(video: Path, target: Path, frames: int, width: int = 480) -> Path:
    """The first `frames` frames of a real video, scaled to `width`, as MP4."""
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 24.0
    writer: cv2.VideoWriter | None = None
    for _ in range(frames):
        ok, frame = capture.read()
        if not ok:
            break
        height = round(frame.shape[0] * width / frame.shape[1]) // 2 * 2
        frame = cv2.resize(frame, (width, height))
        if writer is None:
            writer = cv2.VideoWriter(
                str(target), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height)
            )
        writer.write(frame)
    capture.release()
    assert writer is not None
    writer.release()
    return target


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` pixels but carries almost no data (a bomb's
    header: decoding it would allocate width * height * 3 bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def png_of(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return bytes(data)


def part_head(name: str = "file", filename: str = "clip.mp4") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()


def open_upload(port: int, path: str, headers: dict[str, str]) -> socket.socket:
    """A multipart POST to 127.0.0.1:`port` with its headers sent and its body not yet."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Type: multipart/form-data; boundary={BOUNDARY}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def status_of(sock: socket.socket, timeout_s: float) -> int | None:
    """The status code the server answers with, None if none comes within `timeout_s`."""
    sock.settimeout(timeout_s)
    try:
        head = sock.recv(64)
    except (TimeoutError, OSError):
        return None
    parts = head.split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
