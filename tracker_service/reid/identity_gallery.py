"""What the service needs of a gallery, whichever backend holds it.

`Gallery` (embedded: SQLite + FAISS in this process, the default) and `SharedGallery`
(PostgreSQL + pgvector, shared by every node; `gallery.url`) both implement it, and one
contract suite (tests/reid/test_gallery.py) runs against both.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Protocol

from tracker_service.config import GalleryConfig
from tracker_service.reid.gallery import IdentityRecord, Match, Resolution
from tracker_service.reid.gallery_store import GalleryError, Sighting
from tracker_service.types import FloatArray


class GalleryUnavailableError(GalleryError):
    """The gallery's database cannot be reached now; the operation can be tried again later
    (tracking goes on, identities are resolved once it is back)."""


class IdentityGallery(Protocol):
    """Global identities with exemplars, labels, merges and sightings; thread-safe."""

    config: GalleryConfig
    dim: int

    @property
    def directory(self) -> Path | None: ...
    @property
    def exemplar_count(self) -> int: ...
    def __len__(self) -> int: ...
    def save(self) -> None: ...
    def close(self) -> None: ...

    def search(
        self, vector: FloatArray, k: int = 5, exclude: Collection[int] = ()
    ) -> list[Match]: ...
    def resolve(
        self,
        vector: FloatArray,
        exclude: Collection[int] = (),
        thumbnail: bytes | None = None,
        now: float | None = None,
    ) -> Resolution: ...
    def add_exemplar(
        self, identity_id: int, vector: FloatArray, min_similarity: float | None = None
    ) -> bool: ...

    def canonical(self, identity_id: int) -> int | None: ...
    def label(self, identity_id: int) -> str | None: ...
    def set_label(self, identity_id: int, label: str | None) -> None: ...
    def delete(self, identity_id: int) -> None: ...
    def merge(self, target_id: int, source_id: int) -> None: ...

    def record_sighting(
        self, identity_id: int, source: str, track_id: int, media_s: float, now: float
    ) -> None: ...
    def end_sighting(self, identity_id: int, source: str, track_id: int) -> None: ...
    def flush(self) -> None: ...

    def identity(self, identity_id: int) -> IdentityRecord: ...
    def identities(self, offset: int = 0, limit: int = 50) -> tuple[list[IdentityRecord], int]: ...
    def sightings(self, identity_id: int, limit: int = 20) -> list[Sighting]: ...
    def thumbnail(self, identity_id: int) -> bytes | None: ...
