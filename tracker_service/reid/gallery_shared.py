"""The gallery shared by several nodes: PostgreSQL + pgvector behind `Gallery`'s interface.

Chosen by `gallery.url: postgresql://...`. It behaves as the embedded `Gallery` (the same
contract suite runs on both) but keeps nothing of the identities in memory: every search,
label and merge goes to the database, so what one node writes every node sees at once. Only
the open sightings of this node's tracks are buffered here (per node, as in the embedded
gallery) and written about once a second.

Writers are made safe by the database (see `gallery_pg`), never by a lock in this process:
a resolve that finds no match takes the cluster-wide creation lock and searches again before
it creates an identity, so that two nodes looking at the same new person agree on one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection

import numpy as np

from tracker_service.config import GalleryConfig
from tracker_service.reid.gallery import (
    IdentityRecord,
    Match,
    Resolution,
    admits_exemplar,
    best_matches,
    unit,
)
from tracker_service.reid.gallery_pg import PostgresGalleryStore
from tracker_service.reid.gallery_store import GalleryError, Sighting, StoredIdentity
from tracker_service.reid.identity_gallery import GalleryUnavailableError
from tracker_service.reid.sightings import OpenSighting, SightingBuffer
from tracker_service.types import FloatArray

_MAX_ALIAS_HOPS = 64
MAX_UNWRITTEN_SIGHTINGS = 100_000
logger = logging.getLogger(__name__)


class SharedGallery:
    """Global identities in PostgreSQL; the same interface as `Gallery`."""

    directory = None  # nothing on local disk

    def __init__(self, config: GalleryConfig, dim: int, url: str, embedder_id: str) -> None:
        self.config = config
        self.dim = dim
        self._store = PostgresGalleryStore(url, dim, embedder_id)
        # Guards the in-memory buffer of this node's open sightings only.
        self._buffer_lock = threading.Lock()
        self._open_sightings = SightingBuffer()
        self._ended: list[OpenSighting] = []  # ended tracks whose sighting is not written yet

    def save(self) -> None:
        self.flush()

    def close(self) -> None:
        try:
            self.flush()
        except GalleryUnavailableError as exc:
            logger.error("closing the gallery: sightings not written: %s", exc)
        self._store.close()

    # -- matching -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._store.count_identities()

    @property
    def exemplar_count(self) -> int:
        return self._store.count_exemplars()

    def search(self, vector: FloatArray, k: int = 5, exclude: Collection[int] = ()) -> list[Match]:
        best = self._store.search(unit(vector), exclude)
        return best_matches(best, k)

    def resolve(
        self,
        vector: FloatArray,
        exclude: Collection[int] = (),
        thumbnail: bytes | None = None,
        now: float | None = None,
    ) -> Resolution:
        """The identity `vector` belongs to, created when nothing is similar enough."""
        query = unit(vector)
        now = time.time() if now is None else now
        found = self._match(query, exclude)
        if found is not None:
            return found
        with self._store.transaction():
            # Another node may have created this person since the search: wait for any
            # creation in progress, then look again before creating.
            self._store.lock_creation()
            matches = self.search(query, k=1, exclude=exclude)
            if matches and matches[0].similarity >= self.config.match_threshold:
                self.add_exemplar(matches[0].identity_id, query)
                return Resolution(matches[0].identity_id, matches[0].similarity, created=False)
            identity_id = self._create(query, thumbnail, now)
        return Resolution(identity_id, matches[0].similarity if matches else 0.0, True)

    def create(
        self, vector: FloatArray, thumbnail: bytes | None = None, now: float | None = None
    ) -> int:
        """A new identity with `vector` as its first exemplar (no matching: the caller decided)."""
        query = unit(vector)
        with self._store.transaction():
            return self._create(query, thumbnail, time.time() if now is None else now)

    def _create(self, query: FloatArray, thumbnail: bytes | None, now: float) -> int:
        """Inside a transaction: the identity, its first exemplar and the identity bound
        commit together (a failure leaves no identity without an exemplar)."""
        identity_id = self._store.insert_identity(now, thumbnail)
        self._store.insert_exemplar(identity_id, query, now)
        self._enforce_identity_bound(keep=identity_id)
        return identity_id

    def _match(self, query: FloatArray, exclude: Collection[int]) -> Resolution | None:
        matches = self.search(query, k=1, exclude=exclude)
        if not matches or matches[0].similarity < self.config.match_threshold:
            return None
        best = matches[0]
        with self._store.transaction():
            if not self._store.lock_identity(best.identity_id):
                return None  # deleted by another node since the search
            self.add_exemplar(best.identity_id, query)
        return Resolution(best.identity_id, best.similarity, created=False)

    def add_exemplar(
        self, identity_id: int, vector: FloatArray, min_similarity: float | None = None
    ) -> bool:
        """Keep `vector` as an exemplar if it adds a view the identity does not have yet."""
        query = unit(vector)
        with self._store.transaction():
            exemplars = self._store.lock_identity(identity_id)
            if not exemplars:
                return False
            vectors = [vector for _, vector in exemplars]
            if not admits_exemplar(vectors, query, self.config, min_similarity):
                return False
            self._store.insert_exemplar(identity_id, query, time.time())
            ids = [exemplar_id for exemplar_id, _ in exemplars]
            # Keep the first view (what the identity was created from), drop the oldest of
            # the others.
            for exemplar_id in ids[1 : 1 + max(0, len(ids) + 1 - self.config.max_exemplars)]:
                self._store.delete_exemplar(exemplar_id)
        return True

    def exemplars(self, identity_id: int) -> FloatArray:
        """The identity's exemplar vectors, oldest first (K x dim; empty when it has none or
        is unknown)."""
        vectors = self._store.exemplars_of(identity_id)
        if not vectors:
            return np.zeros((0, self.dim), np.float32)
        return np.stack(vectors).astype(np.float32)

    def _enforce_identity_bound(self, keep: int) -> None:
        excess = self._store.count_identities() - self.config.max_identities
        if excess > 0:
            for identity_id in self._store.oldest_unlabelled(keep, excess):
                self._store.delete_identity(identity_id)

    # -- identity management ------------------------------------------------------------------

    def canonical(self, identity_id: int) -> int | None:
        """The identity an ID now stands for (after merges), or None when it was deleted."""
        aliases = self._store.aliases_from(identity_id, _MAX_ALIAS_HOPS)
        current = aliases[-1] if aliases else identity_id
        return current if self._store.exists(current) else None

    def label(self, identity_id: int) -> str | None:
        return self._store.label(identity_id)

    def set_label(self, identity_id: int, label: str | None) -> None:
        with self._store.transaction():
            self._require_locked(identity_id)
            self._store.set_label(identity_id, label)

    def delete(self, identity_id: int) -> None:
        with self._store.transaction():
            self._require_locked(identity_id)
            self._store.delete_identity(identity_id)
        with self._buffer_lock:
            self._open_sightings.drop_identity(identity_id)

    def merge(self, target_id: int, source_id: int) -> None:
        """Fold `source_id` into `target_id`, all in one transaction."""
        if target_id == source_id:
            raise GalleryError("cannot merge an identity into itself")
        self.flush()
        with self._store.transaction():
            first, second = sorted((target_id, source_id))  # one lock order: no deadlock
            locked = {first: self._require_locked(first), second: self._require_locked(second)}
            self._store.merge_rows(target_id, source_id)
            self._store.delete_identity(source_id)
            self._store.add_alias(source_id, target_id)
            for _, vector in locked[source_id]:
                self.add_exemplar(target_id, vector)
        with self._buffer_lock:
            self._open_sightings.drop_identity(source_id)

    def _require_locked(self, identity_id: int) -> list[tuple[int, FloatArray]]:
        exemplars = self._store.lock_identity(identity_id)
        if not exemplars:
            raise KeyError(identity_id)
        return exemplars

    def _require(self, identity_id: int) -> None:
        if not self._store.exists(identity_id):
            raise KeyError(identity_id)

    # -- sightings ----------------------------------------------------------------------------

    def record_sighting(
        self, identity_id: int, source: str, track_id: int, media_s: float, now: float
    ) -> None:
        """Note that `identity_id` is in view on `source` (kept in memory until `flush`)."""
        with self._buffer_lock:
            self._open_sightings.record(identity_id, source, track_id, media_s, now)

    def end_sighting(self, identity_id: int, source: str, track_id: int) -> None:
        """The track is gone: write its sighting (at the next flush if the database is away:
        nothing is dropped)."""
        with self._buffer_lock:
            sighting = self._open_sightings.pop(identity_id, source, track_id)
            if sighting is not None:
                self._ended.append(sighting)
            if len(self._ended) > MAX_UNWRITTEN_SIGHTINGS:  # a long outage: bounded anyway
                del self._ended[0]
                logger.warning("gallery database away: an ended sighting was dropped")
        self.flush()

    def flush(self) -> None:
        """Write every changed sighting (and identities' first/last seen) to the database;
        `GalleryUnavailableError` keeps them for the next flush."""
        with self._buffer_lock:
            # One lock order for every node (identity rows updated in ascending id): two
            # nodes flushing the same identities at once must not deadlock each other.
            pending = sorted(
                [*self._ended, *self._open_sightings.dirty()],
                key=lambda s: (s.identity_id, s.source, s.track_id),
            )
            if not pending:
                return
            rows = []
            with self._store.transaction():
                for sighting in pending:
                    rows.append(self._store.write_sighting(sighting))
            # Committed: only now are they clean.
            for sighting, row_id in zip(pending, rows, strict=True):
                sighting.row_id, sighting.dirty = row_id, False
            self._ended.clear()

    @property
    def offline_reason(self) -> str | None:
        """Why the database cannot be reached now, or None."""
        return self._store.offline_reason

    # -- reading ------------------------------------------------------------------------------

    def identity(self, identity_id: int) -> IdentityRecord:
        self.flush()
        return self._record(self._store.identity(identity_id))

    def identities(self, offset: int = 0, limit: int = 50) -> tuple[list[IdentityRecord], int]:
        self.flush()
        stored, total = self._store.identities(offset, limit)
        return [self._record(row) for row in stored], total

    def _record(self, stored: StoredIdentity) -> IdentityRecord:
        return IdentityRecord.of(stored, self._store.count_exemplars(stored.identity_id))

    def sightings(self, identity_id: int, limit: int = 20) -> list[Sighting]:
        self._require(identity_id)
        self.flush()
        return self._store.sightings(identity_id, limit)

    def thumbnail(self, identity_id: int) -> bytes | None:
        self._require(identity_id)
        return self._store.thumbnail(identity_id)
