// The Cameras page: add an RTSP camera, follow each camera's state, watch one live, remove.

import { ApiError, request } from "./api.js";
import { LiveView } from "./live.js";
import {
  $,
  clearErrors,
  confirmAction,
  formatNumber,
  h,
  notify,
  Poller,
  reportError,
  setFormError,
} from "./ui.js";

const REFRESH_MS = 2000;
const LIST_ACTION = "Loading the cameras";

const rows = new Map(); // stream id -> {row, cells}
const streams = new Map(); // stream id -> the latest status from the API
let live = null;
// When the state shown in the live view began (`state_since`). The list's poll, the camera's
// own request and the events WebSocket all report the state, and their answers can arrive
// out of order (a slow reply to an early request): an older state must not replace a newer.
let shownSince = -Infinity;
const poller = new Poller(refresh, REFRESH_MS);

// --- plain words for a camera's state --------------------------------------------------

const BADGES = {
  connecting: "Connecting",
  live: "Live",
  reconnecting: "Reconnecting",
  stopped: "Stopped",
  failed: "Failed",
};

/** {badge, text}: the state, and what it means for the person watching. */
export function describeStream(stream) {
  const badge = BADGES[stream.state] ?? stream.state;
  const reason = stream.error || stream.last_error;
  switch (stream.state) {
    case "live":
      return { badge, text: "Receiving video." };
    case "connecting":
      return { badge, text: "Connecting to the camera…" };
    case "reconnecting": {
      const cause = reason ? `: ${reason}` : "";
      return { badge, text: `Cannot get video from the camera${cause}. Retrying automatically.` };
    }
    case "failed":
      return { badge, text: `The camera cannot be used${reason ? `: ${reason}` : ""}.` };
    case "stopped":
      return { badge, text: "Stopped." };
    default:
      return { badge, text: reason ?? "" };
  }
}

// --- the list --------------------------------------------------------------------------

async function refresh() {
  let page;
  try {
    page = await request("/v1/streams");
  } catch (error) {
    reportError(LIST_ACTION, error);
    return;
  }
  clearErrors(LIST_ACTION);
  streams.clear();
  for (const stream of page.items) streams.set(stream.id, stream);
  render(page.items);
  if (live) {
    const current = streams.get(live.streamId);
    if (current) showStatus(current);
  }
}

function render(items) {
  $("#camera-empty").hidden = items.length > 0;
  $("#camera-table").hidden = items.length === 0;
  const body = $("#camera-rows");
  for (const [id, entry] of rows) {
    if (!streams.has(id)) {
      entry.row.remove();
      rows.delete(id);
    }
  }
  for (const stream of items) {
    const entry = rows.get(stream.id) ?? addRow(stream, body);
    updateRow(entry, stream);
  }
}

function addRow(stream, body) {
  const cells = {
    name: h("strong"),
    url: h("span", { class: "url" }),
    badge: h("span", { class: "badge" }),
    reason: h("span", { class: "reason" }),
    fps: h("td", { class: "num" }),
    lag: h("td", { class: "num" }),
    dropped: h("td", { class: "num" }),
  };
  const watch = h("a", { class: "button", href: `#cameras/${encodeURIComponent(stream.id)}` });
  watch.append("Watch", h("span", { class: "visually-hidden" }, ` ${stream.name}`));
  const remove = h("button", { type: "button", class: "quiet danger" }, "Remove");
  remove.addEventListener("click", () => removeCamera(stream.id, remove));
  const row = h(
    "tr",
    { dataset: { streamId: stream.id } },
    h("th", { scope: "row" }, cells.name, h("br"), cells.url),
    h("td", { class: "state" }, cells.badge, " ", cells.reason),
    cells.fps,
    cells.lag,
    cells.dropped,
    h("td", {}, h("div", { class: "actions" }, watch, remove)),
  );
  body.append(row);
  const entry = { row, cells };
  rows.set(stream.id, entry);
  return entry;
}

function updateRow({ row, cells }, stream) {
  const { badge, text } = describeStream(stream);
  row.dataset.state = stream.state;
  cells.name.textContent = stream.name;
  cells.url.textContent = stream.url;
  cells.badge.textContent = badge;
  cells.badge.className = `badge state-${stream.state}`;
  const reconnects = stream.reconnects ? ` Reconnected ${stream.reconnects} times.` : "";
  cells.reason.textContent = text + reconnects;
  cells.fps.textContent = formatNumber(stream.fps, 1);
  cells.lag.textContent = stream.lag_s === null ? "—" : `${formatNumber(stream.lag_s, 2)} s`;
  cells.dropped.textContent = String(stream.frames_dropped);
}

async function removeCamera(streamId, button) {
  const name = streams.get(streamId)?.name ?? streamId;
  const sure = await confirmAction(
    `Remove the camera “${name}”? The service stops reading it; people already seen stay in the gallery.`,
    "Remove camera",
  );
  if (!sure) return;
  button.disabled = true;
  button.textContent = "Removing…";
  try {
    await request(`/v1/streams/${encodeURIComponent(streamId)}`, { method: "DELETE" });
    notify(`Camera “${name}” removed.`, "info");
    if (live?.streamId === streamId) location.hash = "#cameras";
  } catch (error) {
    reportError(`Removing the camera “${name}” failed`, error);
    button.disabled = false;
    button.textContent = "Remove";
  }
  await poller.now();
}

// --- adding ----------------------------------------------------------------------------

async function addCamera(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const url = form.elements.url.value.trim();
  const name = form.elements.name.value.trim();
  if (!url) {
    setFormError(form, "Enter the camera's stream URL (rtsp://…).");
    form.elements.url.focus();
    return;
  }
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    const stream = await request("/v1/streams", {
      method: "POST",
      json: { url, name: name || null },
    });
    setFormError(form, null);
    form.reset();
    notify(`Camera “${stream.name}” added: connecting.`, "info");
    location.hash = `#cameras/${encodeURIComponent(stream.id)}`;
  } catch (error) {
    setFormError(form, `The camera could not be added: ${error.message}`);
  } finally {
    submit.disabled = false;
  }
  await poller.now();
}

// --- the live view ---------------------------------------------------------------------

const NO_PICTURE = {
  connecting: "Waiting for the first frame…",
  live: "Waiting for the first frame…",
  reconnecting: "No picture: the camera cannot be reached (see above).",
  failed: "No picture: the camera cannot be used (see above).",
  stopped: "No picture: the camera is stopped.",
};

function showStatus(stream) {
  if (stream.state_since < shownSince) return;
  shownSince = stream.state_since;
  const { badge, text } = describeStream(stream);
  $("#live-placeholder").textContent = NO_PICTURE[stream.state] ?? "No picture.";
  const status = $("#live-status");
  const fps = stream.fps === undefined ? "" : ` ${formatNumber(stream.fps, 1)} frames/s.`;
  status.replaceChildren(
    h("span", { class: `badge state-${stream.state}` }, badge),
    ` ${text}${stream.state === "live" ? fps : ""}`,
  );
}

function openLive(streamId) {
  if (live?.streamId === streamId) return;
  closeLive();
  const panel = $("#live-view");
  panel.hidden = false;
  const known = streams.get(streamId);
  $("#live-title").textContent = `Live view: ${known?.name ?? streamId}`;
  $("#live-status").replaceChildren(); // nothing of the camera watched before
  shownSince = -Infinity;
  const view = new LiveView(streamId, {
    onGone: () => {
      notify(`The camera ${known?.name ?? streamId} no longer exists.`, "error");
      location.hash = "#cameras";
    },
    onStatus: (status) => showStatus({ ...(streams.get(streamId) ?? {}), ...status }),
  });
  live = view;
  view.start();
  if (known) showStatus(known);
  request(`/v1/streams/${encodeURIComponent(streamId)}`).then(
    (stream) => {
      if (live !== view) return; // closed, or another camera opened, meanwhile
      $("#live-title").textContent = `Live view: ${stream.name}`;
      showStatus(stream);
    },
    (error) => {
      if (live !== view) return;
      if (error instanceof ApiError && error.code === "stream_not_found") view.onGone();
      else reportError("Opening the live view", error);
    },
  );
  panel.scrollIntoView({ block: "nearest" });
}

function closeLive() {
  live?.stop();
  live = null;
  $("#live-view").hidden = true;
}

// --- the page --------------------------------------------------------------------------

export function init() {
  $("#camera-form").addEventListener("submit", addCamera);
  $("#live-close").addEventListener("click", () => {
    location.hash = "#cameras";
  });
}

/** Shown with `param` = a stream id (its live view) or empty. */
export function show(param) {
  poller.start();
  if (param) openLive(param);
  else closeLive();
}

export function hide() {
  poller.stop();
  closeLive();
}
