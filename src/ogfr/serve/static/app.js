// The ogfr search page: plain JS over the JSON API of ogfr/serve/app.py (no build step, no libraries).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { info: null, query: null, resultsPage: 0, galleryPage: 0, galleryPerPage: 24 };
let busy = 0;

// ----------------------------------------------------------------- plumbing
async function api(url, options = {}) {
  busy += 1;
  $("busy").hidden = false;
  $("results").setAttribute("aria-busy", "true");
  try {
    const response = await fetch(url, options);
    const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
    if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
    return body;
  } finally {
    busy -= 1;
    if (busy === 0) {
      $("busy").hidden = true;
      $("results").removeAttribute("aria-busy");
    }
  }
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

async function guarded(action) {
  clearError();
  try {
    await action();
  } catch (err) {
    showError(err.message);
  }
}

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

function cameraName(camid) {
  return camid < 0 ? "camera unknown" : `c${camid + 1}`;
}

function who(item) {
  return `${item.pid < 0 ? "id unknown" : "id " + item.pid} · ${cameraName(item.camid)}`;
}

// Figure 8's borders: green for the query's identity, red for another, none when either is unknown.
function sameId(queryPid, pid) {
  if (queryPid < 0 || pid < 0) return "";
  return queryPid === pid ? "same-id" : "other-id";
}

function camera() {
  return $("camera").value;
}

// ----------------------------------------------------------------- gallery
async function loadInfo() {
  const info = await api("/api/info");
  state.info = info;
  $("about").textContent =
    `${info.images} images under ${info.root} · checkpoint ${info.checkpoint} · ` +
    `occlusion code from ${info.occlusion} · D = ${info.dim}, K = ${info.parts.length}`;
  for (const c of info.cameras) {
    $("camera").append(el("option", { value: String(c.id), textContent: `${cameraName(c.id)} (${c.images})` }));
  }
}

function tile(item, lines, onClick, match = "") {
  const image = el("img", { src: `/api/gallery/${item.row}.jpg`, alt: item.path, loading: "lazy" });
  const caption = el("div", { className: "caption" }, lines.map((text) => el("div", { textContent: text })));
  const node = el("li", { className: `tile ${match}`, title: `${item.path}: click to search with it` }, [image, caption]);
  node.dataset.row = String(item.row);
  node.addEventListener("click", onClick);
  return node;
}

async function loadGallery(page) {
  const params = new URLSearchParams({ page, per_page: state.galleryPerPage, camera: camera() });
  const result = await api(`/api/gallery?${params}`);
  state.galleryPage = result.page;
  const list = $("gallery");
  list.replaceChildren(...result.items.map((item) => tile(item, [item.path, who(item)], () => guarded(() => pickRow(item.row)))));
  const first = result.page * result.per_page;
  $("gallery-status").textContent = result.total
    ? `images ${first + 1}-${first + result.items.length} of ${result.total}; click one to use it as the query`
    : "no images for this camera";
  $("gallery-prev").disabled = result.page === 0;
  $("gallery-next").disabled = first + result.items.length >= result.total;
}

// ----------------------------------------------------------------- queries
async function pickRow(row) {
  showQuery(await api(`/api/query/gallery/${row}`, { method: "POST" }));
  await search(0);
}

async function uploadFile(file) {
  const headers = { "Content-Type": "application/octet-stream", "X-Filename": encodeURIComponent(file.name) };
  showQuery(await api("/api/query", { method: "POST", body: file, headers }));
  await search(0);
}

function chip(text, good, title) {
  return el("li", { className: good ? "chip good" : "chip bad", textContent: text, title });
}

function showQuery(q) {
  state.query = q;
  const base = `/api/query/${q.id}`;
  $("query").hidden = false;
  const source = q.row === null ? "uploaded" : "indexed image";
  $("query-label").textContent = `${source}: ${q.label}${q.pid < 0 ? "" : ` (id ${q.pid})`}`;
  $("query-image").src = `${base}/image`;
  $("part-map-figure").hidden = !q.part_map;
  if (q.part_map) $("query-part-map").src = `${base}/part_map`;
  $("erasing-figure").hidden = !q.erasing;
  if (q.erasing) $("query-erasing").src = `${base}/erasing`;
  $("erasing-note").textContent = q.erasing_note;
  $("code").textContent = q.code;
  $("coarse").replaceChildren(
    ...q.coarse.map((c) => chip(`${c.name}: ${c.occluded ? "occluded" : "visible"}`, !c.occluded, "from the parsing"))
  );
  $("visibility").replaceChildren(
    ...(q.visibility.length
      ? q.visibility.map((p) => chip(p.name, p.visible, p.visible ? "visible (eq. 24)" : "not visible (eq. 24)"))
      : [el("li", { className: "note", textContent: "this model has no part features (plain ViT): eq. 25 is the global distance" })])
  );
}

async function search(page) {
  if (!state.query) return;
  const params = new URLSearchParams({ query: state.query.id, page, per_page: $("per-page").value, camera: camera() });
  const result = await api(`/api/search?${params}`);
  state.resultsPage = result.page;
  const k = state.info.parts.length;
  $("results").replaceChildren(
    ...result.hits.map((h) =>
      tile(
        h,
        [`#${h.rank} · d = ${h.distance.toPrecision(3)}`, who(h), k ? `shared ${h.shared_parts.length}/${k}: ${h.shared_parts.join(", ") || "none"}` : h.path],
        () => guarded(() => pickRow(h.row)),
        sameId(state.query.pid, h.pid)
      )
    )
  );
  const first = result.page * result.per_page;
  const scope = result.truncated ? ` (among the best ${result.ranked} of ${result.gallery} by eq. 25)` : "";
  $("results-status").textContent = result.total
    ? `ranks ${first + 1}-${first + result.hits.length} of ${result.total}${scope}; click a result to see its own matches`
    : `no matches for this camera${scope}`;
  $("results-prev").disabled = result.page === 0;
  $("results-next").disabled = first + result.hits.length >= result.total;
  history.replaceState(null, "", `#query=${encodeURIComponent(state.query.id)}&page=${result.page}`);
}

// ----------------------------------------------------------------- wiring
function wire() {
  $("upload").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) guarded(() => uploadFile(file));
    event.target.value = "";
  });
  $("camera").addEventListener("change", () => guarded(async () => {
    await loadGallery(0);
    await search(0);
  }));
  $("per-page").addEventListener("change", () => guarded(() => search(0)));
  $("results-prev").addEventListener("click", () => guarded(() => search(state.resultsPage - 1)));
  $("results-next").addEventListener("click", () => guarded(() => search(state.resultsPage + 1)));
  $("gallery-prev").addEventListener("click", () => guarded(() => loadGallery(state.galleryPage - 1)));
  $("gallery-next").addEventListener("click", () => guarded(() => loadGallery(state.galleryPage + 1)));
  window.addEventListener("hashchange", () => guarded(restore));
}

async function restore() {
  const params = new URLSearchParams(location.hash.slice(1));
  const qid = params.get("query");
  if (!qid) return;
  // A gallery image's query (g<row>) can always be made again; an upload only while the server holds it.
  const row = /^g(\d+)$/.exec(qid);
  const query = row
    ? api(`/api/query/gallery/${row[1]}`, { method: "POST" })
    : api(`/api/query/${encodeURIComponent(qid)}`);
  showQuery(await query);
  await search(Number(params.get("page") || 0));
}

wire();
guarded(async () => {
  await loadInfo();
  await loadGallery(0);
  await restore();
});
