"""Gallery at scale: resolve latency, recall@1 and memory, embedded (FAISS) against PostgreSQL
+ pgvector (HNSW), side by side in one run.

Synthetic but shaped like re-ID: 512-d unit vectors, identities with up to 8 exemplars each
(a noisy view of the identity's centre, cosine about 0.96 to it), centres grouped in
64 look-alike clusters (so that neighbours are close, as people in similar clothes are). Per
size and backend: the gallery is bulk-loaded (SQLite rows + FAISS, or PostgreSQL COPY then the
HNSW index built), then the same queries (a new view of a known identity each) are
- searched (k=1): recall@1 = the identity found is the one the view came from;
- resolved (search + exemplar insert or identity creation, one transaction): latency.
Memory: the embedded gallery's growth of this process's RSS when it opens (the FAISS index and
the exemplar copies it keeps); PostgreSQL's table + HNSW index size (what its buffers hold to
search without disk reads).

    uv run python benchmarks/gallery_scale.py --sizes 10000 100000 1000000

PostgreSQL is a throwaway server started on 127.0.0.1 (the pgserver wheel, as the tests do),
or `--postgres-url`.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    RESULTS_FILE,
    command_line,
    machine_lines,
    markdown_table,
    write_section,
)
from tracker_service.config import GalleryConfig
from tracker_service.reid.gallery import DB_NAME, Gallery
from tracker_service.reid.gallery_shared import SharedGallery

SECTION = "gallery_scale"
DIM = 512
PER_IDENTITY = 8
CLUSTERS = 64
VIEW_NOISE = 0.3  # a view's cosine to its centre about 0.96, to another view about 0.92
EMBEDDER = "benchmark:synthetic"


def unit_rows(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


class Population:
    """Identity centres in look-alike clusters; views of them on demand."""

    def __init__(self, identities: int, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        clusters = unit_rows(self.rng.normal(size=(CLUSTERS, DIM)))
        owner = self.rng.integers(0, CLUSTERS, identities)
        spread = unit_rows(self.rng.normal(size=(identities, DIM)))
        self.centres = unit_rows(clusters[owner] + 0.9 * spread)

    def views(self, identity_ids: np.ndarray) -> np.ndarray:
        noise = self.rng.normal(size=(len(identity_ids), DIM)) * (VIEW_NOISE / np.sqrt(DIM))
        return unit_rows(self.centres[identity_ids] + noise)


def load_embedded(folder: Path, population: Population, exemplars: int) -> None:
    Gallery(GalleryConfig(), DIM, folder, EMBEDDER).close()  # schema and embedder binding
    identities = len(population.centres)
    with sqlite3.connect(folder / DB_NAME) as db:
        db.executemany(
            "INSERT INTO identities (id, label, created_at, first_seen, last_seen) "
            "VALUES (?, NULL, 0, 0, 0)",
            ((i + 1,) for i in range(identities)),
        )
        for start in range(0, exemplars, 50_000):
            owners = np.arange(start, min(exemplars, start + 50_000)) % identities
            vectors = population.views(owners)
            db.executemany(
                "INSERT INTO exemplars (identity_id, vector, created_at) VALUES (?, ?, 0)",
                ((int(o) + 1, v.tobytes()) for o, v in zip(owners, vectors, strict=True)),
            )
    (folder / "index.faiss").unlink(missing_ok=True)


def load_postgres(url: str, population: Population, exemplars: int) -> float:
    """Bulk load, then build the HNSW index; the build's seconds."""
    SharedGallery(GalleryConfig(), DIM, url, EMBEDDER).close()
    identities = len(population.centres)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP INDEX gallery_exemplars_hnsw")
        with db.cursor().copy(
            "COPY gallery_identities (id, created_at, first_seen, last_seen) FROM STDIN"
        ) as copy:
            for i in range(identities):
                copy.write_row((i + 1, 0.0, 0.0, 0.0))
        db.execute("SELECT setval('gallery_identities_id_seq', %s)", (identities,))
        for start in range(0, exemplars, 50_000):
            owners = np.arange(start, min(exemplars, start + 50_000)) % identities
            vectors = population.views(owners)
            with db.cursor().copy(
                "COPY gallery_exemplars (identity_id, vector, created_at) FROM STDIN"
            ) as copy:
                for owner, vector in zip(owners, vectors, strict=True):
                    text = "[" + ",".join(f"{x:.6f}" for x in vector) + "]"
                    copy.write_row((int(owner) + 1, text, 0.0))
        db.execute("SET maintenance_work_mem = '1GB'")
        started = time.perf_counter()
        db.execute(
            "CREATE INDEX gallery_exemplars_hnsw ON gallery_exemplars "
            "USING hnsw (vector vector_cosine_ops)"
        )
        return time.perf_counter() - started


def measure(gallery: Any, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    hits = sum(
        1
        for query, expected in zip(queries, truth, strict=True)
        if (found := gallery.search(query, k=1)) and found[0].identity_id == expected + 1
    )
    latencies = []
    for query in queries:
        started = time.perf_counter()
        gallery.resolve(query)
        latencies.append(time.perf_counter() - started)
    milliseconds = np.array(latencies) * 1000
    return {
        "recall": hits / len(queries),
        "p50": float(np.percentile(milliseconds, 50)),
        "p95": float(np.percentile(milliseconds, 95)),
    }


def run_size(exemplars: int, queries_n: int, url: str, work: Path) -> list[list[object]]:
    population = Population(max(1, exemplars // PER_IDENTITY))
    truth = population.rng.integers(0, len(population.centres), queries_n)
    queries = population.views(truth)
    rows: list[list[object]] = []

    folder = work / f"embedded-{exemplars}"
    started = time.perf_counter()
    load_embedded(folder, population, exemplars)
    loaded = time.perf_counter() - started
    gc.collect()
    before = psutil.Process().memory_info().rss
    started = time.perf_counter()
    gallery = Gallery(GalleryConfig(), DIM, folder, EMBEDDER)
    opened = time.perf_counter() - started
    memory = (psutil.Process().memory_info().rss - before) / 2**20
    result = measure(gallery, queries, truth)
    gallery.close()
    del gallery
    rows.append(
        [f"{exemplars:,}", "embedded (FAISS flat, exact)", f"{result['recall']:.3f}",
         f"{result['p50']:.2f}", f"{result['p95']:.2f}", f"{memory:.0f} (RSS)",
         f"{loaded:.0f} + open {opened:.0f}"]
    )  # fmt: skip
    print(rows[-1], flush=True)

    with psycopg.connect(url, autocommit=True) as admin:
        name = f"bench_{exemplars}"
        admin.execute(f"DROP DATABASE IF EXISTS {name}")  # type: ignore[arg-type]
        admin.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    db_url = url.rsplit("/", 1)[0] + f"/{name}"
    started = time.perf_counter()
    build = load_postgres(db_url, population, exemplars)
    loaded = time.perf_counter() - started - build
    with psycopg.connect(db_url) as db:
        row = db.execute(
            "SELECT pg_total_relation_size('gallery_exemplars'), "
            "pg_relation_size('gallery_exemplars_hnsw')"
        ).fetchone()
    assert row is not None
    shared = SharedGallery(GalleryConfig(), DIM, db_url, EMBEDDER)
    result = measure(shared, queries, truth)
    shared.close()
    rows.append(
        [f"{exemplars:,}", "PostgreSQL + pgvector HNSW", f"{result['recall']:.3f}",
         f"{result['p50']:.2f}", f"{result['p95']:.2f}",
         f"{row[0] / 2**20:.0f} (table + indexes; HNSW {row[1] / 2**20:.0f})",
         f"{loaded:.0f} + HNSW build {build:.0f}"]
    )  # fmt: skip
    print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres-url", help="default: a throwaway server on 127.0.0.1")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE)
    parser.add_argument("--note", default="", help="a line added under the table")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="gallery-scale-") as work:
        if args.postgres_url:
            for size in args.sizes:
                rows += run_size(size, args.queries, args.postgres_url, Path(work))
        else:
            from tests.cluster.servers import PostgresServer

            with PostgresServer() as server:
                for size in args.sizes:
                    rows += run_size(size, args.queries, server.url, Path(work))
    table = markdown_table(
        ["exemplars", "backend", "recall@1", "resolve p50 ms", "resolve p95 ms", "memory MiB",
         "load s"],
        rows,
        text_columns=2,
    )  # fmt: skip
    body = "\n".join(
        [
            "## Gallery at scale: embedded FAISS against PostgreSQL + pgvector",
            "",
            f"`{command_line('gallery_scale.py', raw)}`",
            "",
            *machine_lines({"pgvector (PostgreSQL 16, pgserver)": "0.6", "faiss": "cpu"}),
            "",
            table,
            "",
            f"{args.queries} queries per row, {DIM}-d, {PER_IDENTITY} exemplars an identity; "
            "resolve = search + exemplar insert (or a new identity) in one transaction.",
            args.note,
        ]
    )
    write_section(args.results, SECTION, body)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
