// The API client: requests with the optional API key, errors in plain words, uploads with
// progress. Every failure becomes an ApiError whose message can be shown as is.

const KEY_STORAGE = "tracker-service.api-key";

export class ApiError extends Error {
  constructor(message, { status = 0, code = "network_error" } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

// --- the API key -----------------------------------------------------------------------

export function apiKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return ""; // storage disabled: work without a key
  }
}

export function setApiKey(key) {
  declined = false;
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled: the key lasts as long as nothing asks for it again
  }
}

// The page decides how to ask for a key (a dialog); the client asks once at a time, and not
// again after the person declined, until a key is set (the header's "API key" button).
let askForKey = async () => null;
let pendingAsk = null;
let declined = false;

export function onKeyNeeded(ask) {
  askForKey = ask;
}

function keyFromUser(reason) {
  if (declined) return Promise.resolve(null);
  pendingAsk ??= askForKey(reason)
    .then((key) => {
      if (!key) declined = true;
      return key;
    })
    .finally(() => {
      pendingAsk = null;
    });
  return pendingAsk;
}

/** `url` with `?api_key=` when a key is set: for <img>, <video>, links and WebSockets. */
export function withKey(url) {
  const key = apiKey();
  if (!key) return url;
  const full = new URL(url, location.href);
  full.searchParams.set("api_key", key);
  return full.pathname + full.search + full.hash;
}

export function webSocketUrl(path) {
  const full = new URL(withKey(path), location.href);
  full.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  return full.href;
}

function authHeaders() {
  const key = apiKey();
  return key ? { "X-API-Key": key } : {};
}

// --- errors ----------------------------------------------------------------------------

const NETWORK_MESSAGE =
  "cannot reach the service (the network request failed): check that it is running";

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((item) => item.msg ?? String(item)).join("; ");
  return "";
}

/** An ApiError from a response that is not OK: the API's `detail`, or the HTTP status. */
export async function errorFrom(response) {
  let detail = "";
  let code = "http_error";
  try {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      detail = detailText(body.detail);
      code = body.code || code;
    } catch {
      detail = text.trim().slice(0, 300);
    }
  } catch {
    // the body could not be read: the status says enough
  }
  const status = `${response.status} ${response.statusText}`.trim();
  return new ApiError(detail || `the service answered ${status}`, {
    status: response.status,
    code,
  });
}

// --- requests --------------------------------------------------------------------------

/**
 * A request to the API. `json` is sent as a JSON body, `body` as is (FormData).
 * Returns the parsed JSON (null for 204), or the Response itself with `raw: true`.
 * A 401 asks the person for a key once and retries.
 */
export async function request(path, { method = "GET", json, body, raw = false, signal } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const headers = { Accept: "application/json", ...authHeaders() };
    let payload = body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body: payload, signal, cache: "no-store" });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(NETWORK_MESSAGE);
    }
    if (response.status === 401 && attempt === 0) {
      const problem = await errorFrom(response);
      if (await keyFromUser(problem.message)) continue;
      throw problem;
    }
    if (!response.ok) throw await errorFrom(response);
    if (raw) return response;
    if (response.status === 204) return null;
    try {
      return await response.json();
    } catch {
      throw new ApiError(`the service sent an unreadable answer to ${method} ${path}`, {
        status: response.status,
        code: "bad_response",
      });
    }
  }
}

/**
 * Upload `file` as the multipart field `file` with XMLHttpRequest (fetch reports no upload
 * progress). `onProgress(sentBytes, totalBytes)`; abort with `signal`. Resolves to the JSON.
 */
export async function upload(path, file, { onProgress = () => {}, signal } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await uploadOnce(path, file, onProgress, signal);
    } catch (error) {
      if (error.status === 401 && attempt === 0 && (await keyFromUser(error.message))) continue;
      throw error;
    }
  }
}

function uploadOnce(path, file, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    });
    xhr.addEventListener("load", () => {
      const response = new Response(xhr.responseText || null, {
        status: xhr.status,
        statusText: xhr.statusText,
      });
      if (xhr.status >= 200 && xhr.status < 300) {
        response.json().then(resolve, () => {
          reject(new ApiError("the service sent an unreadable answer to the upload"));
        });
      } else {
        errorFrom(response).then(reject);
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(NETWORK_MESSAGE)));
    xhr.addEventListener("abort", () => {
      reject(new ApiError("the upload was stopped", { code: "aborted" }));
    });
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

/** Readiness without the API key (`/readyz` is open): {status, detail}. */
export async function readiness() {
  try {
    const response = await fetch("/readyz", { cache: "no-store" });
    return await response.json();
  } catch {
    return { status: "unreachable", detail: NETWORK_MESSAGE };
  }
}
