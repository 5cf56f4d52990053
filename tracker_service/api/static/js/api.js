// The API client: requests (with the session of the optional API key), errors in plain
// words, uploads with progress. Every failure becomes an ApiError whose message can be shown
// as is.

export class ApiError extends Error {
  constructor(message, { status = 0, code = "network_error" } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

// --- the API key -----------------------------------------------------------------------
// The key never sits in the page or its URLs: the console logs in once (POST /v1/session)
// and the service answers with an HttpOnly session cookie that every request, image, video
// and WebSocket of this origin then carries.

// The page decides how to ask for a key (a dialog); the client asks once at a time, and not
// again after the person declined, until they log in (the header's "API key" button).
let askForKey = async () => null;
let pendingAsk = null;
let declined = false;

export function onKeyNeeded(ask) {
  askForKey = ask;
}

/** Log in with `key` (a session cookie), or log out with an empty key. */
export async function logIn(key) {
  declined = false;
  let response;
  try {
    response = await fetch("/v1/session", {
      method: key ? "POST" : "DELETE",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: key ? JSON.stringify({ api_key: key }) : undefined,
      cache: "no-store",
    });
  } catch {
    throw new ApiError(NETWORK_MESSAGE);
  }
  if (!response.ok) throw await errorFrom(response);
}

function keyFromUser(reason) {
  if (declined) return Promise.resolve(false);
  pendingAsk ??= askForKey(reason)
    .then(async (key) => {
      if (!key) {
        declined = true;
        return false;
      }
      await logIn(key);
      return true;
    })
    .finally(() => {
      pendingAsk = null;
    });
  return pendingAsk;
}

export function webSocketUrl(path) {
  const full = new URL(path, location.href);
  full.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  return full.href;
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
 * A 401 asks the person for the key once, logs in and retries.
 */
export async function request(path, { method = "GET", json, body, raw = false, signal } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const headers = { Accept: "application/json" };
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
