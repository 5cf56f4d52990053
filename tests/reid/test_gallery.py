"""The identity gallery's contract: matching, exemplars, identity management, persistence
and threads, run against both backends (`embedded`: SQLite + FAISS; `postgres`: PostgreSQL +
pgvector on a real server, marker `cluster`), then what only the embedded one has (its files).
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.cluster.servers import PostgresServer
from tracker_service.config import GalleryConfig
from tracker_service.reid.gallery import DB_NAME, INDEX_NAME, Gallery, GalleryError, Sighting
from tracker_service.reid.gallery_shared import SharedGallery
from tracker_service.reid.identity_gallery import IdentityGallery

DIM = 8
EMBEDDER = "test-embedder:0123"
BASIS = np.eye(DIM, dtype=np.float32)


Vector = NDArray[np.float32]
# Opens the gallery of one place (a folder, a database), with config keys and optionally
# another dimension or embedder: opening it again is reopening the same gallery.
Opener = Callable[..., IdentityGallery]


def look(i: int) -> Vector:
    """Person i's appearance: one axis each, so different people have similarity 0."""
    return np.array(BASIS[i], dtype=np.float32)


def near(i: int, similarity: float, towards: int | None = None) -> Vector:
    """A unit vector with the given cosine similarity to `look(i)`."""
    other = BASIS[towards if towards is not None else (i + 1) % DIM]
    mixed = similarity * BASIS[i] + np.sqrt(1 - similarity**2) * other
    return np.asarray(mixed, dtype=np.float32)


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.cluster)])
def open_gallery(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the gallery of this test's place on the backend under test."""
    if request.param == "embedded":

        def embedded(dim: int = DIM, embedder: str = EMBEDDER, **config: Any) -> IdentityGallery:
            return Gallery(GalleryConfig(**config), dim, tmp_path / "gallery", embedder)

        return embedded
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.fresh_database()
    opened: list[SharedGallery] = []

    def shared(dim: int = DIM, embedder: str = EMBEDDER, **config: Any) -> IdentityGallery:
        gallery = SharedGallery(GalleryConfig(**config), dim, url, embedder)
        opened.append(gallery)
        return gallery

    request.addfinalizer(lambda: [gallery.close() for gallery in opened])
    return shared


@pytest.fixture
def gallery(open_gallery: Opener) -> IdentityGallery:
    return open_gallery()


def best_similarity(gallery: IdentityGallery, vector: Vector, identity_id: int) -> float:
    matches = {m.identity_id: m.similarity for m in gallery.search(vector, k=100)}
    return matches.get(identity_id, -1.0)


# --- matching --------------------------------------------------------------------------------


def test_defaults_assumed_below() -> None:
    cfg = GalleryConfig()
    assert (cfg.match_threshold, cfg.exemplar_min_distance, cfg.max_exemplars) == (0.87, 0.05, 8)


def test_an_empty_gallery_creates(gallery: IdentityGallery) -> None:
    assert gallery.search(look(0)) == []
    resolution = gallery.resolve(look(0))
    assert resolution.created and resolution.similarity == 0.0
    assert len(gallery) == 1 and gallery.exemplar_count == 1


def test_above_the_threshold_joins_below_creates(gallery: IdentityGallery) -> None:
    first = gallery.resolve(look(0))
    joined = gallery.resolve(near(0, 0.90))
    assert not joined.created
    assert joined.identity_id == first.identity_id
    assert joined.similarity == pytest.approx(0.90, abs=1e-5)
    # 0.84 to the first view (and about 0.77 to the 0.90 view just added): a new person.
    other = gallery.resolve(near(0, 0.84, towards=2))
    assert other.created and other.identity_id != first.identity_id
    assert len(gallery) == 2


def test_the_threshold_is_inclusive(open_gallery: Opener) -> None:
    gallery = open_gallery(match_threshold=0.5)
    first = gallery.resolve(look(0))
    assert gallery.resolve(near(0, 0.5)).identity_id == first.identity_id


def test_vectors_are_normalised_and_must_be_usable(gallery: IdentityGallery) -> None:
    first = gallery.resolve(np.float32(3.0) * look(0))
    assert gallery.resolve(np.float32(0.5) * look(0)).identity_id == first.identity_id
    for bad in (np.zeros(DIM, np.float32), np.full(DIM, np.nan, np.float32)):
        with pytest.raises(GalleryError, match="finite, non-zero"):
            gallery.resolve(bad)


def test_exclude_keeps_people_in_view_out(gallery: IdentityGallery) -> None:
    a = gallery.resolve(look(0)).identity_id
    b = gallery.resolve(look(1)).identity_id
    # Someone who looks like A while A is in view elsewhere in the frame: not A.
    resolution = gallery.resolve(near(0, 0.95), exclude={a})
    assert resolution.created and resolution.identity_id not in (a, b)
    assert a not in {m.identity_id for m in gallery.search(look(0), exclude={a})}


def test_search_ranks_identities_by_their_best_exemplar(gallery: IdentityGallery) -> None:
    a = gallery.resolve(look(0)).identity_id
    b = gallery.resolve(look(1)).identity_id
    gallery.add_exemplar(a, look(2))  # a second, very different view of A
    query = near(2, 0.9, towards=1)  # close to A's second view, less close to B
    matches = gallery.search(query, k=5)
    assert [m.identity_id for m in matches] == [a, b]
    assert matches[0].similarity == pytest.approx(0.9, abs=1e-5)
    assert len(gallery.search(query, k=1)) == 1


def test_create_makes_an_identity_without_matching(gallery: IdentityGallery) -> None:
    a = gallery.resolve(look(0)).identity_id
    # The caller decided this is someone new, however like A they look (a look-alike).
    b = gallery.create(np.float32(2.0) * look(0), thumbnail=b"jpeg", now=100.0)
    assert b != a and len(gallery) == 2 and gallery.exemplar_count == 2
    assert {m.identity_id for m in gallery.search(look(0), k=5)} == {a, b}
    record = gallery.identity(b)
    assert (record.created_at, record.first_seen, record.has_thumbnail) == (100.0, 100.0, True)
    assert gallery.thumbnail(b) == b"jpeg"
    np.testing.assert_allclose(gallery.exemplars(b), look(0)[None, :], atol=1e-6)
    with pytest.raises(GalleryError, match="finite, non-zero"):
        gallery.create(np.zeros(DIM, np.float32))
    assert len(gallery) == 2


def test_create_keeps_to_the_identity_bound(open_gallery: Opener) -> None:
    gallery = open_gallery(max_identities=2)
    a = gallery.create(look(0), now=1.0)
    b = gallery.create(look(1), now=2.0)
    c = gallery.create(look(2), now=3.0)
    assert len(gallery) == 2
    assert gallery.canonical(a) is None  # unlabelled and seen longest ago
    assert {gallery.canonical(i) for i in (b, c)} == {b, c}


# --- exemplars -------------------------------------------------------------------------------


def test_exemplars_must_add_a_new_view(gallery: IdentityGallery) -> None:
    identity = gallery.resolve(look(0)).identity_id
    # Cosine distance 0.03 < exemplar_min_distance 0.05: nothing new, refused.
    assert not gallery.add_exemplar(identity, near(0, 0.97))
    # Distance 0.1: a new view.
    assert gallery.add_exemplar(identity, near(0, 0.90))
    assert gallery.identity(identity).exemplars == 2
    # A join only adds the vector when it is a new view.
    gallery.resolve(near(0, 0.99))
    assert gallery.identity(identity).exemplars == 2
    assert not gallery.add_exemplar(12345, look(1))  # unknown identity


def test_exemplar_bound_keeps_the_first_view_and_drops_the_oldest_other(
    open_gallery: Opener,
) -> None:
    gallery = open_gallery(max_exemplars=3)
    identity = gallery.resolve(look(0)).identity_id
    for i in (1, 2, 3):
        assert gallery.add_exemplar(identity, look(i))
    assert gallery.identity(identity).exemplars == 3
    assert gallery.exemplar_count == 3
    # Views 0 (the first), 2 and 3 are kept; 1 (the oldest of the others) is gone.
    for i, kept in ((0, True), (1, False), (2, True), (3, True)):
        expected = 1.0 if kept else 0.0
        assert best_similarity(gallery, look(i), identity) == pytest.approx(expected, abs=1e-6)


def test_add_exemplar_can_refuse_a_stranger(gallery: IdentityGallery) -> None:
    identity = gallery.resolve(look(0)).identity_id
    # Only 0.5 like the identity: a sample taken during a crossing, perhaps someone else.
    assert not gallery.add_exemplar(identity, near(0, 0.5), min_similarity=0.87)
    assert gallery.identity(identity).exemplars == 1
    assert gallery.add_exemplar(identity, near(0, 0.9), min_similarity=0.87)
    # Without the condition any new view is taken.
    assert gallery.add_exemplar(identity, near(0, 0.5))
    assert gallery.identity(identity).exemplars == 3


def test_exemplars_are_the_identity_s_views_oldest_first(open_gallery: Opener) -> None:
    gallery = open_gallery(max_exemplars=3)
    identity = gallery.resolve(np.float32(3.0) * look(0)).identity_id
    other = gallery.resolve(look(5)).identity_id
    for i in (1, 2, 3):
        assert gallery.add_exemplar(identity, near(0, 0.5, towards=i))
    views = gallery.exemplars(identity)
    assert views.shape == (3, DIM) and views.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(views, axis=1), 1.0, atol=1e-6)
    # The first view (unit length), then the newest others: the bound dropped the oldest.
    expected = np.stack([look(0), near(0, 0.5, towards=2), near(0, 0.5, towards=3)])
    np.testing.assert_allclose(views, expected, atol=1e-6)
    np.testing.assert_allclose(gallery.exemplars(other), look(5)[None, :], atol=1e-6)
    assert gallery.exemplars(12345).shape == (0, DIM)  # unknown
    gallery.delete(other)
    assert gallery.exemplars(other).shape == (0, DIM)


def test_merge_moves_the_exemplars_themselves(gallery: IdentityGallery) -> None:
    a = gallery.resolve(look(0)).identity_id
    b = gallery.resolve(look(1)).identity_id
    gallery.merge(a, b)
    views = gallery.exemplars(a)
    assert views.shape == (2, DIM)
    assert sorted(np.argmax(views, axis=1).tolist()) == [0, 1]
    assert gallery.exemplars(b).shape == (0, DIM)


# --- identity management ---------------------------------------------------------------------


def test_merge_moves_exemplars_sightings_and_label(gallery: IdentityGallery) -> None:
    a = gallery.resolve(look(0), now=10.0).identity_id
    b = gallery.resolve(look(1), now=20.0).identity_id
    gallery.set_label(b, "bob")
    gallery.record_sighting(b, "cam", 3, media_s=1.0, now=20.0)
    gallery.merge(a, b)
    assert len(gallery) == 1
    assert gallery.canonical(b) == a and gallery.canonical(a) == a
    assert gallery.label(a) == "bob"  # a had none
    assert [m.identity_id for m in gallery.search(look(1))] == [a]
    assert gallery.identity(a).exemplars == 2
    assert [(s.source, s.track_id) for s in gallery.sightings(a)] == [("cam", 3)]
    record = gallery.identity(a)
    assert (record.first_seen, record.last_seen) == (10.0, 20.0)
    with pytest.raises(KeyError):
        gallery.identity(b)


def test_merge_keeps_the_target_label_and_follows_chains(gallery: IdentityGallery) -> None:
    a, b, c = (gallery.resolve(look(i)).identity_id for i in range(3))
    gallery.set_label(a, "alice")
    gallery.set_label(b, "bob")
    gallery.merge(a, b)
    assert gallery.label(a) == "alice"
    gallery.merge(c, a)  # b -> a -> c
    assert gallery.canonical(b) == c and gallery.canonical(a) == c
    assert gallery.label(c) == "alice"
    with pytest.raises(GalleryError, match="into itself"):
        gallery.merge(c, c)
    with pytest.raises(KeyError):
        gallery.merge(c, a)  # a no longer exists


def test_delete(gallery: IdentityGallery) -> None:
    a = gallery.resolve(look(0)).identity_id
    b = gallery.resolve(look(1)).identity_id
    gallery.delete(a)
    assert gallery.canonical(a) is None
    assert len(gallery) == 1 and gallery.exemplar_count == 1
    assert [m.identity_id for m in gallery.search(look(0))] == [b]
    # The person seen again is a new identity.
    assert gallery.resolve(look(0)).identity_id not in (a, b)
    with pytest.raises(KeyError):
        gallery.delete(a)


def test_max_identities_forgets_the_unlabelled_seen_longest_ago(open_gallery: Opener) -> None:
    gallery = open_gallery(max_identities=3)
    a = gallery.resolve(look(0), now=1.0).identity_id
    b = gallery.resolve(look(1), now=2.0).identity_id
    c = gallery.resolve(look(2), now=3.0).identity_id
    gallery.set_label(a, "alice")  # labelled: kept however old
    gallery.record_sighting(b, "cam", 1, media_s=0.0, now=5.0)  # b seen after c
    gallery.flush()
    d = gallery.resolve(look(3), now=6.0).identity_id
    assert len(gallery) == 3
    assert gallery.canonical(c) is None
    assert {gallery.canonical(i) for i in (a, b, d)} == {a, b, d}
    assert [m.identity_id for m in gallery.search(look(2))] != [c]


def test_a_new_identity_survives_the_bound_when_all_others_are_labelled(
    open_gallery: Opener,
) -> None:
    gallery = open_gallery(max_identities=2)
    for i in range(2):
        gallery.set_label(gallery.resolve(look(i), now=float(i)).identity_id, f"person {i}")
    resolution = gallery.resolve(look(2), now=10.0)
    # What resolve returns must exist: the caller records sightings against it.
    assert resolution.created
    assert gallery.canonical(resolution.identity_id) == resolution.identity_id
    assert gallery.resolve(look(2), now=11.0).identity_id == resolution.identity_id
    # The next stranger takes the unlabelled slot.
    newer = gallery.resolve(look(3), now=12.0)
    assert gallery.canonical(newer.identity_id) == newer.identity_id
    assert gallery.canonical(resolution.identity_id) is None
    assert len(gallery) == 3


def test_sightings_are_kept_per_track(gallery: IdentityGallery) -> None:
    identity = gallery.resolve(look(0), now=100.0).identity_id
    gallery.record_sighting(identity, "cam-1", 5, media_s=1.5, now=101.0)
    gallery.record_sighting(identity, "cam-1", 5, media_s=3.0, now=103.0)
    gallery.record_sighting(identity, "cam-2", 9, media_s=0.5, now=104.0)
    gallery.end_sighting(identity, "cam-1", 5)
    assert gallery.sightings(identity) == [
        Sighting("cam-2", 9, 104.0, 104.0, 0.5, 0.5),
        Sighting("cam-1", 5, 101.0, 103.0, 1.5, 3.0),
    ]
    record = gallery.identity(identity)
    assert record.sources == ("cam-1", "cam-2")
    assert (record.first_seen, record.last_seen) == (100.0, 104.0)
    gallery.record_sighting(999, "cam-1", 1, media_s=0.0, now=1.0)  # unknown: ignored


# --- persistence -----------------------------------------------------------------------------


def populate(open_gallery: Opener) -> dict[str, int]:
    gallery = open_gallery()
    ids = {
        "alice": gallery.resolve(look(0), thumbnail=b"jpeg-a", now=100.0).identity_id,
        "bob": gallery.resolve(look(1), now=101.0).identity_id,
        "carol": gallery.resolve(look(2), now=102.0).identity_id,
    }
    gallery.set_label(ids["alice"], "Alice")
    gallery.add_exemplar(ids["alice"], look(3))
    gallery.record_sighting(ids["bob"], "door", 4, media_s=2.0, now=110.0)
    gallery.merge(ids["alice"], ids["carol"])
    gallery.close()
    return ids


def test_save_and_load_round_trip(open_gallery: Opener) -> None:
    ids = populate(open_gallery)
    gallery = open_gallery()
    alice, bob, carol = ids["alice"], ids["bob"], ids["carol"]
    assert len(gallery) == 2
    assert gallery.exemplar_count == 4  # alice: looks 0, 3 and carol's 2; bob: look 1
    assert gallery.label(alice) == "Alice" and gallery.label(bob) is None
    assert gallery.identity(alice).exemplars == 3
    # The vectors themselves, oldest first: looks 0 and 3, then carol's look 2 (the merge).
    assert np.argmax(gallery.exemplars(alice), axis=1).tolist() == [0, 3, 2]
    assert gallery.identity(alice).has_thumbnail and gallery.thumbnail(alice) == b"jpeg-a"
    assert gallery.canonical(carol) == alice  # the alias survived
    assert gallery.sightings(bob) == [Sighting("door", 4, 110.0, 110.0, 2.0, 2.0)]
    for i, owner in ((0, alice), (1, bob), (2, alice), (3, alice)):
        match = gallery.search(look(i), k=1)[0]
        assert match.identity_id == owner and match.similarity == pytest.approx(1.0)
    # New identities continue the numbering instead of reusing an ID.
    assert gallery.resolve(look(5)).identity_id > max(ids.values())


# --- the embedded backend's files --------------------------------------------------------------


def embedded(directory: Path) -> Gallery:
    return Gallery(GalleryConfig(), DIM, directory, EMBEDDER)


def populate_folder(directory: Path) -> dict[str, int]:
    return populate(lambda **_: embedded(directory))


def test_the_embedded_gallery_writes_its_database_and_index(tmp_path: Path) -> None:
    populate_folder(tmp_path)
    assert (tmp_path / DB_NAME).is_file() and (tmp_path / INDEX_NAME).is_file()


def test_a_missing_index_file_is_rebuilt(tmp_path: Path) -> None:
    ids = populate_folder(tmp_path)
    (tmp_path / INDEX_NAME).unlink()
    gallery = embedded(tmp_path)
    assert gallery.exemplar_count == 4
    assert gallery.search(look(1), k=1)[0].identity_id == ids["bob"]
    gallery.close()
    assert (tmp_path / INDEX_NAME).is_file()


def test_a_stale_index_file_is_rebuilt(tmp_path: Path) -> None:
    ids = populate_folder(tmp_path)
    old_index = tmp_path / "old.faiss"
    shutil.copy(tmp_path / INDEX_NAME, old_index)
    gallery = embedded(tmp_path)
    dave = gallery.resolve(look(6)).identity_id
    gallery.close()
    shutil.copy(old_index, tmp_path / INDEX_NAME)  # an index from before dave
    gallery = embedded(tmp_path)
    assert gallery.exemplar_count == 5
    assert gallery.search(look(6), k=1)[0].identity_id == dave
    # Same number of exemplars but different ones (bob deleted, erin added): also stale.
    shutil.copy(tmp_path / INDEX_NAME, old_index)
    gallery.close()
    gallery = embedded(tmp_path)
    gallery.delete(ids["bob"])
    erin = gallery.resolve(look(7)).identity_id
    gallery.close()
    shutil.copy(old_index, tmp_path / INDEX_NAME)
    gallery = embedded(tmp_path)
    assert gallery.exemplar_count == 5
    assert gallery.search(look(7), k=1)[0].identity_id == erin
    assert all(m.identity_id != ids["bob"] for m in gallery.search(look(1)))


def test_a_corrupt_index_file_is_rebuilt(tmp_path: Path) -> None:
    ids = populate_folder(tmp_path)
    (tmp_path / INDEX_NAME).write_bytes(b"not a faiss index")
    gallery = embedded(tmp_path)
    assert gallery.search(look(1), k=1)[0].identity_id == ids["bob"]


def test_committed_changes_survive_without_close(open_gallery: Opener) -> None:
    gallery = open_gallery()
    identity = gallery.resolve(look(0)).identity_id
    gallery.set_label(identity, "kept")
    del gallery  # no close(): the database already has it
    reopened = open_gallery()
    assert reopened.label(identity) == "kept"
    assert reopened.search(look(0), k=1)[0].identity_id == identity


def test_a_different_dimension_is_refused(open_gallery: Opener) -> None:
    populate(open_gallery)
    with pytest.raises(GalleryError, match=r"8-d.*16-d"):
        open_gallery(dim=16)


def test_a_different_embedder_is_refused(open_gallery: Opener) -> None:
    populate(open_gallery)
    with pytest.raises(GalleryError) as error:
        open_gallery(embedder="other-model:ffff")
    message = str(error.value)
    assert "test-embedder:0123" in message and "other-model:ffff" in message
    assert "not comparable" in message


def test_an_unusable_database_is_a_gallery_error(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not an sqlite database" * 100)
    with pytest.raises(GalleryError, match="cannot be used"):
        embedded(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(GalleryError, match="cannot create gallery folder"):
        embedded(blocker / "gallery")


def test_the_database_is_the_source_of_truth(tmp_path: Path) -> None:
    ids = populate_folder(tmp_path)
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        count = db.execute("SELECT COUNT(*) FROM exemplars").fetchone()[0]
        owners = {row[0] for row in db.execute("SELECT identity_id FROM exemplars")}
    assert count == 4
    assert owners == {ids["alice"], ids["bob"]}


# --- threads ---------------------------------------------------------------------------------


def test_concurrent_resolves_create_one_identity_per_person(open_gallery: Opener) -> None:
    gallery = open_gallery(dim=64)
    people = np.eye(64, dtype=np.float32)[:5]
    errors: list[BaseException] = []
    results: dict[int, set[int]] = {p: set() for p in range(5)}
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            start.wait()
            for step in range(40):
                person = int(rng.integers(0, 5))
                sample = people[person] + 0.02 * rng.normal(size=64).astype(np.float32)
                resolution = gallery.resolve(sample)
                gallery.record_sighting(resolution.identity_id, f"cam-{seed}", person, step, step)
                if step % 10 == 0:
                    gallery.flush()
                    gallery.search(sample, k=3)
                with lock:
                    results[person].add(resolution.identity_id)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert all(len(ids) == 1 for ids in results.values()), results
    assert len(gallery) == 5
    records, total = gallery.identities(limit=10)
    assert total == 5
    assert sum(r.exemplars for r in records) == gallery.exemplar_count
    assert set().union(*(r.sources for r in records)) == {f"cam-{seed}" for seed in range(8)}
    gallery.close()
