// The Videos page: upload a file (with upload progress), follow the job, play the annotated
// result and download the tracks; past jobs with cancel and delete.

import { ApiError, request, upload } from "./api.js";
import {
  $,
  clearErrors,
  confirmAction,
  formatBytes,
  formatNumber,
  formatTime,
  h,
  notify,
  Poller,
  reportError,
  setFormError,
  wireDropZone,
} from "./ui.js";

const ACTIVE_REFRESH_MS = 1500;
const IDLE_REFRESH_MS = 10000;
const LIST_ACTION = "Loading the jobs";
const ACTIVE_STATES = new Set(["queued", "running"]);

const jobs = new Map(); // job id -> the latest job from the API
const rows = new Map(); // job id -> {row, cells}
let detail = null; // {jobId, seek} of the job shown in the detail panel
let uploading = null; // AbortController of the upload in progress

const poller = new Poller(refresh, () =>
  [...jobs.values()].some((job) => ACTIVE_STATES.has(job.state))
    ? ACTIVE_REFRESH_MS
    : IDLE_REFRESH_MS,
);

// --- plain words for a job -------------------------------------------------------------

const BADGES = {
  queued: "Queued",
  running: "Tracking",
  succeeded: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
};

function percent(job) {
  return `${Math.floor(job.progress * 100)}%`;
}

function describeJob(job) {
  switch (job.state) {
    case "queued":
      return "Waiting for its turn: other videos are being tracked.";
    case "running": {
      const frames = job.frames_total
        ? ` (frame ${job.frames_done} of ${job.frames_total})`
        : ` (${job.frames_done} frames)`;
      return `Tracking people: ${percent(job)}${frames}.`;
    }
    case "succeeded":
      return "Done: the annotated video and the tracks are ready.";
    case "failed":
      return `Tracking failed: ${job.error || "no reason given"}.`;
    case "cancelled":
      return "Cancelled before the end: no result.";
    default:
      return job.state;
  }
}

// --- the list --------------------------------------------------------------------------

async function refresh() {
  let page;
  try {
    page = await request("/v1/jobs");
  } catch (error) {
    reportError(LIST_ACTION, error);
    return;
  }
  clearErrors(LIST_ACTION);
  jobs.clear();
  for (const job of page.items) jobs.set(job.job_id, job);
  renderList(page.items);
  if (detail) {
    const job = jobs.get(detail.jobId);
    if (job) renderDetail(job);
  }
}

function renderList(items) {
  $("#jobs-empty").hidden = items.length > 0;
  $("#jobs-table").hidden = items.length === 0;
  for (const [id, entry] of rows) {
    if (!jobs.has(id)) {
      entry.row.remove();
      rows.delete(id);
    }
  }
  const body = $("#job-rows");
  const order = items.map((job) => job.job_id);
  const current = [...body.children].map((row) => row.dataset.jobId);
  for (const job of items) updateRow(rows.get(job.job_id) ?? addRow(job), job);
  if (order.join() !== current.join()) {
    body.append(...order.map((id) => rows.get(id).row));
  }
}

function addRow(job) {
  const cells = {
    name: h("a", { href: `#videos/${encodeURIComponent(job.job_id)}` }),
    badge: h("span", { class: "badge" }),
    reason: h("span", { class: "reason" }),
    progress: h("progress", { max: "1", "aria-label": `Progress of ${job.filename}` }),
    created: h("td"),
    size: h("td", { class: "num" }),
    cancel: h("button", { type: "button", class: "quiet" }, "Cancel"),
    remove: h("button", { type: "button", class: "quiet danger" }, "Delete"),
  };
  cells.cancel.addEventListener("click", () => cancelJob(job.job_id));
  cells.remove.addEventListener("click", () => deleteJob(job.job_id));
  const row = h(
    "tr",
    { dataset: { jobId: job.job_id } },
    h("th", { scope: "row" }, cells.name),
    h("td", { class: "state" }, cells.badge, " ", cells.reason, cells.progress),
    cells.created,
    cells.size,
    h("td", {}, h("div", { class: "actions" }, cells.cancel, cells.remove)),
  );
  const entry = { row, cells };
  rows.set(job.job_id, entry);
  return entry;
}

function updateRow({ row, cells }, job) {
  row.dataset.state = job.state;
  cells.name.textContent = job.filename;
  cells.badge.textContent = BADGES[job.state] ?? job.state;
  cells.badge.className = `badge state-${job.state}`;
  const active = ACTIVE_STATES.has(job.state);
  cells.reason.textContent = active ? percent(job) : job.state === "failed" ? job.error : "";
  cells.progress.hidden = !active;
  cells.progress.value = job.progress;
  cells.created.textContent = formatTime(job.created_at);
  cells.size.textContent = formatBytes(job.size_bytes);
  cells.cancel.hidden = !active;
}

async function cancelJob(jobId) {
  const name = jobs.get(jobId)?.filename ?? jobId;
  try {
    await request(`/v1/jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST" });
    notify(`Tracking of “${name}” cancelled.`, "info");
  } catch (error) {
    reportError(`Cancelling “${name}” failed`, error);
  }
  await poller.now();
}

async function deleteJob(jobId) {
  const name = jobs.get(jobId)?.filename ?? jobId;
  const sure = await confirmAction(
    `Delete “${name}” and its results (annotated video, tracks)? People seen in it stay in the gallery.`,
    "Delete",
  );
  if (!sure) return;
  try {
    await request(`/v1/jobs/${encodeURIComponent(jobId)}`, { method: "DELETE" });
    notify(`“${name}” deleted.`, "info");
    if (detail?.jobId === jobId) location.hash = "#videos";
  } catch (error) {
    reportError(`Deleting “${name}” failed`, error);
  }
  await poller.now();
}

// --- uploading -------------------------------------------------------------------------

function showChosenFile() {
  const file = $("#upload-file").files[0];
  $("#upload-drop .drop-title").textContent = file
    ? `Selected: ${file.name} (${formatBytes(file.size)})`
    : "Choose a video, or drop it here";
}

async function submitUpload(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const file = $("#upload-file").files[0];
  if (!file) {
    setFormError(form, "Choose a video file first.");
    return;
  }
  setFormError(form, null);
  uploading = new AbortController();
  const label = $("#upload-label");
  const bar = $("#upload-progress");
  $("#upload-status").hidden = false;
  $("#upload-abort").hidden = false;
  $("#upload-submit").disabled = true;
  bar.value = 0;
  label.textContent = `Uploading “${file.name}”: 0%`;
  const onProgress = (sent, total) => {
    const share = total ? Math.min(100, Math.round((sent / total) * 100)) : 0;
    bar.value = share;
    label.textContent =
      sent >= total
        ? `Uploaded “${file.name}”; the service is checking the video…`
        : `Uploading “${file.name}”: ${share}% (${formatBytes(sent)} of ${formatBytes(total)})`;
  };
  try {
    const job = await upload("/v1/videos", file, { onProgress, signal: uploading.signal });
    bar.value = 100;
    label.textContent = `Uploaded “${file.name}”. Tracking has started.`;
    form.reset();
    showChosenFile();
    location.hash = `#videos/${encodeURIComponent(job.job_id)}`;
  } catch (error) {
    label.textContent = `The upload of “${file.name}” did not complete.`;
    setFormError(form, `The upload failed: ${error.message}`);
  } finally {
    uploading = null;
    $("#upload-abort").hidden = true;
    $("#upload-submit").disabled = false;
  }
  await poller.now();
}

// --- one job ---------------------------------------------------------------------------

function parseParam(param) {
  const [id, query = ""] = param.split("?");
  const seconds = Number.parseFloat(new URLSearchParams(query).get("t"));
  return { jobId: decodeURIComponent(id), seek: Number.isFinite(seconds) ? seconds : null };
}

async function openDetail(param) {
  const { jobId, seek } = parseParam(param);
  const same = detail?.jobId === jobId;
  // Seek only for a new moment (not when the page is merely shown again).
  const newMoment = seek !== null && (!same || seek !== detail.seek);
  detail = { jobId, seek, shownState: same ? detail.shownState : null };
  $("#job-detail").hidden = false;
  if (!same) {
    $("#job-title").textContent = jobs.get(jobId)?.filename ?? `Job ${jobId}`;
    $("#job-result").hidden = true;
    const video = $("#job-video");
    video.removeAttribute("src");
    video.load();
  }
  try {
    const job = await request(`/v1/jobs/${encodeURIComponent(jobId)}`);
    if (detail?.jobId !== jobId) return;
    jobs.set(job.job_id, job);
    renderDetail(job);
    if (same && newMoment) seekTo(seek);
  } catch (error) {
    if (error instanceof ApiError && error.code === "job_not_found") {
      notify(`No video job ${jobId}: it was deleted.`, "error");
      location.hash = "#videos";
    } else {
      reportError("Loading the job", error);
    }
  }
  $("#job-detail").scrollIntoView({ block: "nearest" });
}

function closeDetail() {
  detail = null;
  $("#job-detail").hidden = true;
  const video = $("#job-video");
  video.pause();
}

function renderDetail(job) {
  $("#job-title").textContent = job.filename;
  $("#job-state").replaceChildren(
    h("span", { class: `badge state-${job.state}` }, BADGES[job.state] ?? job.state),
    ` ${describeJob(job)}`,
  );
  $("#job-detail").dataset.state = job.state;
  const active = ACTIVE_STATES.has(job.state);
  $("#job-progress-block").hidden = !active;
  $("#job-progress").value = job.progress;
  $("#job-progress-label").textContent =
    job.state === "queued" ? "Queued" : `Tracking: ${percent(job)}`;
  renderDetailActions(job);
  if (job.state === "succeeded" && detail.shownState !== "succeeded") showResult(job);
  detail.shownState = job.state;
}

function renderDetailActions(job) {
  const buttons = [];
  if (ACTIVE_STATES.has(job.state)) {
    buttons.push(h("button", { type: "button", onclick: () => cancelJob(job.job_id) }, "Cancel"));
  }
  buttons.push(
    h(
      "button",
      { type: "button", class: "quiet danger", onclick: () => deleteJob(job.job_id) },
      "Delete",
    ),
    h("a", { class: "button quiet", href: "#videos" }, "Close"),
  );
  $("#job-actions").replaceChildren(...buttons);
}

function showResult(job) {
  const video = $("#job-video");
  const moment = detail.seek !== null ? `#t=${detail.seek}` : "";
  video.src = job.links.video + moment;
  video.addEventListener(
    "error",
    () => reportError(`Playing “${job.filename}”`, new Error(mediaError(video))),
    { once: true },
  );
  const downloads = [
    ["Tracks (JSON)", job.links.tracks, `${job.job_id}.json`],
    ["Tracks (JSON lines)", `/v1/jobs/${job.job_id}/tracks.jsonl`, `${job.job_id}.jsonl`],
    ["MOTChallenge (txt)", job.links.mot, `${job.job_id}.txt`],
    ["Annotated video (MP4)", job.links.video, `${job.job_id}.mp4`],
  ];
  $("#job-downloads").replaceChildren(
    ...downloads.map(([text, href, filename]) =>
      h("li", {}, h("a", { href: href, download: filename }, text)),
    ),
  );
  $("#job-summary").replaceChildren(...summaryFigures(job.summary ?? {}));
  $("#job-result").hidden = false;
}

function mediaError(video) {
  const codes = {
    1: "playback was stopped",
    2: "a network error interrupted the download",
    3: "the video could not be decoded",
    4: "the video could not be loaded (missing, or a format this browser cannot play)",
  };
  return codes[video.error?.code] ?? "the video could not be played";
}

function seekTo(seconds) {
  const video = $("#job-video");
  const apply = () => {
    video.currentTime = seconds;
  };
  if (video.readyState >= 1) apply();
  else video.addEventListener("loadedmetadata", apply, { once: true });
}

function summaryFigures(summary) {
  const figures = [
    ["Frames", summary.frames],
    [
      "Processing speed",
      summary.fps === undefined ? undefined : `${formatNumber(summary.fps)} frames/s`,
    ],
    ["Tracks", summary.tracks],
    ["Identities in the video", summary.identities],
    ["New identities", summary.identities_created],
    [
      "Detections that needed re-ID",
      summary.embedder_share === undefined
        ? undefined
        : `${formatNumber(summary.embedder_share * 100)}%`,
    ],
  ];
  return figures
    .filter(([, value]) => value !== undefined && value !== null)
    .flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, String(value))]);
}

// --- the page --------------------------------------------------------------------------

export function init() {
  const input = $("#upload-file");
  input.addEventListener("change", showChosenFile);
  $("#upload-form").addEventListener("submit", submitUpload);
  $("#upload-abort").addEventListener("click", () => uploading?.abort());
  wireDropZone($("#upload-drop"), input, showChosenFile);
}

/** Shown with `param` = "<job id>[?t=<seconds>]" (that job open) or empty. */
export function show(param) {
  poller.start();
  if (param) openDetail(param);
  else closeDetail();
}

export function hide() {
  poller.stop();
  $("#job-video").pause();
}
