// One camera's live view: the latest annotated frame (polled from frame.jpg, boxes and
// identity labels drawn by the service), and the people in view from the events WebSocket.

import { ApiError, request, webSocketUrl } from "./api.js";
import { $, clearErrors, formatNumber, h, identityName, Poller, reportError } from "./ui.js";

const FRAME_INTERVAL_MS = 250;
const NO_FRAME_INTERVAL_MS = 1000;
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 10000;
const ACTIVITY_KEPT = 15;
const EVENTS_ACTION = "Following the camera's live events";
// Tracks in these states are not (or no longer) on screen.
const HIDDEN_TRACK_STATES = new Set(["lost", "removed"]);

export class LiveView {
  /** `onGone()` is called when the camera no longer exists, `onStatus({state, error,
   * state_since})` with each state the events WebSocket reports. */
  constructor(streamId, { onGone, onStatus }) {
    this.streamId = streamId;
    this.onGone = onGone;
    this.onStatus = onStatus;
    this.base = `/v1/streams/${encodeURIComponent(streamId)}`;
    // Until the first frame, ask less often.
    this.framePoller = new Poller(
      () => this.refreshFrame(),
      () => (this.lastFrame === null ? NO_FRAME_INTERVAL_MS : FRAME_INTERVAL_MS),
    );
    this.objectUrl = null;
    this.lastFrame = null;
    this.socket = null;
    this.reconnectMs = RECONNECT_MIN_MS;
    this.reconnectTimer = null;
    this.stopped = true;
    this.ended = false;
    this.peopleSignature = null;
  }

  start() {
    this.stopped = false;
    this.resetPanel();
    this.framePoller.start();
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.framePoller.stop();
    clearTimeout(this.reconnectTimer);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close(1000, "live view closed");
      this.socket = null;
    }
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = null;
    clearErrors(this.frameAction());
    clearErrors(EVENTS_ACTION);
  }

  resetPanel() {
    const image = $("#live-image");
    image.hidden = true;
    image.removeAttribute("src");
    delete image.dataset.frame;
    $("#live-placeholder").hidden = false;
    $("#live-placeholder").textContent = "Waiting for the first frame…";
    $("#live-caption").textContent = "";
    $("#in-view").replaceChildren();
    $("#in-view-count").textContent = "";
    $("#activity").replaceChildren();
    $("#events-state").textContent = "Connecting to live events…";
    $("#live-mjpeg").href = `${this.base}/mjpeg`;
  }

  frameAction() {
    return "Showing the camera's latest frame";
  }

  // --- frames --------------------------------------------------------------------------

  async refreshFrame() {
    if (document.visibilityState !== "visible") return;
    let response;
    try {
      response = await request(`${this.base}/frame.jpg`, { raw: true });
    } catch (error) {
      this.frameFailed(error);
      return;
    }
    const index = response.headers.get("X-Frame-Index");
    const blob = await response.blob();
    if (this.stopped || index === this.lastFrame) return;
    this.lastFrame = index;
    clearErrors(this.frameAction());
    const image = $("#live-image");
    const previous = this.objectUrl;
    this.objectUrl = URL.createObjectURL(blob);
    image.src = this.objectUrl;
    image.dataset.frame = index ?? "";
    image.hidden = false;
    $("#live-placeholder").hidden = true;
    if (previous) {
      image.addEventListener("load", () => URL.revokeObjectURL(previous), { once: true });
    }
    const time = new Date().toLocaleTimeString();
    $("#live-caption").textContent = `Frame ${index} · shown at ${time}`;
  }

  frameFailed(error) {
    if (error instanceof ApiError && error.code === "no_frame_yet") return; // the state says why
    if (error instanceof ApiError && error.code === "stream_not_found") {
      this.onGone();
      return;
    }
    reportError(this.frameAction(), error);
  }

  // --- events --------------------------------------------------------------------------

  connect() {
    if (this.stopped || this.ended) return;
    let opened = false;
    const socket = new WebSocket(webSocketUrl(`${this.base}/events`));
    this.socket = socket;
    socket.onopen = () => {
      opened = true;
      this.reconnectMs = RECONNECT_MIN_MS;
      clearErrors(EVENTS_ACTION);
      $("#events-state").textContent = "Live events connected.";
    };
    socket.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        reportError(EVENTS_ACTION, new Error("the service sent a message that is not JSON"));
        return;
      }
      this.handle(event);
    };
    socket.onclose = (close) => {
      this.socket = null;
      if (this.stopped || this.ended) return;
      const reason = close.reason ? `: ${close.reason}` : "";
      const what = opened ? "Live events were disconnected" : "Live events could not be opened";
      $("#events-state").textContent = `${what}${reason}. Retrying…`;
      this.recheckThenReconnect();
    };
  }

  /** After a closed socket: the HTTP API says why (removed camera, API key), then retry. */
  async recheckThenReconnect() {
    try {
      await request(this.base);
    } catch (error) {
      if (error instanceof ApiError && error.code === "stream_not_found") {
        this.onGone();
        return;
      }
      reportError(EVENTS_ACTION, error);
    }
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), this.reconnectMs);
    this.reconnectMs = Math.min(this.reconnectMs * 2, RECONNECT_MAX_MS);
  }

  handle(event) {
    switch (event.type) {
      case "frame":
        this.showPeople(event.tracks);
        $("#events-state").textContent =
          `Live events connected · frame ${event.frame} · lag ${formatNumber(event.lag_s, 2)} s`;
        break;
      case "identity_appeared":
      case "identity_left":
        this.addActivity(event);
        break;
      case "status":
        // The event's timestamp is when the state began: the API's `state_since`.
        this.onStatus?.({ state: event.state, error: event.error, state_since: event.timestamp });
        break;
      case "end":
        this.ended = true;
        $("#events-state").textContent =
          `Live events ended: ${event.reason || "the stream ended"}.`;
        break;
      default: // heartbeat, and kinds this page does not know yet
        break;
    }
  }

  showPeople(tracks) {
    const visible = tracks.filter((track) => !HIDDEN_TRACK_STATES.has(track.state));
    const byIdentity = new Map();
    for (const track of visible) {
      if (track.identity_id !== null && track.identity_id !== undefined) {
        byIdentity.set(track.identity_id, track);
      }
    }
    const people = [...byIdentity.values()].sort((a, b) => a.identity_id - b.identity_id);
    const unresolved = visible.filter((track) => track.identity_id == null).length;
    const signature = JSON.stringify([
      people.map((p) => [p.identity_id, p.label, p.track_id, p.identity_provisional]),
      unresolved,
    ]);
    if (signature === this.peopleSignature) return;
    this.peopleSignature = signature;

    const items = people.map((track) => {
      const name = identityName(track.identity_id, track.label);
      const thumbnail = h("img", {
        class: "thumb small",
        alt: "",
        loading: "lazy",
        src: `/v1/identities/${track.identity_id}/thumbnail.jpg`,
        onerror: (event) => event.target.remove(),
      });
      return h(
        "li",
        { dataset: { identityId: String(track.identity_id), label: track.label ?? "" } },
        thumbnail,
        h(
          "span",
          {},
          h("a", { href: `#identities/${track.identity_id}`, class: "person-name" }, name),
          h("span", { class: "hint" }, track.label ? ` · ID ${track.identity_id}` : ""),
          h("span", { class: "hint" }, ` · track ${track.track_id}`),
          h("span", { class: "hint" }, track.identity_provisional ? " · still deciding" : ""),
        ),
      );
    });
    if (unresolved) {
      const word = unresolved === 1 ? "person" : "people";
      items.push(h("li", { class: "hint" }, `${unresolved} ${word} not identified yet`));
    }
    if (!items.length) items.push(h("li", { class: "hint" }, "Nobody in view."));
    $("#in-view").replaceChildren(...items);
    $("#in-view-count").textContent = `(${people.length})`;
  }

  addActivity(event) {
    const name = identityName(event.identity_id, event.label);
    const verb = event.type === "identity_appeared" ? "came into view" : "left";
    const at = new Date((event.timestamp ?? Date.now() / 1000) * 1000);
    const item = h(
      "li",
      {},
      h("time", { datetime: at.toISOString() }, at.toLocaleTimeString()),
      " ",
      h("a", { href: `#identities/${event.identity_id}` }, name),
      ` ${verb}`,
    );
    const list = $("#activity");
    list.prepend(item);
    while (list.children.length > ACTIVITY_KEPT) list.lastElementChild.remove();
  }
}
