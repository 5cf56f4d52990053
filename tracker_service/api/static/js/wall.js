// The Wall: every camera at once, each with its latest frame and its live counts.

import { request } from "./api.js";
import { $, h, Poller } from "./ui.js";
import { describeStream } from "./cameras.js";

const REFRESH_MS = 1500;
const tiles = new Map(); // stream id -> {tile, image, state, counts}
const poller = new Poller(refresh, REFRESH_MS);

/** "door: 3 in · 1 out" and "floor: 2 now · 5 visits": the counts in a few words. */
export function countsText(counts) {
  const parts = [];
  for (const [name, line] of Object.entries(counts.lines ?? {})) {
    parts.push(`${name}: ${line.in} in · ${line.out} out`);
  }
  for (const [name, zone] of Object.entries(counts.zones ?? {})) {
    parts.push(`${name}: ${zone.occupancy} now · ${zone.visits} visits`);
  }
  return parts.length ? parts.join(" | ") : "No zones or lines";
}

function tileFor(stream) {
  let entry = tiles.get(stream.id);
  if (entry) return entry;
  const image = h("img", { alt: `Latest frame of ${stream.name}`, class: "wall-frame" });
  const state = h("span", { class: "badge" });
  const counts = h("p", { class: "wall-counts", "data-counts": stream.id });
  const tile = h(
    "article",
    { class: "wall-tile card", dataset: { stream: stream.id } },
    h("header", {}, h("h2", {}, stream.name), state),
    image,
    counts,
    h("a", { href: `#zones/${stream.id}`, class: "button quiet" }, "Zones and lines"),
  );
  entry = { tile, image, state, counts };
  tiles.set(stream.id, entry);
  $("#wall-grid").append(tile);
  return entry;
}

async function refresh() {
  const { items } = await request("/v1/streams");
  $("#wall-empty").hidden = items.length > 0;
  const seen = new Set();
  await Promise.all(
    items.map(async (stream) => {
      seen.add(stream.id);
      const entry = tileFor(stream);
      const { badge } = describeStream(stream);
      entry.state.textContent = badge;
      entry.state.dataset.state = stream.state;
      if (stream.state === "live") {
        entry.image.src = `/v1/streams/${stream.id}/frame.jpg?t=${Date.now()}`;
      }
      const counts = await request(`/v1/streams/${stream.id}/counts`);
      entry.counts.textContent = countsText(counts);
    }),
  );
  for (const [id, entry] of tiles) {
    if (!seen.has(id)) {
      entry.tile.remove();
      tiles.delete(id);
    }
  }
}

export function init() {}

export function show() {
  poller.start();
}

export function hide() {
  poller.stop();
}
