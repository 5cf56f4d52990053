// The event history: filters (camera, person, kind, time), pages, a snapshot per event.

import { request } from "./api.js";
import { $, formatNumber, h, identityName, Poller } from "./ui.js";
import { loadCatalog, sourceLink } from "./sources.js";

const REFRESH_MS = 5000;
const PAGE_SIZE = 25;
let offset = 0;
const poller = new Poller(refresh, REFRESH_MS);

const KIND_WORDS = {
  appeared: "Appeared",
  left: "Left",
  entered_zone: "Entered",
  left_zone: "Left zone",
  crossed_line: "Crossed",
};

function filters() {
  const form = $("#event-filters");
  const params = new URLSearchParams();
  for (const name of ["stream", "identity", "kind"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  for (const name of ["since", "until"]) {
    const value = form.elements[name].value;
    if (value) params.set(name, String(new Date(value).getTime() / 1000));
  }
  params.set("offset", String(offset));
  params.set("limit", String(PAGE_SIZE));
  return params;
}

function detail(event) {
  const parts = [event.name ?? ""];
  if (event.direction) parts.push(event.direction);
  if (event.dwell_s !== undefined) parts.push(`${formatNumber(event.dwell_s)} s`);
  return parts.filter(Boolean).join(" · ");
}

function row(event) {
  const who = event.identity_id === null
    ? "unknown"
    : h("a", { href: `#identities/${event.identity_id}` }, identityName(event.identity_id, event.label));
  const snapshot = event.snapshot
    ? h("a", { href: event.snapshot, target: "_blank", rel: "noopener" },
      h("img", { src: event.snapshot, alt: `Snapshot of event ${event.id}`, class: "event-snapshot", loading: "lazy" }))
    : "—";
  return h(
    "tr",
    { dataset: { event: event.id, kind: event.kind } },
    h("td", {}, snapshot),
    h("td", {}, new Date(event.time).toLocaleString()),
    h("td", {}, sourceLink(event.source, event.source.startsWith("job:") ? event.media_s : undefined)),
    h("td", {}, who),
    h("td", {}, KIND_WORDS[event.kind] ?? event.kind),
    h("td", { class: "event-detail" }, detail(event)),
  );
}

async function refresh() {
  await loadCatalog();
  const page = await request(`/v1/events?${filters()}`);
  $("#event-rows").replaceChildren(...page.items.map(row));
  $("#event-empty").hidden = page.items.length > 0;
  $("#event-table").hidden = page.items.length === 0;
  const last = Math.min(page.total, offset + page.items.length);
  $("#event-range").textContent = page.total ? `${offset + 1}–${last} of ${page.total}` : "";
  $("#event-prev").disabled = offset === 0;
  $("#event-next").disabled = last >= page.total;
}

async function loadCameras() {
  const { items } = await request("/v1/streams");
  const select = $("#event-filters").elements.stream;
  const chosen = select.value;
  select.replaceChildren(h("option", { value: "" }, "All cameras"),
    ...items.map((stream) => h("option", { value: stream.id }, stream.name)));
  select.value = chosen;
}

export function init() {
  $("#event-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    offset = 0;
    poller.now();
  });
  $("#event-prev").addEventListener("click", () => {
    offset = Math.max(0, offset - PAGE_SIZE);
    poller.now();
  });
  $("#event-next").addEventListener("click", () => {
    offset += PAGE_SIZE;
    poller.now();
  });
}

export function show() {
  loadCameras().catch(() => {});
  poller.start();
}

export function hide() {
  poller.stop();
}
