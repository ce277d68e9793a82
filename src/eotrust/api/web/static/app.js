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

const state = { key: localStorage.getItem("eotrust.key") || "", me: null, selectedTask: null, process: null };

async function api(path, opts = {}) {
  const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
  if (state.key) headers["X-API-Key"] = state.key;
  if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.json); }
  const res = await fetch(path, Object.assign({}, opts, { headers }));
  const type = res.headers.get("content-type") || "";
  const body = type.includes("json") ? await res.json() : await res.blob();
  if (!res.ok) throw new Error((body && (body.detail || body.title)) || res.statusText);
  return body;
}

// -- tabs and key ---------------------------------------------------------------------
document.querySelectorAll("#tabs button").forEach((b) =>
  b.addEventListener("click", () => showTab(b.dataset.tab)));
function showTab(name) {
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".tab").forEach((s) => s.classList.toggle("active", s.id === name));
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
    api("/catalog/datasets"), api("/catalog/applications"), api("/catalog/platforms")]);
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

function drawFootprints(datasets) {
  const svg = $("#footprints");
  svg.replaceChildren();
  const boxes = datasets.filter((d) => d.body.bbox).map((d) => ({ b: d.body.bbox, t: d.body.title }));
  if (!boxes.length) { svg.append(svgEl("text", { x: 20, y: 130, class: "muted" }, "no dataset with a footprint")); return; }
  let [w, s, e, n] = [180, 90, -180, -90];
  for (const { b } of boxes) { w = Math.min(w, b[0]); s = Math.min(s, b[1]); e = Math.max(e, b[2]); n = Math.max(n, b[3]); }
  const padX = Math.max((e - w) * 0.15, 0.01), padY = Math.max((n - s) * 0.15, 0.01);
  w -= padX; e += padX; s -= padY; n += padY;
  const W = 400, H = 260, scale = Math.min(W / (e - w), H / (n - s));
  const x = (lon) => (lon - w) * scale + (W - (e - w) * scale) / 2;
  const y = (lat) => (n - lat) * scale + (H - (n - s) * scale) / 2;
  // graticule
  const step = niceStep(Math.max(e - w, n - s) / 4);
  for (let lon = Math.ceil(w / step) * step; lon <= e; lon += step)
    svg.append(svgEl("line", { x1: x(lon), x2: x(lon), y1: 0, y2: H, stroke: "#eef1f4" }),
      svgEl("text", { x: x(lon) + 2, y: H - 4, "font-size": 9, fill: "#99a" }, lon.toFixed(2) + "°"));
  for (let lat = Math.ceil(s / step) * step; lat <= n; lat += step)
    svg.append(svgEl("line", { x1: 0, x2: W, y1: y(lat), y2: y(lat), stroke: "#eef1f4" }),
      svgEl("text", { x: 2, y: y(lat) - 2, "font-size": 9, fill: "#99a" }, lat.toFixed(2) + "°"));
  const colours = ["#1f6feb", "#d9480f", "#2b8a3e", "#9c36b5", "#e67700", "#0b7285"];
  boxes.forEach(({ b, t }, i) => {
    const c = colours[i % colours.length];
    const r = svgEl("rect", { x: x(b[0]), y: y(b[3]), width: Math.max((b[2] - b[0]) * scale, 2),
      height: Math.max((b[3] - b[1]) * scale, 2), fill: c, "fill-opacity": 0.15, stroke: c, "stroke-width": 1.5 });
    r.append(svgEl("title", {}, t));
    svg.append(r, svgEl("text", { x: x(b[0]) + 3, y: y(b[3]) + 12 + (i % 3) * 11, "font-size": 10, fill: c }, t));
  });
}
function niceStep(raw) {
  const p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
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

async function openProcess(id) {
  state.process = id;
  document.querySelectorAll("#process-list li").forEach((li) => li.classList.toggle("selected", li.dataset.process === id));
  const [proc, datasets, platforms] = await Promise.all([
    api(`/processes/${encodeURIComponent(id)}`), api("/catalog/datasets"), api("/catalog/platforms")]);
  $("#run-title").textContent = `Run ${proc.title || proc.id}`;
  $("#run-desc").textContent = proc.description || "";
  const fields = $("#run-fields");
  fields.replaceChildren();
  for (const [name, d] of Object.entries(proc.inputs || {})) {
    const kw = d.keywords || [];
    let input;
    if (kw.includes("dataset")) {
      input = el("select", { name, "data-kind": "dataset" },
        ...datasets.map((r) => el("option", { value: r.id }, `${r.body.title} (${short(r.body.cid, 10)})`)));
    } else if (kw.includes("platform")) {
      input = el("select", { name, "data-kind": "platform" },
        ...platforms.map((r) => el("option", { value: r.id }, r.body.name)));
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
    fields.append(el("label", {}, el("span", {}, name + (d.minOccurs > 0 ? " *" : "")), input,
      el("small", { class: "muted" }, " " + (d.description || ""))));
  }
  $("#run-form").hidden = false;
  $("#run-status").textContent = "";
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
    onclick: () => { state.selectedTask = t.address; loadTaskDetail(); } },
    el("td", { class: "cid" }, t.address), el("td", {}, t.process || ""),
    el("td", {}, el("span", { class: `state ${t.state}` }, t.state)),
    el("td", {}, el("span", { class: `state ${t.status}` }, t.status)), el("td", {}, t.created || ""))));
  if (state.selectedTask) await loadTaskDetail();
}

async function loadTaskDetail() {
  const addr = state.selectedTask;
  const [status, history, prov] = await Promise.all([
    api(`/tasks/${addr}`), api(`/tasks/${addr}/history`), api(`/tasks/${addr}/provenance`)]);
  $("#task-detail").hidden = false;
  $("#task-address").textContent = addr;
  const st = $("#task-state");
  st.textContent = status.state;
  st.className = `state ${status.state}`;
  $("#history tbody").replaceChildren(...history.map((h) => el("tr", {},
    el("td", {}, String(h.block ?? "")), el("td", {}, (h.time || "").replace("T", " ").replace("Z", "")),
    el("td", {}, h.event), el("td", { class: "cid", title: h.party || "" }, short(h.party || "", 12)),
    el("td", { class: "cid", title: h.tx || "" }, h.details || ""))));
  drawProvenance(prov);
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
    const p = f.properties, m = p["eotrust:metrics"] || {};
    const metrics = Object.entries(m).filter(([, v]) => typeof v === "number")
      .map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ");
    return el("tr", {}, el("td", {}, p.title || f.id), el("td", {}, p["eotrust:algorithm"] || ""),
      el("td", {}, (p.created || "").slice(0, 19)), el("td", {}, metrics), el("td", { class: "cid", title: f.id }, short(f.id, 14)));
  });
  $("#model-table tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 5 }, "no model package registered"))]));
  const select = $("#predict-model");
  select.replaceChildren(...fc.features.map((f) => el("option", { value: f.id }, f.properties.title || f.id)));
}

// -- prediction map -------------------------------------------------------------------
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
    if (!res.ok) throw new Error((await res.json()).detail || res.statusText);
    const doc = await res.json();
    $("#scene-img").src = doc.scene_png;
    $("#pred-img").src = doc.prediction_png;
    $("#pred-img").style.opacity = $("#predict-opacity").value / 100;
    $("#predict-legend").replaceChildren(...(doc.legend || []).map((c) =>
      el("span", { style: `display:inline-block;margin-right:10px` },
        el("span", { style: `display:inline-block;width:12px;height:12px;background:${c.colour};margin-right:4px` }), c.name)));
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
  } catch (e) { console.error(e); }
}
setInterval(() => { if (document.querySelector(".tab.active").id === "tasks") loadTasks().catch(() => {}); }, 1000);

$("#api-key").value = state.key;
whoami().then(() => refresh("catalogue"));
