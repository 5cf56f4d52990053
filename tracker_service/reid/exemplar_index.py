"""The gallery's search structure: every identity's exemplar embeddings in one FAISS index.

Exemplars are unit vectors, so inner product is cosine similarity. The index is derived data:
the store (`gallery_store`) is the source of truth, the index is rebuilt from it on open, and
saved beside it (`index.faiss`, written to a temp file and renamed) for a faster start; a
stale or missing index file is rebuilt. Not thread-safe: the `Gallery` facade holds the lock.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from tracker_service.types import FloatArray

INDEX_NAME = "index.faiss"
SEARCH_DEPTH = 256


@dataclass(slots=True)
class _Exemplars:
    ids: list[int] = field(default_factory=list)
    vectors: list[FloatArray] = field(default_factory=list)


class ExemplarIndex:
    """Exemplar vectors by identity, searchable by similarity; also the set of identities."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        # Typed loosely: faiss's generated stubs do not describe its numpy-friendly wrappers
        # (add_with_ids, search and remove_ids accept arrays at run time).
        self._faiss: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._owner: dict[int, int] = {}
        self._groups: dict[int, _Exemplars] = {}

    # -- identities ----------------------------------------------------------------------------

    def __len__(self) -> int:
        """How many identities (with or without exemplars)."""
        return len(self._groups)

    def __contains__(self, identity_id: object) -> bool:
        return identity_id in self._groups

    def add_identity(self, identity_id: int) -> None:
        self._groups[identity_id] = _Exemplars()

    def drop_identity(self, identity_id: int) -> None:
        """Forget an identity whose exemplars were all removed."""
        del self._groups[identity_id]

    def exemplar_ids(self, identity_id: int) -> list[int]:
        return self._groups[identity_id].ids

    def vectors(self, identity_id: int) -> list[FloatArray] | None:
        group = self._groups.get(identity_id)
        return None if group is None else group.vectors

    # -- exemplars -----------------------------------------------------------------------------

    @property
    def exemplar_count(self) -> int:
        return int(self._faiss.ntotal)

    def add(self, identity_id: int, exemplar_id: int, unit: FloatArray) -> None:
        self._faiss.add_with_ids(unit.reshape(1, -1), np.array([exemplar_id], np.int64))
        self._remember(identity_id, exemplar_id, unit)

    def remove(self, identity_id: int, exemplar_id: int) -> None:
        self._faiss.remove_ids(np.array([exemplar_id], np.int64))
        group = self._groups[identity_id]
        position = group.ids.index(exemplar_id)
        del group.ids[position]
        del group.vectors[position]
        del self._owner[exemplar_id]

    def _remember(self, identity_id: int, exemplar_id: int, unit: FloatArray) -> None:
        self._groups[identity_id].ids.append(exemplar_id)
        self._groups[identity_id].vectors.append(unit)
        self._owner[exemplar_id] = identity_id

    def search(self, query: FloatArray, exclude: Collection[int] = ()) -> dict[int, float]:
        """Each identity's best similarity to `query` (1, D), best first, among the nearest
        `SEARCH_DEPTH` exemplars; identities in `exclude` are skipped."""
        if self._faiss.ntotal == 0:
            return {}
        depth = min(int(self._faiss.ntotal), SEARCH_DEPTH)
        similarities, ids = self._faiss.search(query, depth)
        best: dict[int, float] = {}
        for similarity, exemplar_id in zip(similarities[0], ids[0], strict=True):
            owner = self._owner.get(int(exemplar_id))
            if owner is None or owner in exclude or owner in best:
                continue
            best[owner] = float(similarity)
        return best

    # -- persistence ---------------------------------------------------------------------------

    def restore(
        self,
        identity_ids: Iterable[int],
        exemplars: list[tuple[int, int, FloatArray]],
        directory: Path | None,
    ) -> None:
        """Fill from the store's rows: (exemplar id, identity id, vector), by exemplar id.
        The index file in `directory` is used when it matches them, else the index is
        rebuilt."""
        for identity_id in identity_ids:
            self.add_identity(identity_id)
        for exemplar_id, identity_id, vector in exemplars:
            self._remember(identity_id, exemplar_id, vector)
        if not self._load_file(directory, len(exemplars)):
            self._rebuild()

    def _load_file(self, directory: Path | None, expected: int) -> bool:
        if directory is None or not (directory / INDEX_NAME).is_file():
            return False
        try:
            index: Any = faiss.read_index(str(directory / INDEX_NAME))
        except RuntimeError:
            return False
        stored_ids = set(faiss.vector_to_array(index.id_map).tolist()) if expected else set()
        if index.ntotal != expected or index.d != self.dim or stored_ids != set(self._owner):
            return False
        self._faiss = index
        return True

    def _rebuild(self) -> None:
        self._faiss.reset()
        for group in self._groups.values():
            if group.ids:
                self._faiss.add_with_ids(np.stack(group.vectors), np.array(group.ids, np.int64))

    def save(self, directory: Path) -> None:
        """Write the index file atomically (temp file, then rename)."""
        target = directory / INDEX_NAME
        partial = target.with_suffix(".faiss.partial")
        faiss.write_index(self._faiss, str(partial))
        os.replace(partial, target)
