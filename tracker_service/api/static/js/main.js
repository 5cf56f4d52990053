// The console's entry point: hash routes (#cameras, #videos/<job>, #identities/<id>), the
// API key dialog, and the service's readiness in the header.

import { logIn, onKeyNeeded, readiness } from "./api.js";
import * as cameras from "./cameras.js";
import * as events from "./events.js";
import * as identities from "./identities.js";
import * as videos from "./videos.js";
import * as wall from "./wall.js";
import * as zones from "./zones.js";
import { $, notify, wireDialogCloseButtons } from "./ui.js";

const PAGES = { cameras, wall, zones, events, videos, identities };
const DEFAULT_PAGE = "cameras";
const READY_POLL_MS = 3000;
const TITLES = {
  cameras: "Cameras",
  wall: "Wall",
  zones: "Zones and counts",
  events: "Events",
  videos: "Videos",
  identities: "Identities",
};

let current = null; // the page shown

function parseHash() {
  const route = location.hash.replace(/^#\/?/, "");
  const slash = route.indexOf("/");
  const name = slash < 0 ? route : route.slice(0, slash);
  const param = slash < 0 ? "" : route.slice(slash + 1);
  return PAGES[name] ? { name, param } : { name: DEFAULT_PAGE, param: "" };
}

function route() {
  const { name, param } = parseHash();
  if (current && current !== name) PAGES[current].hide();
  for (const page of Object.keys(PAGES)) $(`#page-${page}`).hidden = page !== name;
  for (const link of document.querySelectorAll("nav [data-page]")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${TITLES[name]} · tracker-service`;
  const changed = current !== name;
  current = name;
  PAGES[name].show(param);
  if (changed) $("#main").focus({ preventScroll: true });
}

function onVisibility() {
  if (!current) return;
  if (document.visibilityState === "hidden") PAGES[current].hide();
  else PAGES[current].show(parseHash().param);
}

// --- the API key -----------------------------------------------------------------------

function askForKey(reason) {
  const dialog = $("#key-dialog");
  const input = $("#key-input");
  $("#key-message").textContent = reason
    ? `The service refused the request: ${reason}. Enter its API key.`
    : "Enter the service's API key to log in, or leave it empty to log out.";
  input.value = "";
  dialog.returnValue = "";
  dialog.showModal();
  input.focus();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        if (dialog.returnValue !== "ok") {
          resolve(null);
          return;
        }
        resolve(input.value.trim() || null);
      },
      { once: true },
    );
  });
}

// --- readiness -------------------------------------------------------------------------

async function watchReadiness() {
  const line = $("#service-state");
  const ready = await readiness();
  line.dataset.status = ready.status;
  if (ready.status === "ready") {
    line.textContent = `Ready · ${ready.identities} identities`;
    setTimeout(watchReadiness, READY_POLL_MS * 10);
    return;
  }
  if (ready.status === "failed") {
    line.textContent = "Not working";
    notify(`The service cannot work: ${ready.detail}`, "error");
    return;
  }
  // Unreachable: the header says so, and each page reports its own failed requests.
  line.textContent = ready.status === "loading" ? "Loading models…" : "Unreachable";
  setTimeout(watchReadiness, READY_POLL_MS);
}

// --- start -----------------------------------------------------------------------------

function start() {
  wireDialogCloseButtons();
  onKeyNeeded(askForKey);
  $("#api-key-button").addEventListener("click", async () => {
    // A key logs in (a session cookie); an empty one logs out.
    const key = await askForKey(null);
    if (key === null && $("#key-dialog").returnValue !== "ok") return;
    try {
      await logIn(key ?? "");
    } catch (error) {
      notify(`Logging in failed: ${error.message}`, "error");
      return;
    }
    if (current) PAGES[current].show(parseHash().param);
  });
  for (const page of Object.values(PAGES)) page.init();
  window.addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", onVisibility);
  window.addEventListener("unhandledrejection", (event) => {
    notify(`Something went wrong: ${event.reason?.message ?? event.reason}`, "error");
  });
  route();
  watchReadiness();
}

start();
