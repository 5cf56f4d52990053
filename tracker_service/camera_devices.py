"""Camera devices (USB webcams and capture cards through Video4Linux2) as sources.

A device is named by its path (`/dev/video0`) or its index (`0`, which means
`/dev/video0`). It is read like a live network camera (latest frame, reopened with backoff
when it disappears), through OpenCV's V4L2 backend. The HTTP service accepts devices only
with `streams.allow_devices: true` (off by default: an API user should not be able to open
the host's cameras unless the operator says so); the command line always can.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2

_DEVICE_PATH = re.compile(r"^/dev/video\d+$")
_INDEX = re.compile(r"^\d{1,3}$")


def device_path(text: str) -> str | None:
    """`/dev/videoN` for a device path or index, None for anything else."""
    text = text.strip()
    if _INDEX.match(text):
        return f"/dev/video{int(text)}"
    if _DEVICE_PATH.match(text):
        return text
    return None


def open_device(path: str) -> cv2.VideoCapture:
    return cv2.VideoCapture(path, cv2.CAP_V4L2)


def diagnose_device(path: str) -> str:
    """Why a camera device could not be opened, in the words a user acts on."""
    device = Path(path)
    if not device.exists():
        return (
            f"no camera device {path} (is the camera plugged in? `ls /dev/video*` lists them; "
            "in Docker pass it with `devices: [/dev/video0]`)"
        )
    if not os.access(device, os.R_OK | os.W_OK):
        return f"no permission to open {path} (add the user to the `video` group)"
    return f"{path} exists but gives no video (busy in another program, or not a capture device)"
