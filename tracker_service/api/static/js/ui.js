// Small DOM helpers shared by the pages: building elements, messages, confirmations,
// formatting, and a poller that never overlaps itself.

/** h("a", {href: "#x", class: "button"}, "text", childNode): attributes, handlers, children. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

export const $ = (selector, root = document) => root.querySelector(selector);

// --- messages --------------------------------------------------------------------------

const INFO_VISIBLE_MS = 6000;

/**
 * Show a message at the top of the page. Errors stay until dismissed or cleared;
 * information fades after a few seconds. Messages with the same `key` (an action that a
 * poller repeats) are one message whose text follows the latest outcome.
 */
export function notify(text, kind = "error", key = text) {
  const region = $("#notices");
  const existing = [...region.children].find((note) => note.dataset.key === key);
  if (existing) {
    if (existing.dataset.text !== text) {
      existing.dataset.text = text;
      existing.querySelector("p").textContent = text;
    }
    return existing;
  }
  const close = h("button", { type: "button", class: "quiet", "aria-label": "Dismiss" }, "×");
  const note = h(
    "div",
    {
      class: `notice ${kind}`,
      role: kind === "error" ? "alert" : "status",
      dataset: { key, text },
    },
    h("p", {}, text),
    close,
  );
  close.addEventListener("click", () => note.remove());
  region.append(note);
  if (kind !== "error") setTimeout(() => note.remove(), INFO_VISIBLE_MS);
  return note;
}

/** Report a failed action: "<what was being done>: <the API's detail>". */
export function reportError(action, error) {
  if (error?.name === "AbortError") return;
  const reason = error?.message || String(error);
  notify(`${action}: ${reason}`, "error", action);
}

/** Remove the error reported for `action` (the problem went away). */
export function clearErrors(action) {
  for (const note of [...$("#notices").children]) {
    if (note.dataset.key === action) note.remove();
  }
}

/** Show `message` as the form's error (under it, announced), or clear it with null. */
export function setFormError(form, message) {
  let line = form.querySelector(":scope > .form-error");
  if (!message) {
    line?.remove();
    return;
  }
  if (!line) {
    line = h("p", { class: "form-error", role: "alert" });
    form.append(line);
  }
  line.textContent = message;
}

/** Files dropped on `zone` go to `input`, then `onFile(file)`. */
export function wireDropZone(zone, input, onFile) {
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const files = event.dataTransfer?.files;
    if (!files?.length) return;
    input.files = files;
    onFile(files[0]);
  });
}

/** Ask the person to confirm with the page's <dialog>; resolves to true or false. */
export function confirmAction(message, confirmLabel = "Confirm") {
  const dialog = $("#confirm-dialog");
  $("#confirm-message").textContent = message;
  $("#confirm-ok").textContent = confirmLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

/** Close a dialog from its buttons marked `data-close` (they are not submit buttons). */
export function wireDialogCloseButtons() {
  for (const button of document.querySelectorAll("dialog [data-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close("cancel"));
  }
}

// --- formatting ------------------------------------------------------------------------

export function identityName(identityId, label) {
  return label || `ID ${identityId}`;
}

export function formatTime(epochSeconds) {
  if (epochSeconds === null || epochSeconds === undefined) return "—";
  const date = new Date(epochSeconds * 1000);
  const thisYear = date.getFullYear() === new Date().getFullYear();
  return date.toLocaleString(undefined, {
    year: thisYear ? undefined : "numeric",
    month: "short",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function formatAgo(epochSeconds) {
  const seconds = Math.max(0, Date.now() / 1000 - epochSeconds);
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

/** Media time as m:ss.s (a moment in a video). */
export function formatMediaTime(seconds) {
  const minutes = Math.floor(seconds / 60);
  const rest = (seconds - minutes * 60).toFixed(1).padStart(4, "0");
  return `${minutes}:${rest}`;
}

export function formatBytes(bytes) {
  const units = ["bytes", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

export function formatNumber(value, digits = 1) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

// --- polling ---------------------------------------------------------------------------

/**
 * Calls `task` every `intervalMs` (a number or a function giving one) while started. Calls
 * never overlap: `now()` during a call runs the task once more right after it.
 */
export class Poller {
  constructor(task, intervalMs) {
    this.task = task;
    this.intervalMs = intervalMs;
    this.timer = null;
    this.running = false;
    this.inFlight = null;
    this.again = false;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.tick();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** Run now (after an action, say), then keep the rhythm. */
  now() {
    return this.tick();
  }

  async tick() {
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    clearTimeout(this.timer);
    this.timer = null;
    this.inFlight = Promise.resolve()
      .then(() => this.task())
      .catch((error) => reportError("Refreshing the page failed", error));
    await this.inFlight;
    this.inFlight = null;
    if (this.again) {
      this.again = false;
      return this.tick();
    }
    if (this.running) {
      const delay = typeof this.intervalMs === "function" ? this.intervalMs() : this.intervalMs;
      this.timer = setTimeout(() => this.tick(), delay);
    }
    return undefined;
  }
}
