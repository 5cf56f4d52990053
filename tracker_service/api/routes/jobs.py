"""Uploaded videos and their jobs: `POST /v1/videos`, `/v1/jobs/...`."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, StreamingResponse

from tracker_service.api.deps import ServicesDep
from tracker_service.api.errors import ApiError, not_found
from tracker_service.api.media import check_video_header
from tracker_service.api.routes.zones import parse_or_422
from tracker_service.api.schemas import JobList, JobOut
from tracker_service.api.uploads import (
    check_declared_length,
    multipart_body,
    receive_file,
    safe_suffix,
)
from tracker_service.events.files import COUNTS_FILE, EVENTS_FILE
from tracker_service.job_model import GROUND_TRUTH_FILE, QueueFullError
from tracker_service.jobs import (
    INPUT_STEM,
    ZONES_FILE,
    Job,
    JobBusyError,
    JobManager,
    JobNotFoundError,
    JobState,
)
from tracker_service.jobs_shared import SharedJobManager
from tracker_service.sinks import MOT_FILE, SUMMARY_FILE, TRACKS_FILE, VIDEO_FILE
from tracker_service.video_file import SourceError, probe_video
from tracker_service.zones import ZoneSet

router = APIRouter(tags=["videos and jobs"])
RETRY_AFTER_S = "30"

_UPLOAD_BODY = multipart_body(
    zones="zones and lines to count, JSON or YAML (normalised 0-1 coordinates)",
    ground_truth="the video's ground truth as MOTChallenge gt.txt rows (frame, id, left, "
    "top, width, height, consider flag, ...): the job's summary is scored against it",
)


def job_out(job: Job) -> JobOut:
    base = f"/v1/jobs/{job.job_id}"
    links = {"self": base}
    if job.state is JobState.SUCCEEDED:
        links |= {
            "tracks": f"{base}/tracks",
            "mot": f"{base}/mot.txt",
            "video": f"{base}/video",
            "summary": f"{base}/summary",
        }
    return JobOut(
        job_id=job.job_id,
        state=job.state.value,
        filename=job.filename,
        size_bytes=job.size_bytes,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        progress=round(job.progress, 4),
        frames_done=job.frames_done,
        frames_total=job.frames_total,
        error=job.error,
        summary=job.summary,
        links=links,
    )


def _queue_full() -> ApiError:
    return ApiError(
        503,
        "queue_full",
        "the job queue is full; retry later",
        headers={"Retry-After": RETRY_AFTER_S},
    )


def _job(jobs: JobManager | SharedJobManager, job_id: str) -> Job:
    try:
        return jobs.get(job_id)
    except JobNotFoundError:
        raise not_found("job", job_id) from None


@router.post(
    "/videos",
    status_code=202,
    response_model=JobOut,
    summary="Upload a video to track (multipart field `file`)",
    openapi_extra=_UPLOAD_BODY,
)
async def upload_video(request: Request, services: ServicesDep) -> JobOut:
    jobs = services.jobs
    limit = int(services.config.service.max_upload_mb * 2**20)
    check_declared_length(request.headers, limit)
    try:
        # The queue place first: a full queue refuses before a byte of the body is read.
        with jobs.reservation():
            return await _receive_job(request, services, limit)
    except QueueFullError:
        raise _queue_full() from None


async def _receive_job(request: Request, services: ServicesDep, limit: int) -> JobOut:
    jobs = services.jobs
    job_id, directory = jobs.new_job_dir()
    try:
        upload = directory / f"{INPUT_STEM}.upload"
        with upload.open("wb") as sink:
            received = await receive_file(
                request.stream(), request.headers.get("content-type", ""), sink, limit
            )
        if received.size == 0:
            raise ApiError(422, "empty_file", f"the uploaded file {received.filename!r} is empty")
        target = directory / f"{INPUT_STEM}{safe_suffix(received.filename)}"
        upload.rename(target)
        zones = _upload_zones(received.fields.get("zones"))
        ground_truth = _upload_ground_truth(received.fields.get("ground_truth"))
        await _check_video(target, received.filename, services.config.service.max_pixels)
        if zones is not None:
            (directory / ZONES_FILE).write_text(zones.model_dump_json(), encoding="utf-8")
        if ground_truth is not None:
            (directory / GROUND_TRUTH_FILE).write_text(ground_truth, encoding="utf-8")
        return job_out(jobs.submit(job_id, received.filename, target))
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _upload_zones(text: str | None) -> ZoneSet | None:
    """The `zones` form field: zones and lines as JSON or YAML (normalised coordinates)."""
    if text is None or not text.strip():
        return None
    try:
        data = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError:
        raise ApiError(422, "invalid_zones", "zones: neither JSON nor YAML") from None
    return parse_or_422(data)


def _upload_ground_truth(text: str | None) -> str | None:
    """The `ground_truth` form field, checked row by row (the error names the line)."""
    if text is None or not text.strip():
        return None
    from tracker_service.evaluation.errors import MotFormatError
    from tracker_service.evaluation.mot_files import GT_MIN_COLUMNS, parse_mot_lines

    try:
        parse_mot_lines(text.splitlines(), "ground_truth", GT_MIN_COLUMNS)
    except MotFormatError as exc:
        raise ApiError(422, "invalid_ground_truth", str(exc)) from None
    return text


async def _check_video(path: Path, filename: str, max_pixels: int) -> None:
    await asyncio.to_thread(check_video_header, path, max_pixels, filename)
    try:
        await asyncio.to_thread(probe_video, path)
    except SourceError as exc:
        reason = str(exc).replace(str(path), repr(filename))
        raise ApiError(422, "not_a_video", reason) from None


@router.get("/jobs", response_model=JobList, summary="All jobs, newest first")
def list_jobs(services: ServicesDep) -> JobList:
    return JobList(items=[job_out(job) for job in services.jobs.list()])


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's state and progress")
def get_job(job_id: str, services: ServicesDep) -> JobOut:
    return job_out(_job(services.jobs, job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, summary="Stop a job")
def cancel_job(job_id: str, services: ServicesDep) -> JobOut:
    _job(services.jobs, job_id)
    return job_out(services.jobs.cancel(job_id))


@router.delete("/jobs/{job_id}", status_code=204, summary="Cancel if needed, delete files")
def delete_job(job_id: str, services: ServicesDep) -> None:
    _job(services.jobs, job_id)
    try:
        services.jobs.delete(job_id)
    except JobBusyError as exc:
        raise ApiError(409, "job_busy", str(exc), headers={"Retry-After": "5"}) from None


def _result_file(services: ServicesDep, job_id: str, name: str) -> Path:
    job = _job(services.jobs, job_id)
    if job.state is not JobState.SUCCEEDED:
        raise ApiError(
            409,
            "job_not_finished",
            f"job {job_id} is {job.state.value}; results come when it succeeds",
        )
    path = services.jobs.directory(job_id) / name
    if not path.is_file():
        raise ApiError(404, "result_missing", f"job {job_id} has no {name}")
    return path


def _frames_as_json_array(path: Path, job_id: str) -> Iterator[bytes]:
    yield f'{{"job_id":{json.dumps(job_id)},"frames":['.encode()
    separator = b""
    with path.open("rb") as handle:
        for raw in handle:
            frame = raw.strip()
            if frame:
                yield separator + frame
                separator = b","
    yield b"]}"


@router.get("/jobs/{job_id}/tracks", summary="Per-frame tracks with identities (JSON)")
def job_tracks(job_id: str, services: ServicesDep) -> StreamingResponse:
    path = _result_file(services, job_id, TRACKS_FILE)
    return StreamingResponse(_frames_as_json_array(path, job_id), media_type="application/json")


@router.get("/jobs/{job_id}/tracks.jsonl", summary="Per-frame tracks as JSON lines")
def job_tracks_jsonl(job_id: str, services: ServicesDep) -> FileResponse:
    path = _result_file(services, job_id, TRACKS_FILE)
    return FileResponse(path, media_type="application/x-ndjson", filename=f"{job_id}.jsonl")


@router.get("/jobs/{job_id}/mot.txt", summary="MOTChallenge results")
def job_mot(job_id: str, services: ServicesDep) -> FileResponse:
    path = _result_file(services, job_id, MOT_FILE)
    return FileResponse(path, media_type="text/plain", filename=f"{job_id}.txt")


@router.get("/jobs/{job_id}/video", summary="Annotated MP4 (H.264; supports Range)")
def job_video(job_id: str, services: ServicesDep) -> FileResponse:
    path = _result_file(services, job_id, VIDEO_FILE)
    return FileResponse(path, media_type="video/mp4")


@router.get("/jobs/{job_id}/summary", summary="Run summary (frames, fps, embedder share...)")
def job_summary(job_id: str, services: ServicesDep) -> dict[str, object]:
    path = _result_file(services, job_id, SUMMARY_FILE)
    summary: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return summary


@router.get("/jobs/{job_id}/counts", summary="Per line in/out, per zone visits, dwell, occupancy")
def job_counts(job_id: str, services: ServicesDep) -> dict[str, object]:
    path = _result_file(services, job_id, COUNTS_FILE)
    counts: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return counts


@router.get("/jobs/{job_id}/events.jsonl", summary="The job's events as JSON lines")
def job_events(job_id: str, services: ServicesDep) -> FileResponse:
    path = _result_file(services, job_id, EVENTS_FILE)
    return FileResponse(path, media_type="application/x-ndjson", filename=f"{job_id}-events.jsonl")
