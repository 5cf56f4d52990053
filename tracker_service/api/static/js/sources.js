// Where a person was seen: a sighting's `source` names an uploaded video (`job:<job id>`) or
// a camera (its name, or its URL followed by `[<stream id>]`). These helpers turn a source
// into a link to the camera's live view or to the video at the moment of the sighting.

import { request } from "./api.js";
import { formatMediaTime, h } from "./ui.js";

const catalog = { streams: new Map(), jobs: new Map(), loadedAt: 0 };
const CATALOG_MAX_AGE_MS = 5000;

/** Refresh the known cameras and jobs (at most every few seconds unless `force`). */
export async function loadCatalog(force = false) {
  if (!force && Date.now() - catalog.loadedAt < CATALOG_MAX_AGE_MS) return;
  const [streams, jobs] = await Promise.all([request("/v1/streams"), request("/v1/jobs")]);
  catalog.streams = new Map(streams.items.map((stream) => [stream.id, stream]));
  catalog.jobs = new Map(jobs.items.map((job) => [job.job_id, job]));
  catalog.loadedAt = Date.now();
}

/** {kind: "job", jobId} or {kind: "stream", streamId|null, text}. */
export function parseSource(source) {
  if (source.startsWith("job:")) return { kind: "job", jobId: source.slice(4) };
  if (source.startsWith("stream:")) return { kind: "stream", streamId: source.slice(7), text: source };
  const bracketed = /\[([^\]\s]+)\]\s*$/.exec(source);
  let streamId = bracketed ? bracketed[1] : null;
  if (!streamId) {
    for (const stream of catalog.streams.values()) {
      if (stream.id === source || stream.name === source) streamId = stream.id;
    }
  }
  return { kind: "stream", streamId, text: source };
}

export function videoRoute(jobId, mediaSeconds) {
  const moment = mediaSeconds === undefined ? "" : `?t=${mediaSeconds.toFixed(2)}`;
  return `#videos/${encodeURIComponent(jobId)}${moment}`;
}

export function cameraRoute(streamId) {
  return `#cameras/${encodeURIComponent(streamId)}`;
}

/** A short name for a source: the camera's or the video file's name. */
export function sourceName(source) {
  const parsed = parseSource(source);
  if (parsed.kind === "job") {
    const job = catalog.jobs.get(parsed.jobId);
    return job ? `video “${job.filename}”` : `video job ${parsed.jobId.slice(0, 8)} (deleted)`;
  }
  const stream = parsed.streamId ? catalog.streams.get(parsed.streamId) : null;
  return stream ? `camera “${stream.name}”` : `camera ${parsed.text} (removed)`;
}

/**
 * A link to where `source` can be seen: the video at `mediaSeconds`, or the camera's live
 * view. A deleted video or a removed camera is plain text.
 */
export function sourceLink(source, mediaSeconds) {
  const parsed = parseSource(source);
  const name = sourceName(source);
  if (parsed.kind === "job") {
    if (!catalog.jobs.has(parsed.jobId)) return h("span", { class: "gone" }, name);
    const moment = mediaSeconds === undefined ? "" : ` at ${formatMediaTime(mediaSeconds)}`;
    return h(
      "a",
      { href: videoRoute(parsed.jobId, mediaSeconds), class: "source video-link" },
      `${name}${moment}`,
    );
  }
  if (!parsed.streamId || !catalog.streams.has(parsed.streamId)) {
    return h("span", { class: "gone" }, name);
  }
  return h(
    "a",
    { href: cameraRoute(parsed.streamId), class: "source camera-link" },
    `${name} (live view)`,
  );
}
