"""Fixtures of the scale-out tests (marker `cluster`): clips cut from the shared videos, the
real models. The servers (`postgres`, `broker`) are session fixtures of tests/conftest.py."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.conftest import require_asset
from tests.streams.conftest import real_config, real_gallery, real_models

__all__ = ["real_config", "real_gallery", "real_models"]  # the real models, shared fixtures


def cut_clip(source: Path, target: Path, seconds: float) -> Path:
    """The first `seconds` of `source`, re-encoded (H.264) into `target` with PyAV."""
    with av.open(str(source)) as reader, av.open(str(target), "w") as writer:
        video = reader.streams.video[0]
        rate = video.average_rate or 25
        out = writer.add_stream("libx264", rate=rate)
        out.width, out.height, out.pix_fmt = video.width, video.height, "yuv420p"
        for index, frame in enumerate(reader.decode(video)):
            if frame.time is not None and frame.time >= seconds:
                break
            picture = frame.reformat(format="yuv420p")
            picture.pts, picture.time_base = index, Fraction(1) / rate
            writer.mux(out.encode(picture))
        writer.mux(out.encode(None))
    return target


@pytest.fixture(scope="session")
def people_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four seconds of people-detection.mp4 (one person walks in): short uploads."""
    source = require_asset("videos/people-detection.mp4")
    return cut_clip(source, tmp_path_factory.mktemp("clips") / "people.mp4", 4.0)


@pytest.fixture(scope="session")
def short_people_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One and a half seconds of people-detection.mp4: an upload that runs in seconds."""
    source = require_asset("videos/people-detection.mp4")
    return cut_clip(source, tmp_path_factory.mktemp("clips") / "short.mp4", 1.5)


@pytest.fixture(scope="session")
def campus_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten seconds of PETS09-S2L1: several people walk in, cross and leave at once."""
    source = require_asset("videos/pets09-s2l1.mp4")
    return cut_clip(source, tmp_path_factory.mktemp("clips") / "campus.mp4", 10.0)
