"""The explorer page ``keras-gans serve`` answers ``GET /`` and ``GET /explore`` with.

One self-contained HTML document (inline CSS and JavaScript; no external scripts, fonts, images
or CDNs, and a Content-Security-Policy that forbids loading any: it works offline). The server
fills in only the names of the models it holds and, per version, what the export's
``assets.extra/keras_gans.json`` says (architecture, class count and labels, resolution), which
the serving API does not carry; everything else the page learns and does through the documented
TF Serving REST API, exactly as any client would:

- ``GET /v1/models/NAME``: the versions and their states (a version picker of the AVAILABLE ones);
- ``GET /v1/models/NAME/versions/V/metadata``: the signatures (latent size, conditional or not);
- ``POST /v1/models/NAME/versions/V:predict`` with ``signature_name: "sample"`` (a grid: seed,
  count, class, truncation) and, for an interpolation, ``sample`` with ``num: 1`` per end seed
  (their ``z``), a slerp in JavaScript (``slerp`` / ``interpolationPath``: a transcription of
  ``keras_gans.explore.slerp`` / ``interpolation_path``, same operations in the same order) and
  ``serving_default`` on the path; the images shown are the responses' ``images_png_bytes``.

The page adds nothing to the server's surface: no endpoint that writes, the same body and batch
limits (the server's refusals are shown as they come), the same bind address. Signatures with
string inputs (conditional image models, when they exist: none of the exported families has one
today) get an upload box whose file is sent as ``{"b64": ...}``.
"""

from __future__ import annotations

import json

# No external fetches of any kind; inline script and style only; images only from data: URLs;
# requests only to this server.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                           "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                           "frame-ancestors 'none'")
PATHS = ("/", "/explore", "/explore/")
_META_KEYS = ("arch", "preset", "num_classes", "labels", "resolution", "channels", "latent_dim", "kimg")


def models_info(manager) -> dict:
    """``{name: {version: {arch, num_classes, labels, ...}}}`` of the loaded versions (from each
    export's ``keras_gans.json``; ``{}`` for a version without one)."""
    from keras_gans.serving.export import read_export_metadata

    out = {}
    for name in manager.model_names():
        versions = {}
        for v in manager.available_versions(name):
            try:
                path = manager.resolve(name, v).path
                meta = read_export_metadata(path) or {}
            except Exception:  # noqa: BLE001 - unloaded meanwhile, unreadable: the page copes
                meta = {}
            versions[str(v)] = {k: meta.get(k) for k in _META_KEYS if k in meta}
        out[name] = versions
    return out


def page(manager) -> bytes:
    """The page, with the models' names and export metadata filled in (UTF-8 bytes)."""
    data = json.dumps({"models": models_info(manager)}, sort_keys=True)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return _PAGE.replace("__KERAS_GANS_MODELS__", data).encode("utf-8")


_PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>keras-gans explorer</title>
<style>
  :root { --fg: #1d2733; --muted: #5b6b7c; --line: #d6dde5; --bg: #f6f8fa; --accent: #2f6fb3; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
  header { padding: 10px 18px; background: #fff; border-bottom: 1px solid var(--line); display: flex;
           gap: 16px; align-items: center; flex-wrap: wrap; }
  header h1 { font-size: 17px; margin: 0 12px 0 0; }
  main { padding: 14px 18px; display: grid; gap: 14px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; }
  section h2 { font-size: 14px; margin: 0 0 8px; }
  label { color: var(--muted); margin-right: 10px; white-space: nowrap; }
  input[type=number] { width: 5.5em; }
  .row { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
  .images { display: flex; flex-wrap: wrap; gap: 3px; }
  .images img { image-rendering: pixelated; width: var(--cell, 96px); height: auto; background: #eee; }
  .strip { flex-wrap: nowrap; overflow-x: auto; }
  .error { color: #b3261e; white-space: pre-wrap; }
  .info { color: var(--muted); font-size: 12px; }
  button { padding: 3px 12px; }
</style>
</head>
<body>
<header>
  <h1>keras-gans explorer</h1>
  <label>model <select id="model"></select></label>
  <label>version <select id="version"></select></label>
  <label>zoom <input id="zoom" type="range" min="32" max="256" step="16" value="96"></label>
  <span id="modelinfo" class="info"></span>
</header>
<main>
  <section id="controls">
    <div class="row">
      <label>seed <input id="seed" type="number" value="0" min="0" step="1"></label>
      <label>count <input id="num" type="number" value="16" min="1" max="1024" step="1"></label>
      <label id="classbox">class <select id="class"></select></label>
      <label>truncation <input id="truncation" type="range" min="0" max="2" step="0.05" value="0">
        <output id="truncationvalue">off</output></label>
      <span id="uploads"></span>
      <button id="draw">draw</button>
    </div>
    <div id="status" class="info"></div>
    <div id="error" class="error"></div>
  </section>
  <section>
    <h2>samples</h2>
    <div id="grid" class="images"></div>
  </section>
  <section>
    <h2>interpolation (slerp of z between two seeds' latents)</h2>
    <div class="row">
      <label>seed A <input id="seedA" type="number" value="0" step="1"></label>
      <label>seed B <input id="seedB" type="number" value="1" step="1"></label>
      <label>frames <input id="frames" type="number" value="8" min="2" max="64" step="1"></label>
      <button id="interpolate">interpolate</button>
    </div>
    <div id="strip" class="images strip"></div>
  </section>
</main>
<script type="application/json" id="kg-models">__KERAS_GANS_MODELS__</script>
<script>
"use strict";
const KG = JSON.parse(document.getElementById("kg-models").textContent).models;
const state = { model: null, version: null, latentDim: null, conditional: false, numClasses: null,
                labels: null, stringInputs: [], uploads: {}, busy: 0, lastGrid: null,
                lastInterpolation: null, errors: [] };
window.kgExplorer = state;
const $ = (id) => document.getElementById(id);

// --- the maths: keras_gans.explore.slerp / interpolation_path, operation for operation -------
function dot(a, b) { let acc = 0.0; for (let i = 0; i < a.length; i++) { acc += a[i] * b[i]; } return acc; }
function lerp(a, b, t) { const out = new Array(a.length); for (let i = 0; i < a.length; i++) { out[i] = (1.0 - t) * a[i] + t * b[i]; } return out; }
function slerp(a, b, t) {
  if (t === 0) return a.slice();
  if (t === 1) return b.slice();
  const na = Math.sqrt(dot(a, a)), nb = Math.sqrt(dot(b, b));
  const cos = (na > 0 && nb > 0) ? dot(a, b) / (na * nb) : 1.0;
  const omega = Math.acos(Math.min(1.0, Math.max(-1.0, cos)));
  const so = Math.sin(omega);
  if (so < 1e-6) return lerp(a, b, t);
  const wa = Math.sin((1.0 - t) * omega) / so, wb = Math.sin(t * omega) / so;
  const out = new Array(a.length);
  for (let i = 0; i < a.length; i++) { out[i] = wa * a[i] + wb * b[i]; }
  return out;
}
function interpolationTimes(frames) { const ts = []; for (let i = 0; i < frames; i++) ts.push(i / (frames - 1)); return ts; }
function interpolationPath(keys, frames) {
  const times = interpolationTimes(frames), rows = [keys[0].slice()];
  for (let k = 0; k + 1 < keys.length; k++) for (const t of times.slice(1)) rows.push(slerp(keys[k], keys[k + 1], t));
  return rows;  // the server casts to float32, as numpy's astype(float32) does
}
window.kgMaths = { slerp, lerp, interpolationPath, interpolationTimes };

// --- the documented REST API --------------------------------------------------------------
function modelPath() {
  return "/v1/models/" + encodeURIComponent(state.model) + (state.version ? "/versions/" + state.version : "");
}
async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  const resp = await fetch(path, init);
  let doc = {};
  try { doc = await resp.json(); } catch (e) { doc = { error: resp.statusText }; }
  if (!resp.ok) throw new Error((doc && doc.error) || (resp.status + " " + resp.statusText));
  return doc;
}
async function predict(signature, inputs) {
  return (await api("POST", modelPath() + ":predict", { signature_name: signature, inputs })).outputs;
}

function showError(e) { const msg = e ? String(e.message || e) : ""; $("error").textContent = msg; if (msg) state.errors.push(msg); }
function busy(delta, what) {
  state.busy += delta;
  document.body.dataset.busy = String(state.busy);
  $("status").textContent = state.busy ? what || "working..." : "";
}
function show(target, pngs, titles) {
  const box = $(target);
  box.replaceChildren(...pngs.map((p, i) => {
    const img = document.createElement("img");
    img.src = "data:image/png;base64," + p.b64;
    if (titles) img.title = titles[i];
    return img;
  }));
}
function classInput() {
  if (!state.conditional) return null;
  const v = parseInt($("class").value, 10);
  return Number.isFinite(v) ? v : -1;
}
function stringInputs() {
  const out = {};
  for (const name of state.stringInputs) {
    if (!state.uploads[name]) throw new Error("choose a file for the " + name + " input");
    out[name] = [{ b64: state.uploads[name] }];
  }
  return out;
}
function int(id, lo, hi) {
  const v = Number($(id).value);
  if (!Number.isInteger(v) || v < lo || (hi !== undefined && v > hi))
    throw new Error(id + " must be a whole number" + (hi !== undefined ? " in " + lo + ".." + hi : " >= " + lo));
  return v;
}

// --- the pictures -------------------------------------------------------------------------
async function drawGrid() {
  showError(null);
  busy(1, "sampling...");
  try {
    const inputs = { seed: int("seed", 0), num: int("num", 1), truncation: Number($("truncation").value), ...stringInputs() };
    const c = classInput();
    if (c !== null) inputs.class_id = [c];
    const out = await predict("sample", inputs);
    const ids = out.class_id || null;
    show("grid", out.images_png_bytes, ids ? ids.map((k) => "class " + k) : null);
    state.lastGrid = { model: state.model, version: state.version, inputs, pngs: out.images_png_bytes.map((p) => p.b64), classIds: ids };
  } catch (e) { showError(e); } finally { busy(-1); }
}

async function drawInterpolation() {
  showError(null);
  busy(1, "interpolating...");
  try {
    const seeds = [int("seedA", 0), int("seedB", 0)], frames = int("frames", 2, 1024);
    const truncation = Number($("truncation").value), c = classInput(), extra = stringInputs();
    const keys = [], keyClasses = [];
    for (const s of seeds) {  // the latent of seed s: the sample signature's z for num = 1
      const inputs = { seed: s, num: 1, truncation, ...extra };
      if (c !== null) inputs.class_id = [c];
      const out = await predict("sample", inputs);
      keys.push(out.z[0]);
      if (out.class_id) keyClasses.push(out.class_id[0]);
    }
    const z = interpolationPath(keys, frames);
    const inputs = { z, ...extra };
    let cls = null;
    if (state.conditional) { cls = (c !== null && c >= 0) ? c : keyClasses[0]; inputs.class_id = z.map(() => cls); }
    const out = await predict("serving_default", inputs);
    show("strip", out.images_png_bytes, z.map((_, i) => "frame " + i));
    state.lastInterpolation = { model: state.model, version: state.version, seeds, frames, truncation,
                                classId: cls, keys, z, pngs: out.images_png_bytes.map((p) => p.b64) };
  } catch (e) { showError(e); } finally { busy(-1); }
}

// --- models, versions, signatures ---------------------------------------------------------
function option(value, text) { const o = document.createElement("option"); o.value = value; o.textContent = text; return o; }

async function chooseModel() {
  showError(null);
  state.model = $("model").value;
  busy(1, "loading model status...");
  try {
    const status = await api("GET", "/v1/models/" + encodeURIComponent(state.model));
    const versions = status.model_version_status.filter((v) => v.state === "AVAILABLE")
      .map((v) => Number(v.version)).sort((a, b) => b - a);
    $("version").replaceChildren(...versions.map((v) => option(v, String(v))));
    await chooseVersion();
  } catch (e) { showError(e); } finally { busy(-1); }
}

async function chooseVersion() {
  showError(null);
  state.version = $("version").value || null;
  busy(1, "loading metadata...");
  try {
    const meta = await api("GET", modelPath() + "/metadata");
    const sigs = meta.metadata.signature_def.signature_def;
    if (!sigs.sample || !sigs.serving_default || !sigs.serving_default.inputs.z)
      throw new Error("model " + state.model + " has no `sample` / `serving_default` signatures: not a keras-gans export");
    const dims = sigs.serving_default.inputs.z.tensor_shape.dim;
    state.latentDim = Number(dims[dims.length - 1].size);
    state.conditional = "class_id" in sigs.sample.inputs;
    state.stringInputs = Object.entries(sigs.sample.inputs).filter(([, v]) => v.dtype === "DT_STRING").map(([k]) => k);
    const info = (KG[state.model] || {})[String(state.version)] || {};
    state.numClasses = info.num_classes || null;
    state.labels = info.labels || null;
    const cls = $("class");
    cls.replaceChildren(option(-1, "random"));
    if (state.conditional && state.numClasses) {
      for (let k = 0; k < state.numClasses; k++)
        cls.appendChild(option(k, state.labels && state.labels[k] && String(state.labels[k]) !== String(k) ? k + " " + state.labels[k] : String(k)));
    } else if (state.conditional) {
      for (let k = 0; k < 1000; k++) cls.appendChild(option(k, String(k)));  // count unknown
    }
    $("classbox").style.display = state.conditional ? "" : "none";
    $("uploads").replaceChildren(...state.stringInputs.map((name) => {
      const lab = document.createElement("label"), inp = document.createElement("input");
      lab.textContent = name + " ";
      inp.type = "file"; inp.accept = "image/*";
      inp.addEventListener("change", () => {
        const f = inp.files[0]; if (!f) return;
        const r = new FileReader();
        r.onload = () => { state.uploads[name] = String(r.result).split(",", 2)[1]; };
        r.readAsDataURL(f);
      });
      lab.appendChild(inp);
      return lab;
    }));
    $("modelinfo").textContent = [info.arch, info.resolution ? info.resolution + "px" : null,
      "z " + state.latentDim, state.conditional ? (state.numClasses || "?") + " classes" : "unconditional",
      info.kimg !== undefined ? info.kimg + " kimg" : null].filter(Boolean).join(" \u00b7 ");
    await drawGrid();
  } catch (e) { showError(e); } finally { busy(-1); }
}

let timer = null;
function redrawSoon() { clearTimeout(timer); timer = setTimeout(drawGrid, 150); }
$("truncation").addEventListener("input", () => {
  const v = Number($("truncation").value);
  $("truncationvalue").textContent = v > 0 ? v.toFixed(2) : "off";
  redrawSoon();
});
$("class").addEventListener("change", drawGrid);
$("seed").addEventListener("change", drawGrid);
$("num").addEventListener("change", drawGrid);
$("draw").addEventListener("click", drawGrid);
$("interpolate").addEventListener("click", drawInterpolation);
$("model").addEventListener("change", chooseModel);
$("version").addEventListener("change", chooseVersion);
$("zoom").addEventListener("input", () => document.body.style.setProperty("--cell", $("zoom").value + "px"));

const names = Object.keys(KG).sort();
$("model").replaceChildren(...names.map((n) => option(n, n)));
if (names.length) chooseModel(); else $("status").textContent = "this server holds no models yet";
</script>
</body>
</html>
"""
