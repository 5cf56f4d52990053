// The Identities page: the gallery (rename, merge, delete), one identity's sightings, and
// search by photo (drop a picture of a person, see the best matches and where they were seen).

import { ApiError, request } from "./api.js";
import { loadCatalog, sourceLink } from "./sources.js";
import {
  $,
  clearErrors,
  confirmAction,
  formatAgo,
  formatMediaTime,
  formatTime,
  h,
  identityName,
  notify,
  Poller,
  reportError,
  setFormError,
  wireDropZone,
} from "./ui.js";

const PAGE_SIZE = 48;
const REFRESH_MS = 10000;
const SEARCH_RESULTS = 5;
const SIGHTINGS_PER_MATCH = 5;
const LIST_ACTION = "Loading the identities";

let offset = 0;
let items = [];
let signature = null;
let editing = false; // an inline form is open: the gallery is not redrawn under it
let searchPreview = null; // object URL of the photo searched for
const poller = new Poller(refreshGallery, REFRESH_MS);

function thumbnail(identity, size = "") {
  if (!identity.thumbnail_url) {
    return h("div", { class: `thumb none ${size}`, "aria-hidden": "true" }, "no photo");
  }
  return h("img", {
    class: `thumb ${size}`,
    src: identity.thumbnail_url,
    alt: `Photo of ${identityName(identity.identity_id, identity.label)}`,
    loading: "lazy",
  });
}

/** "at 0:12.5–0:15.0 in the video" or the wall-clock span of a camera sighting. */
function sightingItem(sighting) {
  const isVideo = sighting.source.startsWith("job:");
  const span = isVideo
    ? ` · ${formatMediaTime(sighting.first_media_s)}–${formatMediaTime(sighting.last_media_s)}`
    : ` · ${formatTime(sighting.first_seen)} to ${new Date(sighting.last_seen * 1000).toLocaleTimeString()}`;
  return h(
    "li",
    { dataset: { source: sighting.source } },
    sourceLink(sighting.source, isVideo ? sighting.first_media_s : undefined),
    h("span", { class: "hint" }, `${span} · track ${sighting.track_id}`),
  );
}

const CATALOG_ACTION = "Loading the cameras and videos for the links";

async function withCatalog() {
  try {
    await loadCatalog();
    clearErrors(CATALOG_ACTION);
  } catch (error) {
    reportError(CATALOG_ACTION, error);
  }
}

// --- the gallery -----------------------------------------------------------------------

async function refreshGallery(force = false) {
  if (editing && !force) return;
  if (!force && $("#gallery").contains(document.activeElement)) return; // keep keyboard focus
  let page;
  try {
    page = await request(`/v1/identities?offset=${offset}&limit=${PAGE_SIZE}`);
  } catch (error) {
    reportError(LIST_ACTION, error);
    return;
  }
  clearErrors(LIST_ACTION);
  if (!page.items.length && offset > 0) {
    offset = Math.max(0, offset - PAGE_SIZE);
    await refreshGallery(true);
    return;
  }
  await withCatalog();
  const next = JSON.stringify(page);
  if (next === signature && !force) return;
  signature = next;
  items = page.items;
  renderGallery(page);
}

function renderGallery(page) {
  $("#gallery-empty").hidden = page.total > 0;
  const last = Math.min(page.offset + page.items.length, page.total);
  $("#gallery-range").textContent = page.total ? `${page.offset + 1}–${last} of ${page.total}` : "";
  $("#gallery-prev").disabled = page.offset === 0;
  $("#gallery-next").disabled = last >= page.total;
  $("#gallery").replaceChildren(...page.items.map(identityCard));
}

function identityCard(identity) {
  const id = identity.identity_id;
  const name = identityName(id, identity.label);
  const editor = h("div", { class: "editor" });
  const actions = h(
    "div",
    { class: "actions" },
    h(
      "button",
      { type: "button", class: "quiet", onclick: () => openRename(identity, editor) },
      "Rename",
    ),
    h(
      "button",
      { type: "button", class: "quiet", onclick: () => openMerge(identity, editor) },
      "Merge…",
    ),
    h(
      "button",
      { type: "button", class: "quiet danger", onclick: () => deleteIdentity(identity) },
      "Delete",
    ),
  );
  const places = identity.sources.map((source) => h("li", {}, sourceLink(source)));
  return h(
    "li",
    { class: "identity", dataset: { identityId: String(id), label: identity.label ?? "" } },
    thumbnail(identity),
    h(
      "div",
      { class: "identity-main" },
      h(
        "h3",
        {},
        h("a", { href: `#identities/${id}`, class: "person-name" }, name),
        identity.label ? h("span", { class: "hint" }, ` ID ${id}`) : null,
      ),
      h(
        "dl",
        { class: "figures compact" },
        h("dt", {}, "First seen"),
        h("dd", {}, formatTime(identity.first_seen)),
        h("dt", {}, "Last seen"),
        h("dd", {}, `${formatTime(identity.last_seen)} (${formatAgo(identity.last_seen)})`),
        h("dt", {}, "Seen in"),
        h("dd", {}, places.length ? h("ul", { class: "places" }, places) : "—"),
      ),
      actions,
      editor,
    ),
  );
}

function closeEditor(editor) {
  editor.replaceChildren();
  editing = false;
}

function openRename(identity, editor) {
  const id = identity.identity_id;
  const input = h("input", {
    name: "label",
    type: "text",
    maxlength: "100",
    value: identity.label ?? "",
    autocomplete: "off",
  });
  const form = h(
    "form",
    { class: "rename-form inline-form" },
    h("label", {}, `Name for ID ${id} `, input),
    h("button", { type: "submit" }, "Save"),
    h("button", { type: "button", class: "quiet", onclick: () => closeEditor(editor) }, "Cancel"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const label = input.value.trim() || null;
    try {
      await request(`/v1/identities/${id}`, { method: "PATCH", json: { label } });
      notify(
        label ? `ID ${id} is now called “${label}”.` : `ID ${id} has no name any more.`,
        "info",
      );
      closeEditor(editor);
      await refreshGallery(true);
    } catch (error) {
      setFormError(form, `Renaming failed: ${error.message}`);
    }
  });
  editing = true;
  editor.replaceChildren(form);
  input.focus();
  input.select();
}

function openMerge(identity, editor) {
  const id = identity.identity_id;
  const others = items.filter((other) => other.identity_id !== id);
  if (!others.length) {
    editing = true;
    editor.replaceChildren(
      h("p", { class: "hint" }, "No other identity on this page to merge with. "),
      h("button", { type: "button", class: "quiet", onclick: () => closeEditor(editor) }, "Close"),
    );
    return;
  }
  const select = h(
    "select",
    { name: "target" },
    others.map((other) =>
      h(
        "option",
        { value: String(other.identity_id) },
        identityName(other.identity_id, other.label),
      ),
    ),
  );
  const form = h(
    "form",
    { class: "merge-form inline-form" },
    h("label", {}, `${identityName(id, identity.label)} is the same person as `, select),
    h("button", { type: "submit" }, "Merge"),
    h("button", { type: "button", class: "quiet", onclick: () => closeEditor(editor) }, "Cancel"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const target = others.find((other) => String(other.identity_id) === select.value);
    const targetName = identityName(target.identity_id, target.label);
    const sure = await confirmAction(
      `Merge ${identityName(id, identity.label)} into ${targetName} (ID ${target.identity_id})? ` +
        `ID ${id} disappears; its sightings and looks move to ${targetName}.`,
      "Merge",
    );
    if (!sure) return;
    try {
      await request(`/v1/identities/${target.identity_id}/merge`, {
        method: "POST",
        json: { source_id: id },
      });
      notify(`ID ${id} merged into ${targetName}.`, "info");
      closeEditor(editor);
      await refreshGallery(true);
    } catch (error) {
      setFormError(form, `Merging failed: ${error.message}`);
    }
  });
  editing = true;
  editor.replaceChildren(form);
  select.focus();
}

async function deleteIdentity(identity) {
  const name = identityName(identity.identity_id, identity.label);
  const sure = await confirmAction(
    `Forget ${name}? Their photos, looks and sightings are deleted; if they are seen again they get a new ID.`,
    "Forget",
  );
  if (!sure) return;
  try {
    await request(`/v1/identities/${identity.identity_id}`, { method: "DELETE" });
    notify(`${name} forgotten.`, "info");
    if (location.hash === `#identities/${identity.identity_id}`) location.hash = "#identities";
  } catch (error) {
    reportError(`Forgetting ${name} failed`, error);
  }
  await refreshGallery(true);
}

// --- one identity ----------------------------------------------------------------------

async function openDetail(identityId) {
  const panel = $("#identity-detail");
  panel.hidden = false;
  let identity;
  try {
    identity = await request(`/v1/identities/${encodeURIComponent(identityId)}`);
  } catch (error) {
    if (error instanceof ApiError && error.code === "identity_not_found") {
      notify(`There is no identity ${identityId} (it was deleted or merged).`, "error");
      location.hash = "#identities";
    } else {
      reportError("Loading the identity", error);
    }
    return;
  }
  await withCatalog();
  const name = identityName(identity.identity_id, identity.label);
  $("#identity-title").textContent = identity.label ? `${name} (ID ${identity.identity_id})` : name;
  const thumb = $("#identity-thumb");
  thumb.hidden = !identity.thumbnail_url;
  if (identity.thumbnail_url) {
    thumb.src = identity.thumbnail_url;
    thumb.alt = `Photo of ${name}`;
  }
  $("#identity-figures").replaceChildren(
    h("dt", {}, "First seen"),
    h("dd", {}, formatTime(identity.first_seen)),
    h("dt", {}, "Last seen"),
    h("dd", {}, `${formatTime(identity.last_seen)} (${formatAgo(identity.last_seen)})`),
    h("dt", {}, "Views kept"),
    h("dd", {}, String(identity.exemplars)),
  );
  $("#identity-no-sightings").hidden = identity.sightings.length > 0;
  $("#identity-sightings").replaceChildren(...identity.sightings.map(sightingItem));
  panel.scrollIntoView({ block: "nearest" });
}

// --- search by photo -------------------------------------------------------------------

async function search(file) {
  const form = $("#search-form");
  setFormError(form, null);
  if (file.type && !file.type.startsWith("image/")) {
    setFormError(form, `“${file.name}” is not a picture: choose a JPEG or PNG photo.`);
    return;
  }
  const state = $("#search-state");
  state.textContent = `Searching the gallery for the person in “${file.name}”…`;
  if (searchPreview) URL.revokeObjectURL(searchPreview);
  searchPreview = URL.createObjectURL(file);
  $("#search-query").src = searchPreview;
  $("#search-box").hidden = true;
  $("#search-results").replaceChildren();
  $("#search-empty").hidden = true;
  $("#search-out").hidden = false;
  $("#search-out").dataset.state = "searching";

  const body = new FormData();
  body.append("file", file, file.name);
  let result;
  try {
    result = await request(`/v1/search?k=${SEARCH_RESULTS}`, { method: "POST", body });
  } catch (error) {
    state.textContent = "";
    $("#search-out").dataset.state = "failed";
    setFormError(form, `The search failed: ${error.message}`);
    return;
  }
  await withCatalog();
  showQueryBox(result.query_box_xyxy);
  $("#search-caption").textContent = result.query_box_xyxy
    ? "The person found in the photo (boxed) was searched for."
    : "No person was detected in the photo: the whole picture was searched for.";
  const count = result.matches.length;
  state.textContent = count
    ? `${count} possible ${count === 1 ? "match" : "matches"}, most similar first.`
    : "No match.";
  $("#search-empty").hidden = count > 0;
  $("#search-results").replaceChildren(...result.matches.map(matchItem));
  $("#search-out").dataset.state = "done";
}

function matchItem(match, rank) {
  const name = identityName(match.identity_id, match.label);
  const score = `${Math.round(match.similarity * 100)}% similar`;
  const sightings = match.sightings.slice(0, SIGHTINGS_PER_MATCH).map(sightingItem);
  return h(
    "li",
    {
      class: rank === 0 ? "match best" : "match",
      dataset: { identityId: String(match.identity_id), similarity: String(match.similarity) },
    },
    thumbnail(match),
    h(
      "div",
      {},
      h(
        "h4",
        {},
        h("a", { href: `#identities/${match.identity_id}`, class: "person-name" }, name),
        match.label ? h("span", { class: "hint" }, ` ID ${match.identity_id}`) : null,
      ),
      h(
        "p",
        { class: "score" },
        h("meter", {
          min: "0",
          max: "1",
          value: String(Math.max(0, match.similarity)),
          "aria-label": "Similarity",
        }),
        ` ${score}${rank === 0 ? " · best match" : ""}`,
      ),
      sightings.length
        ? h("ul", { class: "sightings" }, sightings)
        : h("p", { class: "hint" }, "No sighting recorded yet."),
    ),
  );
}

function showQueryBox(box) {
  const image = $("#search-query");
  const overlay = $("#search-box");
  overlay.hidden = true;
  if (!box) return;
  const place = () => {
    const [x1, y1, x2, y2] = box;
    const { naturalWidth: width, naturalHeight: height } = image;
    if (!width || !height) return;
    overlay.style.left = `${(x1 / width) * 100}%`;
    overlay.style.top = `${(y1 / height) * 100}%`;
    overlay.style.width = `${((x2 - x1) / width) * 100}%`;
    overlay.style.height = `${((y2 - y1) / height) * 100}%`;
    overlay.hidden = false;
  };
  if (image.complete && image.naturalWidth) place();
  else image.addEventListener("load", place, { once: true });
}

// --- the page --------------------------------------------------------------------------

export function init() {
  const input = $("#search-file");
  const searchChosen = () => {
    if (input.files[0]) search(input.files[0]);
  };
  input.addEventListener("change", searchChosen);
  wireDropZone($("#search-drop"), input, (file) => search(file));
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    searchChosen();
  });
  $("#gallery-prev").addEventListener("click", () => {
    offset = Math.max(0, offset - PAGE_SIZE);
    editing = false;
    refreshGallery(true);
  });
  $("#gallery-next").addEventListener("click", () => {
    offset += PAGE_SIZE;
    editing = false;
    refreshGallery(true);
  });
}

/** Shown with `param` = an identity id (its sightings open) or empty. */
export function show(param) {
  poller.start();
  if (param) openDetail(decodeURIComponent(param));
  else $("#identity-detail").hidden = true;
}

export function hide() {
  poller.stop();
}
