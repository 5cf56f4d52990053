"""Video jobs on a queue in PostgreSQL that the workers of every node claim (`jobs.url`).

The same public interface as `jobs.JobManager`, so the API answers the same from any node:
the job's row in `tracker_jobs` is its state; its input and results are files in
`<jobs folder>/<id>/`, a folder every node mounts (the deployment provides it).

Claiming: `SELECT ... FOR UPDATE SKIP LOCKED` takes the oldest queued job (or a running one
whose lease ran out: its node died) and stamps it with a new claim token and a lease of
`jobs.lease_s`. While it runs, the owner renews the lease and writes progress every
`_HEARTBEAT_S`; a renewal that finds the token changed means another node took the job
over, and the run is abandoned. A run writes into `<id>/.run-<token>/`; the finish moves
the files into `<id>/` and sets the final state in one transaction guarded by the token:
one run finishes a job, exactly once. Cancel sets a flag the owner's heartbeat sees.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from tracker_service.config import Config
from tracker_service.events import EventSink
from tracker_service.events.service import EventServices
from tracker_service.job_model import read_job_ground_truth, read_job_zones
from tracker_service.job_places import QueuePlaces
from tracker_service.jobs import Job, JobNotFoundError, JobState, QueueFullError, new_job_dir
from tracker_service.postgres import open_pool
from tracker_service.reid.identity_gallery import IdentityGallery
from tracker_service.runner import RunCancelledError, run_video
from tracker_service.runtime import Models
from tracker_service.video_file import SourceError

logger = logging.getLogger(__name__)

_HEARTBEAT_S = 1.0
_COLUMNS = (
    "job_id, filename, input_file, state, created_at, size_bytes, frames_done, frames_total, "
    "started_at, finished_at, error, summary"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tracker_jobs (
    job_id text PRIMARY KEY,
    filename text NOT NULL,
    input_file text NOT NULL,
    state text NOT NULL
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    created_at double precision NOT NULL,
    size_bytes bigint NOT NULL,
    frames_done integer NOT NULL DEFAULT 0,
    frames_total integer NOT NULL DEFAULT 0,
    started_at double precision,
    finished_at double precision,
    error text,
    summary jsonb,
    node text,
    claim uuid,
    lease_until timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    cancel_requested boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS tracker_jobs_waiting ON tracker_jobs (created_at)
    WHERE state IN ('queued', 'running');
"""
_CLAIM = f"""
UPDATE tracker_jobs SET state = 'running', node = %(node)s, claim = %(claim)s,
    lease_until = now() + make_interval(secs => %(lease)s), attempts = attempts + 1,
    started_at = %(now)s, frames_done = 0
WHERE job_id = (
    SELECT job_id FROM tracker_jobs
    WHERE NOT cancel_requested
      AND (state = 'queued' OR (state = 'running' AND lease_until < now()))
    ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
RETURNING {_COLUMNS}, claim
"""


def _job(row: dict[str, Any]) -> Job:
    values = {key: row[key] for key in _COLUMNS.split(", ")}
    values["state"] = JobState(values["state"])
    return Job(**values)


class SharedJobManager:
    """Jobs in PostgreSQL, run by whichever node's worker claims them first."""

    def __init__(
        self,
        config: Config,
        models: Models,
        gallery: IdentityGallery,
        events: EventSink | None = None,
        history: EventServices | None = None,
    ) -> None:
        if config.jobs.url is None:
            raise ValueError("jobs.url is not set")
        self.config = config
        self.models = models
        self.gallery = gallery
        self.events = events
        self.history = history  # this node's event history: the jobs it runs add to it
        self.node = f"{config.events.node}-{os.getpid()}"
        self.root = config.jobs.folder or config.data_dir / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self._pool: ConnectionPool = open_pool(
            config.jobs.url, "jobs", max_size=4 + config.service.job_workers
        )
        with self._pool.connection() as db:
            db.execute("SELECT pg_advisory_xact_lock(7011)")  # one node creates the schema
            db.execute(_SCHEMA)
        self.stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        self.reservation = QueuePlaces(self._queued, config.service.max_queued_jobs).reservation

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        for number in range(self.config.service.job_workers):
            worker = threading.Thread(target=self._work, name=f"job-worker-{number}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the workers; a job they were running is released for any node to take."""
        self.stopping.set()
        deadline = time.monotonic() + timeout_s
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._workers.clear()
        self._pool.close()

    # -- public API (as JobManager) -----------------------------------------------------------

    def has_room(self) -> bool:
        return self._queued() < self.config.service.max_queued_jobs

    def _queued(self) -> int:
        with self._pool.connection() as db:
            row = db.execute("SELECT count(*) FROM tracker_jobs WHERE state = 'queued'").fetchone()
        return int(row[0]) if row else 0

    def new_job_dir(self) -> tuple[str, Path]:
        return new_job_dir(self.root)

    def submit(self, job_id: str, filename: str, input_file: Path) -> Job:
        """Queue an uploaded, already validated video; `QueueFullError` when full."""
        job = Job.queued(job_id, filename, input_file)
        with self._pool.connection() as db:
            inserted = db.execute(
                "INSERT INTO tracker_jobs (job_id, filename, input_file, state, created_at, "
                "size_bytes) SELECT %s, %s, %s, 'queued', %s, %s WHERE (SELECT count(*) FROM "
                "tracker_jobs WHERE state = 'queued') < %s",
                (job_id, filename, job.input_file, job.created_at, job.size_bytes,
                 self.config.service.max_queued_jobs),
            ).rowcount  # fmt: skip
        if not inserted:
            raise QueueFullError("the job queue is full")
        self._publish(job)
        self._enforce_retention()
        return job

    def get(self, job_id: str) -> Job:
        with self._pool.connection() as db, db.cursor(row_factory=dict_row) as cursor:
            row = cursor.execute(
                f"SELECT {_COLUMNS} FROM tracker_jobs WHERE job_id = %s", (job_id,)
            ).fetchone()
        if row is None:
            raise JobNotFoundError(job_id)
        return _job(row)

    def list(self) -> list[Job]:
        limit = self.config.service.max_jobs_kept + self.config.service.max_queued_jobs
        with self._pool.connection() as db, db.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(
                f"SELECT {_COLUMNS} FROM tracker_jobs ORDER BY created_at DESC LIMIT %s", (limit,)
            ).fetchall()
        return [_job(row) for row in rows]

    def counts(self) -> dict[JobState, int]:
        counts = dict.fromkeys(JobState, 0)
        with self._pool.connection() as db:
            for state, count in db.execute(
                "SELECT state, count(*) FROM tracker_jobs GROUP BY state"
            ).fetchall():
                counts[JobState(state)] = int(count)
        return counts

    def directory(self, job_id: str) -> Path:
        self.get(job_id)
        return self.root / job_id

    def cancel(self, job_id: str) -> Job:
        """A queued job is cancelled at once; a running one when its node next looks."""
        with self._pool.connection() as db, db.cursor(row_factory=dict_row) as cursor:
            row = cursor.execute(
                "UPDATE tracker_jobs SET cancel_requested = true, "
                "state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END, "
                "finished_at = CASE WHEN state = 'queued' THEN %s ELSE finished_at END "
                f"WHERE job_id = %s AND state IN ('queued', 'running') RETURNING {_COLUMNS}",
                (time.time(), job_id),
            ).fetchone()
        if row is None:
            return self.get(job_id)
        job = _job(row)
        if job.state is JobState.CANCELLED:
            self._publish(job)
        return job

    def delete(self, job_id: str) -> None:
        """Cancel if needed and remove the job and its files (a running owner gives up)."""
        with self._pool.connection() as db:
            db.execute("DELETE FROM tracker_jobs WHERE job_id = %s", (job_id,))
        shutil.rmtree(self.root / job_id, ignore_errors=True)

    # -- workers ------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self.stopping.is_set():
            try:
                self._sweep_cancelled()
                claimed = self._claim()
            except Exception as exc:  # the database is away: wait and retry
                logger.warning("job queue unavailable (%s); retrying", type(exc).__name__)
                self.stopping.wait(self.config.jobs.poll_s * 5)
                continue
            if claimed is None:
                self.stopping.wait(self.config.jobs.poll_s)
                continue
            job, claim = claimed
            self._publish(job)
            _Run(self, job, claim).execute()

    def _claim(self) -> tuple[Job, str] | None:
        parameters = {
            "node": self.node,
            "claim": uuid.uuid4(),
            "lease": self.config.jobs.lease_s,
            "now": time.time(),
        }
        with self._pool.connection() as db, db.cursor(row_factory=dict_row) as cursor:
            row = cursor.execute(_CLAIM, parameters).fetchone()
        if row is None:
            return None
        logger.info("job %s claimed by %s", row["job_id"], self.node)
        return _job(row), str(row["claim"])

    def _sweep_cancelled(self) -> None:
        """Running jobs cancelled while their node was dead end as cancelled."""
        with self._pool.connection() as db:
            db.execute(
                "UPDATE tracker_jobs SET state = 'cancelled', finished_at = %s WHERE state = "
                "'running' AND cancel_requested AND lease_until < now()",
                (time.time(),),
            )

    def heartbeat(self, job_id: str, claim: str, done: int, total: int) -> bool | None:
        """Renew the lease and store progress: True to go on, False when cancelled, None
        when the job is no longer ours (taken over or deleted)."""
        with self._pool.connection() as db:
            row = db.execute(
                "UPDATE tracker_jobs SET lease_until = now() + make_interval(secs => %s), "
                "frames_done = %s, frames_total = %s WHERE job_id = %s AND claim = %s "
                "RETURNING cancel_requested",
                (self.config.jobs.lease_s, done, total, job_id, claim),
            ).fetchone()
        return None if row is None else not row[0]

    def finish(self, job: Job, claim: str, state: JobState, run_dir: Path, **changes: Any) -> None:
        """Move the run's files into place and record `state`, only while the claim holds."""
        summary = changes.pop("summary", None)
        with self._pool.connection() as db:
            owned = db.execute(
                "SELECT 1 FROM tracker_jobs WHERE job_id = %s AND claim = %s FOR UPDATE",
                (job.job_id, claim),
            ).fetchone()
            if owned is None:
                logger.info("job %s was taken over or deleted; dropping this run", job.job_id)
                shutil.rmtree(run_dir, ignore_errors=True)
                return
            if state is JobState.SUCCEEDED:
                for produced in run_dir.iterdir():
                    os.replace(produced, run_dir.parent / produced.name)
            db.execute(
                "UPDATE tracker_jobs SET state = %s, finished_at = %s, error = %s, summary = %s, "
                "lease_until = NULL WHERE job_id = %s",
                (state.value, time.time(), changes.get("error"),
                 None if summary is None else Jsonb(summary), job.job_id),
            )  # fmt: skip
        shutil.rmtree(run_dir, ignore_errors=True)
        self._publish(self.get(job.job_id))

    def release(self, job_id: str, claim: str) -> None:
        """Give a job back to the queue (this node is shutting down)."""
        with self._pool.connection() as db:
            db.execute(
                "UPDATE tracker_jobs SET state = 'queued', claim = NULL, lease_until = NULL, "
                "frames_done = 0 WHERE job_id = %s AND claim = %s",
                (job_id, claim),
            )

    def _publish(self, job: Job) -> None:
        if self.events is not None:
            self.events.job_event(job.event())

    def _enforce_retention(self) -> None:
        with self._pool.connection() as db:
            rows = db.execute(
                "DELETE FROM tracker_jobs WHERE job_id IN (SELECT job_id FROM tracker_jobs "
                "WHERE state IN ('succeeded', 'failed', 'cancelled') ORDER BY created_at DESC "
                "OFFSET %s) RETURNING job_id",
                (self.config.service.max_jobs_kept,),
            ).fetchall()
        for (job_id,) in rows:
            shutil.rmtree(self.root / job_id, ignore_errors=True)


class _Run:
    """One claimed job run by this node, with its heartbeat."""

    def __init__(self, manager: SharedJobManager, job: Job, claim: str) -> None:
        self.manager = manager
        self.job = job
        self.claim = claim
        self.directory = manager.root / job.job_id
        self.run_dir = self.directory / f".run-{claim}"
        self.progress = (0, 0)
        self.cancelled = threading.Event()  # by the user
        self.lost = threading.Event()  # taken over, deleted, or this node is stopping
        self._beat_at = 0.0

    def execute(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            summary = run_video(
                self.directory / self.job.input_file,
                self.run_dir,
                self.manager.config,
                self.manager.models,
                self.manager.gallery,
                source_name=f"job:{self.job.job_id}",
                progress=self._progress,
                should_stop=self._should_stop,
                zones=read_job_zones(self.directory),
                ground_truth=read_job_ground_truth(self.directory),
                event_sinks=[] if (history := self.manager.history) is None else history.sinks(),
            )
        except RunCancelledError:
            self._end_cancelled()
        except SourceError as exc:
            self.manager.finish(self.job, self.claim, JobState.FAILED, self.run_dir, error=str(exc))
        except Exception as exc:  # a job must never take the worker down with it
            logger.exception("job %s failed", self.job.job_id)
            error = f"{type(exc).__name__}: {exc}"
            self.manager.finish(self.job, self.claim, JobState.FAILED, self.run_dir, error=error)
        else:
            self.manager.finish(
                self.job, self.claim, JobState.SUCCEEDED, self.run_dir, summary=asdict(summary)
            )
        self.manager.gallery.save()

    def _end_cancelled(self) -> None:
        if self.cancelled.is_set():
            self.manager.finish(self.job, self.claim, JobState.CANCELLED, self.run_dir)
        elif self.manager.stopping.is_set():
            self.manager.release(self.job.job_id, self.claim)
            shutil.rmtree(self.run_dir, ignore_errors=True)
        else:
            shutil.rmtree(self.run_dir, ignore_errors=True)  # another node has it now

    def _progress(self, done: int, total: int) -> None:
        self.progress = (done, total)

    def _should_stop(self) -> bool:
        now = time.monotonic()
        if now - self._beat_at >= _HEARTBEAT_S:
            self._beat_at = now
            self._beat()
        return self.cancelled.is_set() or self.lost.is_set() or self.manager.stopping.is_set()

    def _beat(self) -> None:
        try:
            going_on = self.manager.heartbeat(self.job.job_id, self.claim, *self.progress)
        except Exception as exc:  # the database is away: go on, the lease may still hold
            logger.warning("job %s: heartbeat failed (%s)", self.job.job_id, type(exc).__name__)
            return
        if going_on is None:
            self.lost.set()
        elif not going_on:
            self.cancelled.set()
