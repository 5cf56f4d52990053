"""The PostgreSQL gallery as several nodes use it: concurrent nodes, a node killed in a merge,
the database away at start-up and mid-run (real PostgreSQL servers on 127.0.0.1)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import psycopg
import pytest

from tests.cluster.servers import PostgresServer, free_port
from tests.pipeline.test_identities import DIM as DIM_BOOK
from tests.pipeline.test_identities import Stream, snapshot
from tracker_service.config import GalleryConfig
from tracker_service.postgres import DatabaseUnavailableError
from tracker_service.reid.gallery_shared import SharedGallery
from tracker_service.reid.identity_gallery import GalleryUnavailableError

pytestmark = pytest.mark.cluster

DIM = 64
EMBEDDER = "test-embedder:0123"
PEOPLE = np.eye(DIM, dtype=np.float32)[:5]


def node(url: str) -> SharedGallery:
    return SharedGallery(GalleryConfig(), DIM, url, EMBEDDER)


def test_two_nodes_seeing_the_same_people_at_once_agree_on_their_identities(
    postgres: PostgresServer,
) -> None:
    url = postgres.fresh_database()
    nodes = [node(url), node(url)]
    seen: dict[int, set[int]] = {p: set() for p in range(len(PEOPLE))}
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def camera(gallery: SharedGallery, seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            start.wait()
            for step in range(25):
                person = int(rng.integers(0, len(PEOPLE)))
                sample = PEOPLE[person] + 0.02 * rng.normal(size=DIM).astype(np.float32)
                identity = gallery.resolve(sample).identity_id
                gallery.record_sighting(identity, f"cam-{seed}", person, step, step)
                with lock:
                    seen[person].add(identity)
            gallery.flush()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=camera, args=(nodes[seed % 2], seed)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert all(len(ids) == 1 for ids in seen.values()), seen
    for gallery in nodes:
        records, total = gallery.identities(limit=10)
        assert total == len(PEOPLE)
        assert set().union(*(r.sources for r in records)) == {f"cam-{s}" for s in range(6)}
        gallery.close()


_MERGE = """
import sys
import numpy as np
from tracker_service.config import GalleryConfig
from tracker_service.reid.gallery_shared import SharedGallery
gallery = SharedGallery(GalleryConfig(), 64, sys.argv[1], "test-embedder:0123")
print("merging", flush=True)
gallery.merge(int(sys.argv[2]), int(sys.argv[3]))
print("merged", flush=True)
"""


def test_a_node_killed_during_a_merge_leaves_it_undone(postgres: PostgresServer) -> None:
    url = postgres.fresh_database()
    gallery = node(url)
    target = gallery.resolve(PEOPLE[0], now=1.0).identity_id
    source = gallery.resolve(PEOPLE[1], now=2.0).identity_id
    gallery.set_label(source, "bob")
    gallery.record_sighting(source, "door", 7, 1.0, 2.0)
    gallery.end_sighting(source, "door", 7)
    with psycopg.connect(url) as blocker:
        # An uncommitted alias for `source`: the merge's own alias insert waits on it, after it
        # has moved the sightings and deleted the source inside its transaction.
        blocker.execute("INSERT INTO gallery_aliases VALUES (%s, %s)", (source, 999))
        merging = subprocess.Popen(
            [sys.executable, "-c", _MERGE, url, str(target), str(source)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert merging.stdout is not None and merging.stdout.readline().strip() == "merging"
        deadline = time.monotonic() + 30
        while not _waiting_on_a_lock(url):
            assert time.monotonic() < deadline, "the merge never reached its alias insert"
            time.sleep(0.1)
        merging.kill()  # kill -9, mid-transaction
        merging.wait(10)
        blocker.rollback()
    assert gallery.canonical(source) == source  # nothing of the merge is left
    assert gallery.label(source) == "bob" and gallery.label(target) is None
    assert [s.source for s in gallery.sightings(source)] == ["door"]
    assert gallery.identity(source).exemplars == 1 and gallery.identity(target).exemplars == 1
    gallery.merge(target, source)  # and it can be done again, whole
    assert gallery.canonical(source) == target and gallery.label(target) == "bob"
    gallery.close()


def _waiting_on_a_lock(url: str) -> bool:
    with psycopg.connect(url) as db:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'INSERT INTO gallery_aliases%%'"
        ).fetchone()
    return bool(row and row[0])


def test_an_unreachable_database_at_start_up_says_so_without_the_password() -> None:
    url = f"postgresql://tracker:s3cret-password@127.0.0.1:{free_port()}/tracker"
    with pytest.raises(DatabaseUnavailableError) as error:
        node(url)
    message = str(error.value)
    assert "cannot be reached" in message and "127.0.0.1" in message
    assert "s3cret-password" not in message


def test_the_database_away_mid_run_then_back(postgres: PostgresServer) -> None:
    url = postgres.fresh_database()
    gallery = node(url)
    alice = gallery.resolve(PEOPLE[0], now=1.0).identity_id
    gallery.record_sighting(alice, "door", 1, 0.0, 1.0)
    postgres.stop()
    try:
        started = time.monotonic()
        with pytest.raises(GalleryUnavailableError, match="unreachable"):
            gallery.resolve(PEOPLE[1])
        # The track ends while the database is away: its sighting waits in memory.
        gallery.record_sighting(alice, "door", 1, 3.0, 4.0)
        with pytest.raises(GalleryUnavailableError):
            gallery.end_sighting(alice, "door", 1)
        with pytest.raises(GalleryUnavailableError):  # at once now, not after a timeout
            gallery.flush()
        assert time.monotonic() - started < 15
        assert gallery.offline_reason is not None
    finally:
        postgres.start()
    deadline = time.monotonic() + 30
    while True:  # the pool reconnects by itself once the retry pause is over
        try:
            gallery.flush()
            break
        except GalleryUnavailableError:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    assert gallery.offline_reason is None
    assert [(s.first_seen, s.last_seen) for s in gallery.sightings(alice)] == [(1.0, 4.0)]
    assert gallery.resolve(PEOPLE[1]).created
    gallery.close()


def test_tracking_goes_on_while_the_database_is_away(postgres: PostgresServer) -> None:
    """The identity book on the shared gallery: a failed gallery call leaves the track as it
    was (a new track unresolved), says why, and is tried again once the database is back."""
    gallery = SharedGallery(GalleryConfig(), DIM_BOOK, postgres.fresh_database(), EMBEDDER)
    stream = Stream(gallery=gallery)
    stream.embed(1, person=0)
    stream.frame(snapshot(1))
    alice = stream.book.identity_of(1)
    assert alice is not None and stream.book.gallery_error is None
    postgres.stop()
    try:
        stream.embed(1, person=0)  # a fresh view to learn from: the call fails, no matter
        stream.embed(2, person=1)
        stream.frame(snapshot(1), snapshot(2))
        assert stream.book.identity_of(1) == alice  # kept, though canonical() failed
        assert stream.book.identity_of(2) is None  # unresolved: nothing to resolve against
        assert "unreachable" in (stream.book.gallery_error or "")
        assert stream.end(1) == [alice]  # its sighting waits in memory
    finally:
        postgres.start()
    deadline = time.monotonic() + 30
    while stream.book.identity_of(2) is None:  # resolved once the retry pause is over
        assert time.monotonic() < deadline
        time.sleep(0.5)
        stream.frame(snapshot(2))
    bob = stream.book.identity_of(2)
    assert bob not in (None, alice) and stream.book.gallery_error is None
    stream.book.close()
    assert [(s.source, s.track_id) for s in gallery.sightings(alice)] == [("cam", 1)]
    assert [(s.source, s.track_id) for s in gallery.sightings(bob)] == [("cam", 2)]
    gallery.close()
