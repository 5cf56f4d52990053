// Zones and lines of a camera, drawn on its latest frame, and its live counts.
//
// Coordinates are normalised (0-1 of the frame's width and height), as the API takes them.
// "Draw zone": click the corners, then "Finish zone". "Draw line": click its start and its
// end; walking from start to end, "in" is on the right-hand side (shown by the arrow).

import { request } from "./api.js";
import { $, clearErrors, h, notify, Poller, reportError } from "./ui.js";
import { countsText } from "./wall.js";

const FRAME_MS = 2000;
const COUNTS_MS = 1000;
const SAVE_ACTION = "Saving the zones";

let streamId = null;
let zoneSet = { zones: [], lines: [] };
let drawing = null; // {kind: "zone" | "line", points: [[x, y], ...]}
const framePoller = new Poller(refreshFrame, FRAME_MS);
const countsPoller = new Poller(refreshCounts, COUNTS_MS);

function canvas() {
  return $("#zone-canvas");
}

function draw() {
  const surface = canvas();
  const rect = $("#zone-image").getBoundingClientRect();
  surface.width = rect.width;
  surface.height = rect.height;
  const context = surface.getContext("2d");
  context.clearRect(0, 0, surface.width, surface.height);
  const px = ([x, y]) => [x * surface.width, y * surface.height];
  context.lineWidth = 2;
  context.font = "14px sans-serif";
  const polygon = (points, colour, closed) => {
    context.strokeStyle = colour;
    context.fillStyle = colour;
    context.beginPath();
    points.forEach((point, index) => {
      const [x, y] = px(point);
      if (index === 0) context.moveTo(x, y);
      else context.lineTo(x, y);
    });
    if (closed) context.closePath();
    context.stroke();
  };
  for (const zone of zoneSet.zones) {
    polygon(zone.points, "#22c55e", true);
    context.fillText(zone.name, ...px(zone.points[0]));
  }
  for (const line of zoneSet.lines) {
    polygon([line.start, line.end], "#e879f9", false);
    const [x1, y1] = px(line.start);
    const [x2, y2] = px(line.end);
    const [mx, my] = [(x1 + x2) / 2, (y1 + y2) / 2];
    const length = Math.hypot(x2 - x1, y2 - y1) || 1;
    // The "in" side: right-hand side of start -> end (image y points down).
    const [nx, ny] = [-(y2 - y1) / length, (x2 - x1) / length];
    polygon([[mx / surface.width, my / surface.height],
      [(mx + nx * 20) / surface.width, (my + ny * 20) / surface.height]], "#e879f9", false);
    context.fillText(`${line.name} (in →)`, x1 + 4, y1 - 4);
  }
  if (drawing) polygon(drawing.points, "#facc15", false);
}

function onCanvasClick(event) {
  if (!drawing) return;
  const rect = canvas().getBoundingClientRect();
  const clamp = (value) => Math.min(1, Math.max(0, value));
  const point = [
    clamp((event.clientX - rect.left) / rect.width),
    clamp((event.clientY - rect.top) / rect.height),
  ].map((value) => Math.round(value * 10000) / 10000);
  drawing.points.push(point);
  if (drawing.kind === "line" && drawing.points.length === 2) finish();
  else draw();
  $("#zone-finish").disabled = !(drawing && drawing.kind === "zone" && drawing.points.length >= 3);
}

function start(kind) {
  drawing = { kind, points: [] };
  $("#zone-hint").textContent =
    kind === "zone"
      ? "Click the corners of the zone on the picture, then Finish zone."
      : "Click where the line starts, then where it ends (in = the right-hand side).";
  draw();
}

function finish() {
  const name = $("#zone-name").value.trim() || `${drawing.kind} ${zoneSet.zones.length + zoneSet.lines.length + 1}`;
  if (drawing.kind === "zone") zoneSet.zones.push({ name, points: drawing.points });
  else zoneSet.lines.push({ name, start: drawing.points[0], end: drawing.points[1] });
  drawing = null;
  $("#zone-finish").disabled = true;
  $("#zone-hint").textContent = "Save to start counting with it.";
  renderList();
  draw();
}

function renderList() {
  const list = $("#zone-list");
  list.replaceChildren(
    ...zoneSet.zones.map((zone) => item(zone.name, "zone")),
    ...zoneSet.lines.map((line) => item(line.name, "line")),
  );
}

function item(name, kind) {
  const remove = () => {
    zoneSet = {
      zones: zoneSet.zones.filter((zone) => zone.name !== name),
      lines: zoneSet.lines.filter((line) => line.name !== name),
    };
    renderList();
    draw();
  };
  return h("li", {}, `${name} (${kind}) `, h("button", { type: "button", class: "quiet", onclick: remove }, "Remove"));
}

async function save() {
  try {
    zoneSet = await request(`/v1/streams/${streamId}/zones`, { method: "PUT", json: zoneSet });
    clearErrors(SAVE_ACTION);
    notify("Zones saved: counting starts with the next frame.", "info");
    renderList();
    draw();
    countsPoller.now();
  } catch (error) {
    reportError(SAVE_ACTION, error);
  }
}

async function refreshFrame() {
  if (!streamId) return;
  const image = $("#zone-image");
  image.src = `/v1/streams/${streamId}/frame.jpg?t=${Date.now()}`;
}

async function refreshCounts() {
  if (!streamId) return;
  const counts = await request(`/v1/streams/${streamId}/counts`);
  $("#zone-counts").textContent = countsText(counts);
  const rows = [];
  for (const [name, line] of Object.entries(counts.lines)) {
    rows.push(h("tr", { dataset: { name } }, h("th", {}, name), h("td", {}, `${line.in} in`), h("td", {}, `${line.out} out`)));
  }
  for (const [name, zone] of Object.entries(counts.zones)) {
    rows.push(
      h("tr", { dataset: { name } }, h("th", {}, name), h("td", { class: "occupancy" }, `${zone.occupancy} now`),
        h("td", { class: "visits" }, `${zone.visits} visits, ${zone.mean_dwell_s} s mean`)),
    );
  }
  $("#zone-count-rows").replaceChildren(...rows);
}

async function pickStream(param) {
  const { items } = await request("/v1/streams");
  const select = $("#zone-stream");
  select.replaceChildren(...items.map((stream) => h("option", { value: stream.id }, stream.name)));
  $("#zone-empty").hidden = items.length > 0;
  $("#zone-editor").hidden = items.length === 0;
  streamId = items.some((stream) => stream.id === param) ? param : items[0]?.id ?? null;
  if (!streamId) return;
  select.value = streamId;
  zoneSet = await request(`/v1/streams/${streamId}/zones`);
  drawing = null;
  renderList();
  framePoller.now();
  countsPoller.now();
}

export function init() {
  $("#zone-image").addEventListener("load", draw);
  canvas().addEventListener("click", onCanvasClick);
  $("#zone-draw-zone").addEventListener("click", () => start("zone"));
  $("#zone-draw-line").addEventListener("click", () => start("line"));
  $("#zone-finish").addEventListener("click", finish);
  $("#zone-save").addEventListener("click", save);
  $("#zone-stream").addEventListener("change", (event) => {
    location.hash = `#zones/${event.target.value}`;
  });
}

export function show(param) {
  pickStream(param).catch((error) => reportError("Loading the cameras", error));
  framePoller.start();
  countsPoller.start();
}

export function hide() {
  framePoller.stop();
  countsPoller.stop();
}
