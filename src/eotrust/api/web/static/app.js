// eotrust web page: plain JavaScript over the server's JSON API (no build step, no CDN).
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const kid of kids) node.append(kid instanceof Node ? kid : document.createTextNode(kid ?? ""));
  return node;
};
const svgEl = (tag, attrs = {}, text) => {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
};
const short = (s, n = 10) => (s && s.length > n + 4 ? s.slice(0, n) + "…" : s || "");
// An owner's address, its head and tail (names are anyone's to sign: the owner tells records apart).
const shortAddress = (a) => (a && a.length > 16 ? `${a.slice(0, 8)}…${a.slice(-6)}` : a || "");

const state = { key: localStorage.getItem("eotrust.key") || "", me: null, selectedTask: null, process: null };

// What went wrong, in one line at the top of the page (a failed request, an error nobody
// caught); cleared when the user's next action starts.
function notify(message) {
  const box = $("#notice");
  box.textContent = message;
  box.hidden = false;
}
function clearNotice() { $("#notice").hidden = true; }
const report = (what) => (e) => notify(`${what}: ${e && e.message ? e.message : e}`);
window.addEventListener("unhandledrejection", (ev) => { ev.preventDefault(); report("error")(ev.reason); });

// One request to the server's API: the answer's body (JSON or a blob) and its headers. Every
// failure is an Error with a message for the page: the server's own, or what kept it from answering.
async function request(path, opts = {}) {
  const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
  if (state.key) headers["X-API-Key"] = state.key;
  if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.json); }
  let res, body;
  try {
    res = await fetch(path, Object.assign({}, opts, { headers }));
  } catch (e) {
    throw new Error(`could not reach the server (${e.message})`);
  }
  const type = res.headers.get("content-type") || "";
  try {
    body = type.includes("json") ? await res.json() : await res.blob();
  } catch (e) {
    throw new Error(`the server's answer could not be read (${res.status} ${res.statusText})`);
  }
  if (!res.ok) throw new Error(String((body && (body.detail || body.title)) || `${res.status} ${res.statusText}`));
  return { body, headers: res.headers };
}

async function api(path, opts = {}) {
  return (await request(path, opts)).body;
}

// A listing the server pages (a `Link: <…>; rel="next"` header): every page, in order.
async function apiAll(path) {
  const out = [];
  for (let next = path; next;) {
    const { body, headers } = await request(next);
    out.push(...body);
    const link = /<([^>]+)>;\s*rel="next"/.exec(headers.get("link") || "");
    next = link && link[1].startsWith("/catalog/") ? link[1] : null;  // only this server's own listing
  }
  return out;
}

// -- tabs and key ---------------------------------------------------------------------
document.querySelectorAll("#tabs button").forEach((b) =>
  b.addEventListener("click", () => showTab(b.dataset.tab)));
function showTab(name) {
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".tab").forEach((s) => s.classList.toggle("active", s.id === name));
  clearNotice();
  refresh(name);
}
$("#key-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  state.key = $("#api-key").value.trim();
  localStorage.setItem("eotrust.key", state.key);
  await whoami();
  refresh(document.querySelector(".tab.active").id);
});
async function whoami() {
  if (!state.key) { $("#whoami").textContent = "not signed in"; state.me = null; return; }
  try {
    state.me = await api("/me");
    $("#whoami").textContent = `${state.me.party} (${state.me.role || "party"})`;
  } catch (e) {
    state.me = null;
    $("#whoami").textContent = "key refused: " + e.message;
  }
}

// -- catalogue ------------------------------------------------------------------------
async function loadCatalogue() {
  const [datasets, apps, platforms] = await Promise.all([
    apiAll("/catalog/datasets"), apiAll("/catalog/applications"), apiAll("/catalog/platforms")]);
  const tbody = $("#datasets tbody");
  tbody.replaceChildren(...datasets.map((r) => el("tr", {},
    el("td", {}, r.body.title), el("td", {}, `${(r.body.start || "").slice(0, 10)} – ${(r.body.end || "").slice(0, 10)}`),
    el("td", {}, r.body.crs || ""), el("td", { class: "cid", title: r.owner }, short(r.owner)),
    el("td", { class: "cid", title: r.body.cid }, short(r.body.cid, 14)))));
  drawFootprints(datasets);
  $("#apps tbody").replaceChildren(
    ...apps.map((r) => el("tr", {}, el("td", {}, "application"), el("td", {}, `${r.body.name} ${r.body.version}`),
      el("td", { class: "cid" }, short(r.owner)), el("td", { class: "cid", title: r.body.workflow_cid }, "workflow " + short(r.body.workflow_cid, 14)))),
    ...platforms.map((r) => el("tr", {}, el("td", {}, "platform"), el("td", {}, r.body.name),
      el("td", { class: "cid" }, short(r.owner)), el("td", {}, `${r.body.cpus} CPU, ${r.body.memory_mb} MB, ${r.body.gpus} GPU`))));
}

// The footprint map: Leaflet (bundled from npm by `make web-assets`, no CDN) over an offline
// basemap of Natural Earth land polygons (1:110m). Datasets sharing one footprint get one
// label listing them all, so labels never stack on top of each other.
let footprintMap = null, footprintLayer = null;
async function drawFootprints(datasets) {
  const box = $("#footprints");
  const boxes = datasets.filter((d) => d.body.bbox);
  if (!window.L) { box.textContent = "the map library did not load"; return; }
  if (!footprintMap) {
    footprintMap = L.map(box, { worldCopyJump: true, attributionControl: true }).setView([20, 0], 1);
    L.control.scale({ imperial: false }).addTo(footprintMap);
    footprintMap.attributionControl.setPrefix("Leaflet").addAttribution("land: Natural Earth (public domain)");
    try {
      const land = await (await fetch("vendor/land-110m.geojson")).json();
      L.geoJSON(land, { style: { color: "#9aa7b5", weight: 0.6, fillColor: "#e9ede4", fillOpacity: 1 }, interactive: false })
        .addTo(footprintMap);
      box.dataset.basemap = "natural-earth-110m";
    } catch (e) { console.error("basemap", e); }
  }
  if (footprintLayer) footprintLayer.remove();
  footprintLayer = L.featureGroup().addTo(footprintMap);
  if (!boxes.length) { box.dataset.footprints = "0"; return; }
  const groups = new Map();
  for (const d of boxes) {
    const key = d.body.bbox.map((v) => v.toFixed(5)).join(",");
    if (!groups.has(key)) groups.set(key, { bbox: d.body.bbox, titles: [] });
    groups.get(key).titles.push(d.body.title);
  }
  const colours = ["#1f6feb", "#d9480f", "#2b8a3e", "#9c36b5", "#e67700", "#0b7285"];
  let i = 0;
  for (const { bbox: b, titles } of groups.values()) {
    const c = colours[i++ % colours.length];
    const rect = L.rectangle([[b[1], b[0]], [b[3], b[2]]], { color: c, weight: 2, fillOpacity: 0.2, className: "footprint" });
    rect.bindTooltip(titles.map((t) => `<div>${escapeHtml(t)}</div>`).join(""),
      { permanent: true, direction: i % 2 ? "right" : "left", className: "footprint-label", opacity: 0.95 });
    footprintLayer.addLayer(rect);
  }
  box.dataset.footprints = String(groups.size);
  footprintMap.fitBounds(footprintLayer.getBounds(), { maxZoom: 13, padding: [40, 40] });
  setTimeout(() => footprintMap.invalidateSize(), 0);
}
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch]));
}

// -- workflows ------------------------------------------------------------------------
async function loadWorkflows() {
  const { processes } = await api("/processes");
  const list = $("#process-list");
  list.replaceChildren(...processes.map((p) => el("li", { "data-process": p.id, onclick: () => openProcess(p.id) },
    el("strong", {}, p.title || p.id), el("div", { class: "muted" }, p.description || ""),
    el("div", { class: "cid" }, "version " + p.version))));
  if (state.process) openProcess(state.process);
}

// A process's form. Its id is its application's name, anyone's to choose (a "/" too): one
// encoded path segment. A failure is a notice, never an error left unhandled.
async function openProcess(id) {
  state.process = id;
  clearNotice();
  document.querySelectorAll("#process-list li").forEach((li) => li.classList.toggle("selected", li.dataset.process === id));
  let proc, datasets, platforms;
  try {
    [proc, datasets, platforms] = await Promise.all([
      api(`/processes/${encodeURIComponent(id)}`), apiAll("/catalog/datasets"), apiAll("/catalog/platforms")]);
  } catch (e) {
    $("#run-form").hidden = true;
    notify(`could not open ${id}: ${e.message}`);
    return;
  }
  $("#run-title").textContent = `Run ${proc.title || proc.id}`;
  $("#run-desc").textContent = proc.description || "";
  const fields = $("#run-fields");
  fields.replaceChildren();
  for (const [name, d] of Object.entries(proc.inputs || {})) {
    const kw = d.keywords || [];
    let input;
    if (kw.includes("dataset")) {
      const offered = matchingDatasets(name, d, datasets);
      input = el("select", { name, "data-kind": "dataset", required: "" },
        el("option", { value: "" }, `— choose a dataset for ${name} —`),
        ...offered.map((r) => el("option", { value: r.id, title: `${r.id}, owner ${r.owner}` },
          `${r.body.title} (${short(r.body.cid, 10)}) — owner ${shortAddress(r.owner)}`)));
    } else if (kw.includes("platform")) {
      // the server runs an execution that names no platform only where one is registered
      const needed = d.minOccurs > 0 || platforms.length > 1;
      input = el("select", Object.assign({ name, "data-kind": "platform" }, needed ? { required: "" } : {}),
        el("option", { value: "" }, needed ? "— choose a platform —" : "— the only registered platform —"),
        ...platforms.map((r) => el("option", { value: r.id, title: `${r.id}, owner ${r.owner}` },
          `${r.body.name} — owner ${shortAddress(r.owner)}`)));
    } else {
      const sch = d.schema || {};
      if (sch.enum) input = el("select", { name }, ...sch.enum.map((v) => el("option", { value: JSON.stringify(v) }, String(v))));
      else if (sch.type === "boolean") input = el("input", { name, type: "checkbox" });
      else input = el("input", { name, type: sch.type === "integer" || sch.type === "number" ? "number" : "text",
        step: sch.type === "integer" ? "1" : "any", placeholder: sch.type || "value" });
      if (sch.default !== undefined) {
        if (sch.type === "boolean") input.checked = !!sch.default;
        else if (sch.enum) input.value = JSON.stringify(sch.default);
        else input.value = typeof sch.default === "object" ? JSON.stringify(sch.default) : sch.default;
      }
      input.dataset.type = sch.enum ? "json" : (sch.type || "json");
      if (d.minOccurs > 0) input.required = true;
    }
    fields.append(el("label", {}, el("span", {}, name + (input.required ? " *" : "")), input,
      el("small", { class: "muted" }, " " + (d.description || ""))));
  }
  $("#run-form").hidden = false;
  $("#run-status").textContent = "";
}

// The datasets an input can take: those whose title, keywords or band names share a word with
// the input's name or title (ndvi -> "Slovenia NDVI", cloud_mask -> "cloud masks"); if none
// does, every dataset (the input is not named after what it reads).
function words(text) {
  return String(text || "").toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length > 2)
    .map((w) => w.replace(/s$/, ""));
}
function matchingDatasets(name, description, datasets) {
  const wanted = new Set([...words(name), ...words(description.title)]);
  const alias = { lulc: ["land", "cover", "label"], dem: ["elevation", "dem"], ndvi: ["ndvi"] };
  for (const w of [...wanted]) for (const a of alias[w] || []) wanted.add(a);
  const matches = datasets.filter((r) => {
    const have = new Set([...words(r.body.title), ...(r.body.keywords || []).flatMap(words), ...(r.body.bands || []).flatMap(words)]);
    return [...wanted].some((w) => have.has(w));
  });
  return matches.length ? matches : datasets;
}

$("#run-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const inputs = {};
  for (const input of $("#run-fields").querySelectorAll("input, select")) {
    const t = input.dataset.type;
    if (input.value === "" && input.type !== "checkbox") continue;
    if (input.type === "checkbox") inputs[input.name] = input.checked;
    else if (t === "integer") inputs[input.name] = parseInt(input.value, 10);
    else if (t === "number") inputs[input.name] = parseFloat(input.value);
    else if (t === "array" || t === "json" || t === "object") {
      try { inputs[input.name] = JSON.parse(input.value); } catch { inputs[input.name] = input.value; }
    } else inputs[input.name] = input.value;
  }
  $("#run-status").textContent = "submitting…";
  try {
    const job = await api(`/processes/${encodeURIComponent(state.process)}/execution`, {
      method: "POST", headers: { Prefer: "respond-async" }, json: { inputs, response: "document" } });
    $("#run-status").textContent = `task ${job.jobID} ${job.status}`;
    state.selectedTask = job.jobID;
    showTab("tasks");
  } catch (e) {
    $("#run-status").innerHTML = "";
    $("#run-status").append(el("span", { class: "error" }, e.message));
  }
});

// -- tasks ----------------------------------------------------------------------------
async function loadTasks() {
  if (!state.key) { $("#task-table tbody").replaceChildren(el("tr", {}, el("td", { colspan: 5 }, "enter an API key to see your tasks"))); return; }
  const tasks = await api("/tasks");
  $("#task-table tbody").replaceChildren(...tasks.map((t) => el("tr", { class: "clickable", "data-task": t.address,
    onclick: () => { state.selectedTask = t.address; clearNotice(); loadTaskDetail().catch(report("task " + t.address)); } },
    el("td", { class: "cid" }, t.address), el("td", {}, t.process || ""),
    el("td", {}, el("span", { class: `state ${t.state}` }, t.state)),
    el("td", {}, el("span", { class: `state ${t.status}` }, t.status)), el("td", {}, t.created || ""))));
  if (state.selectedTask) await loadTaskDetail().catch(report("task " + state.selectedTask));
}

async function loadTaskDetail() {
  const addr = state.selectedTask;
  const path = `/tasks/${encodeURIComponent(addr)}`;
  const [status, history, prov] = await Promise.all([api(path), api(`${path}/history`), api(`${path}/provenance`)]);
  $("#task-detail").hidden = false;
  $("#task-address").textContent = addr;
  const st = $("#task-state");
  st.textContent = status.state;
  st.className = `state ${status.state}`;
  $("#history tbody").replaceChildren(...history.map((h) => el("tr", {},
    el("td", {}, String(h.block ?? "")), el("td", {}, (h.time || "").replace("T", " ").replace("Z", "")),
    el("td", {}, h.event), el("td", { title: h.party || "" }, h.party_name || short(h.party || "", 12)),
    el("td", { title: h.details || "" }, h.summary || h.details || ""))));
  drawProvenance(prov);
  await loadResults(addr, status);
}

// The results, for the party allowed to read them (the submitter): download links for every
// file, PNG results shown inline. Fetched once per task, when it is Finished.
const shownResults = new Set();
async function loadResults(addr, status) {
  const box = $("#results-box");
  const mine = state.me && status.submitter && state.me.address && state.me.address.toLowerCase() === status.submitter.toLowerCase();
  if (status.state !== "Finished" || !mine) { box.hidden = true; shownResults.delete(addr); return; }
  if (shownResults.has(addr) && !box.hidden) return;
  shownResults.add(addr);
  let files;
  try { files = await api(`/tasks/${encodeURIComponent(addr)}/results`); } catch (e) { report("results")(e); shownResults.delete(addr); return; }
  $("#result-list").replaceChildren(...files.map((f) => el("li", {},
    el("a", { href: "#", "data-href": f.href, "data-file": f.file, onclick: (ev) => { ev.preventDefault(); download(f).catch(report(`download ${f.file}`)); } }, f.file),
    el("span", { class: "muted" }, ` ${f.media_type}, ${f.size.toLocaleString()} bytes${f.encrypted ? ", decrypted for you" : ", public"}`))));
  const previews = [];
  for (const f of files.filter((x) => x.media_type === "image/png")) {
    const blob = await fetchBlob(f.href);
    previews.push(el("figure", {}, el("img", { src: URL.createObjectURL(blob), alt: f.name }), el("figcaption", {}, f.name)));
  }
  $("#result-previews").replaceChildren(...previews);
  box.hidden = false;
}
async function fetchBlob(href) {
  let res;
  try {
    res = await fetch(href, { headers: state.key ? { "X-API-Key": state.key } : {} });
  } catch (e) {
    throw new Error(`could not reach the server (${e.message})`);
  }
  if (!res.ok) throw new Error(`${href}: ${res.status} ${res.statusText}`);
  return res.blob();
}
async function download(f) {
  const url = URL.createObjectURL(await fetchBlob(f.href));
  const a = el("a", { href: url, download: f.file });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function drawProvenance(graph) {
  const svg = $("#provenance");
  svg.replaceChildren();
  const cols = { input: 0, stored: 1, run: 2, result: 3 };
  const byCol = [[], [], [], []];
  for (const n of graph.nodes) byCol[cols[n.kind] ?? 2].push(n);
  const colW = 260, rowH = 54, boxW = 220, boxH = 40;
  const H = Math.max(...byCol.map((c) => c.length), 1) * rowH + 30;
  svg.setAttribute("viewBox", `0 0 ${colW * 4} ${H}`);
  svg.style.height = H + "px";
  const pos = {};
  byCol.forEach((col, ci) => col.forEach((n, ri) => {
    const top = (H - col.length * rowH) / 2 + ri * rowH + 6;
    pos[n.id] = { x: ci * colW + 20, y: top };
  }));
  const defs = svgEl("defs");
  const marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" });
  marker.append(svgEl("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8895a7" }));
  defs.append(marker);
  svg.append(defs);
  for (const [a, b] of graph.edges) {
    if (!pos[a] || !pos[b]) continue;
    const x1 = pos[a].x + boxW, y1 = pos[a].y + boxH / 2, x2 = pos[b].x, y2 = pos[b].y + boxH / 2;
    svg.append(svgEl("path", { d: `M${x1},${y1} C${x1 + 30},${y1} ${x2 - 30},${y2} ${x2},${y2}`, fill: "none",
      stroke: "#8895a7", "marker-end": "url(#arrow)" }));
  }
  const fill = { input: "#eef5ff", stored: "#f1ecff", run: "#fff6dd", result: "#e8f8ec" };
  for (const n of graph.nodes) {
    const p = pos[n.id];
    const g = svgEl("g", { transform: `translate(${p.x},${p.y})`, class: `prov-${n.kind}` });
    g.append(svgEl("rect", { width: boxW, height: boxH, rx: 6, fill: fill[n.kind] || "#f4f4f4", stroke: "#b8c2cf" }),
      svgEl("text", { x: 8, y: 16, "font-size": 12, "font-weight": 600 }, short(n.label, 30)),
      svgEl("text", { x: 8, y: 32, "font-size": 10, "font-family": "monospace", fill: "#556" }, short(n.cid || "", 30)));
    g.append(svgEl("title", {}, `${n.label}\n${n.cid || ""}`));
    svg.append(g);
  }
}

// -- models ---------------------------------------------------------------------------
async function loadModels() {
  const fc = await api("/stac/collections/models/items?limit=100");
  const rows = fc.features.map((f) => {
    const p = f.properties;
    const metrics = flatMetrics(p["eotrust:metrics"] || {}).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ");
    return el("tr", {}, el("td", {}, p.title || f.id), el("td", {}, p["eotrust:algorithm"] || ""),
      el("td", {}, (p.created || "").slice(0, 19)), el("td", {}, metrics), el("td", { class: "cid", title: f.id }, short(f.id, 14)));
  });
  $("#model-table tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 5 }, "no model package registered"))]));
  const select = $("#predict-model");
  select.replaceChildren(...fc.features.map((f) => el("option", { value: f.id }, f.properties.title || f.id)));
}

// Metrics may be nested ({"test": {"pixel_accuracy": 0.9, "per_class": {...}}}): the headline
// numbers, named by their path, skipping per-class tables and matrices.
function flatMetrics(m, prefix = "", out = []) {
  for (const [k, v] of Object.entries(m)) {
    if (typeof v === "number") out.push([prefix + k, v]);
    else if (v && typeof v === "object" && !Array.isArray(v) && !/class|confusion|matrix/.test(k))
      flatMetrics(v, prefix + k + " ", out);
  }
  return out.slice(0, 8);
}

// -- prediction map -------------------------------------------------------------------
$("#predict-view").addEventListener("click", () => $("#predict-view").classList.toggle("zoomed"));
$("#predict-opacity").addEventListener("input", (ev) => { $("#pred-img").style.opacity = ev.target.value / 100; });
$("#predict-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = $("#predict-file").files[0];
  const model = $("#predict-model").value;
  if (!file || !model) { $("#predict-status").textContent = "choose a model and a GeoTIFF"; return; }
  $("#predict-status").textContent = "scoring…";
  try {
    const res = await fetch(`/render/prediction?model=${encodeURIComponent(model)}`, {
      method: "POST", body: file, headers: { "X-API-Key": state.key, "Content-Type": "image/tiff" } });
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).detail || `${res.status} ${res.statusText}`);
    const doc = await res.json();
    $("#scene-img").src = doc.scene_png;
    $("#pred-img").src = doc.prediction_png;
    $("#pred-img").style.opacity = $("#predict-opacity").value / 100;
    $("#predict-legend").replaceChildren(...(doc.legend || []).map((c) => {
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = c.colour;  // a property, not a style attribute (the page's CSP allows none)
      return el("span", { class: "legend-item" }, swatch, c.name);
    }));
    $("#predict-status").textContent = "done";
  } catch (e) { $("#predict-status").textContent = e.message; }
});

// -- refresh --------------------------------------------------------------------------
async function refresh(tab) {
  try {
    if (tab === "catalogue") await loadCatalogue();
    else if (tab === "workflows") await loadWorkflows();
    else if (tab === "tasks") await loadTasks();
    else if (tab === "models" || tab === "prediction") await loadModels();
  } catch (e) { report(`could not load the ${tab}`)(e); }
}
setInterval(() => { if (document.querySelector(".tab.active").id === "tasks") loadTasks().catch(report("could not load the tasks")); }, 1000);

$("#api-key").value = state.key;
whoami().then(() => refresh("catalogue"));
