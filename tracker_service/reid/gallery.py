"""The identity gallery: global identities shared by every stream, searchable with FAISS.

Each identity keeps a bounded set of exemplar embeddings (unit vectors). A track's embedding
is matched by inner product (= cosine similarity) against every exemplar; the best identity
above `match_threshold` is taken, otherwise a new identity is created.

`Gallery` is the one interface the rest of the service uses. Behind it: the exemplar
policy, labels and merges (here), `exemplar_index` (FAISS search, rebuilt from the store on
open and saved beside it), `gallery_store` (the durable source of truth: SQLite by default,
the `GalleryStore` interface for other backends) and `sightings` (buffered in memory,
written in batches). Thread-safe: one lock guards all of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracker_service.config import GalleryConfig
from tracker_service.reid.exemplar_index import INDEX_NAME, SEARCH_DEPTH, ExemplarIndex
from tracker_service.reid.gallery_store import (
    DB_NAME,
    MAX_SIGHTINGS_PER_IDENTITY,
    GalleryError,
    GalleryStore,
    Sighting,
    SqliteGalleryStore,
    StoredIdentity,
)
from tracker_service.reid.sightings import OpenSighting, SightingBuffer
from tracker_service.types import FloatArray

__all__ = [
    "DB_NAME",
    "INDEX_NAME",
    "MAX_SIGHTINGS_PER_IDENTITY",
    "SEARCH_DEPTH",
    "Gallery",
    "GalleryError",
    "IdentityRecord",
    "Match",
    "Resolution",
    "Sighting",
]


@dataclass(frozen=True, slots=True)
class Match:
    identity_id: int
    similarity: float


def best_matches(best: Mapping[int, float], k: int) -> list[Match]:
    """The `k` most similar identities of a {identity: similarity} map, best first."""
    ranked = sorted(best.items(), key=lambda item: -item[1])[:k]
    return [Match(identity_id, similarity) for identity_id, similarity in ranked]


@dataclass(frozen=True, slots=True)
class Resolution:
    identity_id: int
    similarity: float
    created: bool


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    identity_id: int
    label: str | None
    created_at: float
    first_seen: float
    last_seen: float
    exemplars: int
    sources: tuple[str, ...]
    has_thumbnail: bool

    @classmethod
    def of(cls, stored: StoredIdentity, exemplars: int) -> IdentityRecord:
        return cls(
            identity_id=stored.identity_id,
            label=stored.label,
            created_at=stored.created_at,
            first_seen=stored.first_seen,
            last_seen=stored.last_seen,
            exemplars=exemplars,
            sources=stored.sources,
            has_thumbnail=stored.has_thumbnail,
        )


def unit(vector: FloatArray) -> FloatArray:
    """`vector` scaled to length 1 (float32, flat); a GalleryError when that is impossible."""
    flat = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(flat))
    if not np.isfinite(norm) or norm == 0.0:
        raise GalleryError("embedding must be a finite, non-zero vector")
    result: FloatArray = flat / norm
    return result


def admits_exemplar(
    vectors: list[FloatArray],
    query: FloatArray,
    config: GalleryConfig,
    min_similarity: float | None,
) -> bool:
    """Whether unit vector `query` adds a view to an identity's exemplar `vectors`: not a
    near copy of one (`exemplar_min_distance`), and, with `min_similarity`, like them enough
    (a sample taken during a crossing must not teach the identity a stranger)."""
    if not vectors:
        return True
    closest = float(np.max(np.stack(vectors) @ query))
    if closest > 1.0 - config.exemplar_min_distance:
        return False
    return min_similarity is None or closest >= min_similarity


class Gallery:
    """Global identities with exemplars; one instance is shared by all streams."""

    def __init__(
        self,
        config: GalleryConfig,
        dim: int,
        directory: Path | None = None,
        embedder_id: str = "unknown",
    ) -> None:
        self.config = config
        self.dim = dim
        self.directory = directory
        self._lock = threading.RLock()
        self._store: GalleryStore = SqliteGalleryStore(directory, dim, embedder_id)
        self._index = ExemplarIndex(dim)
        self._labels: dict[int, str | None] = {}
        self._aliases: dict[int, int] = {}
        self._open_sightings = SightingBuffer()
        self._load()

    # -- opening and persistence ------------------------------------------------------------

    def _load(self) -> None:
        labels = self._store.labels()
        self._labels = dict(labels)
        exemplars = self._store.exemplars()
        self._aliases = self._store.aliases()
        self._index.restore((identity_id for identity_id, _ in labels), exemplars, self.directory)

    def save(self) -> None:
        """Flush sightings and write the FAISS index file atomically."""
        with self._lock:
            self.flush()
            if self.directory is not None:
                self._index.save(self.directory)

    def close(self) -> None:
        with self._lock:
            self.save()
            self._store.close()

    # -- matching -----------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    @property
    def exemplar_count(self) -> int:
        with self._lock:
            return self._index.exemplar_count

    def search(self, vector: FloatArray, k: int = 5, exclude: Collection[int] = ()) -> list[Match]:
        """The best `k` identities for `vector`, by their best exemplar's similarity."""
        query = unit(vector).reshape(1, -1)
        with self._lock:
            best = self._index.search(query, exclude)
        return best_matches(best, k)

    def resolve(
        self,
        vector: FloatArray,
        exclude: Collection[int] = (),
        thumbnail: bytes | None = None,
        now: float | None = None,
    ) -> Resolution:
        """The identity `vector` belongs to, created when nothing is similar enough.

        `exclude` lists identities that cannot be this person (others in view right now).
        """
        query = unit(vector)
        now = time.time() if now is None else now
        with self._lock:
            matches = self.search(query, k=1, exclude=exclude)
            if matches and matches[0].similarity >= self.config.match_threshold:
                best = matches[0]
                self.add_exemplar(best.identity_id, query)
                return Resolution(best.identity_id, best.similarity, created=False)
            identity_id = self._create(query, thumbnail, now)
            return Resolution(identity_id, matches[0].similarity if matches else 0.0, True)

    def add_exemplar(
        self, identity_id: int, vector: FloatArray, min_similarity: float | None = None
    ) -> bool:
        """Keep `vector` as an exemplar if it adds a view the identity does not have yet.

        With `min_similarity`, a vector that does not look enough like the identity already
        is refused: a sample taken during a crossing must not teach the identity a stranger.
        """
        query = unit(vector)
        with self._lock:
            vectors = self._index.vectors(identity_id)
            if vectors is None or not admits_exemplar(vectors, query, self.config, min_similarity):
                return False
            with self._store.transaction():
                self._insert_exemplar(identity_id, query, time.time())
                ids = self._index.exemplar_ids(identity_id)
                while len(ids) > self.config.max_exemplars:
                    # Keep the first view (what the identity was created from), drop the
                    # oldest of the others.
                    self._delete_exemplar(identity_id, ids[1])
            return True

    def exemplars(self, identity_id: int) -> FloatArray:
        """The identity's exemplar vectors (K x dim; empty when it has none or is unknown)."""
        with self._lock:
            vectors = self._index.vectors(identity_id)
            if not vectors:
                return np.zeros((0, self.dim), np.float32)
            return np.stack(vectors).astype(np.float32)

    def create(
        self, vector: FloatArray, thumbnail: bytes | None = None, now: float | None = None
    ) -> int:
        """A new identity with `vector` as its first exemplar (no matching: the caller decided)."""
        with self._lock:
            return self._create(unit(vector), thumbnail, time.time() if now is None else now)

    def _create(self, query: FloatArray, thumbnail: bytes | None, now: float) -> int:
        with self._store.transaction():
            identity_id = self._store.insert_identity(now, thumbnail)
            self._index.add_identity(identity_id)
            self._labels[identity_id] = None
            self._insert_exemplar(identity_id, query, now)
            self._enforce_identity_bound(keep=identity_id)
        return identity_id

    def _insert_exemplar(self, identity_id: int, unit: FloatArray, now: float) -> None:
        exemplar_id = self._store.insert_exemplar(identity_id, unit, now)
        self._index.add(identity_id, exemplar_id, unit)

    def _delete_exemplar(self, identity_id: int, exemplar_id: int) -> None:
        self._store.delete_exemplar(exemplar_id)
        self._index.remove(identity_id, exemplar_id)

    def _enforce_identity_bound(self, keep: int) -> None:
        excess = len(self._index) - self.config.max_identities
        if excess <= 0:
            return
        # Forget the identities seen longest ago that nobody has labelled; never `keep`, the
        # identity just created, which the caller is about to use.
        for identity_id in self._store.oldest_unlabelled(keep, excess):
            self._forget(identity_id)

    # -- identity management ------------------------------------------------------------------

    def canonical(self, identity_id: int) -> int | None:
        """The identity an ID now stands for (after merges), or None when it was deleted."""
        with self._lock:
            seen = set()
            while identity_id in self._aliases and identity_id not in seen:
                seen.add(identity_id)
                identity_id = self._aliases[identity_id]
            return identity_id if identity_id in self._index else None

    def label(self, identity_id: int) -> str | None:
        with self._lock:
            return self._labels.get(identity_id)

    def set_label(self, identity_id: int, label: str | None) -> None:
        with self._lock:
            self._require(identity_id)
            with self._store.transaction():
                self._store.set_label(identity_id, label)
            self._labels[identity_id] = label

    def delete(self, identity_id: int) -> None:
        with self._lock:
            self._require(identity_id)
            with self._store.transaction():
                self._forget(identity_id)

    def merge(self, target_id: int, source_id: int) -> None:
        """Fold `source_id` into `target_id`: exemplars, sightings and (if unset) the label."""
        if target_id == source_id:
            raise GalleryError("cannot merge an identity into itself")
        with self._lock:
            self._require(target_id)
            self._require(source_id)
            self.flush()
            source_vectors = list(self._index.vectors(source_id) or ())
            with self._store.transaction():
                label = self._store.merge_rows(target_id, source_id)
                self._forget(source_id)  # its open sightings too
                self._store.add_alias(source_id, target_id)
            self._labels[target_id] = label
            self._aliases[source_id] = target_id
            for vector in source_vectors:
                self.add_exemplar(target_id, vector)

    def _forget(self, identity_id: int) -> None:
        for exemplar_id in list(self._index.exemplar_ids(identity_id)):
            self._delete_exemplar(identity_id, exemplar_id)
        self._store.delete_identity(identity_id)
        self._index.drop_identity(identity_id)
        self._labels.pop(identity_id, None)
        self._open_sightings.drop_identity(identity_id)

    def _require(self, identity_id: int) -> None:
        if identity_id not in self._index:
            raise KeyError(identity_id)

    # -- sightings ----------------------------------------------------------------------------

    def record_sighting(
        self, identity_id: int, source: str, track_id: int, media_s: float, now: float
    ) -> None:
        """Note that `identity_id` is in view on `source` (kept in memory until `flush`)."""
        with self._lock:
            if identity_id in self._index:
                self._open_sightings.record(identity_id, source, track_id, media_s, now)

    def end_sighting(self, identity_id: int, source: str, track_id: int) -> None:
        """The track is gone: write its sighting and stop keeping it in memory."""
        with self._lock:
            sighting = self._open_sightings.pop(identity_id, source, track_id)
            if sighting is not None and identity_id in self._index:
                with self._store.transaction():
                    self._write_sighting(sighting)

    def flush(self) -> None:
        """Write every changed sighting (and identities' first/last seen) to the database."""
        with self._lock:
            dirty = self._open_sightings.dirty()
            if not dirty:
                return
            with self._store.transaction():
                for sighting in dirty:
                    self._write_sighting(sighting)

    def _write_sighting(self, sighting: OpenSighting) -> None:
        sighting.row_id = self._store.write_sighting(sighting)
        sighting.dirty = False

    # -- reading ------------------------------------------------------------------------------

    def identity(self, identity_id: int) -> IdentityRecord:
        with self._lock:
            self._require(identity_id)
            self.flush()
            return self._record(self._store.identity(identity_id))

    def identities(self, offset: int = 0, limit: int = 50) -> tuple[list[IdentityRecord], int]:
        """A page of identities, most recently seen first, and the total count."""
        with self._lock:
            self.flush()
            stored, total = self._store.identities(offset, limit)
            return [self._record(row) for row in stored], total

    def _record(self, stored: StoredIdentity) -> IdentityRecord:
        return IdentityRecord.of(stored, len(self._index.exemplar_ids(stored.identity_id)))

    def sightings(self, identity_id: int, limit: int = 20) -> list[Sighting]:
        with self._lock:
            self._require(identity_id)
            self.flush()
            return self._store.sightings(identity_id, limit)

    def thumbnail(self, identity_id: int) -> bytes | None:
        with self._lock:
            self._require(identity_id)
            return self._store.thumbnail(identity_id)
