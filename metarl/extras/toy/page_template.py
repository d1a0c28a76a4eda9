"""The explorer page: one self-contained HTML file (inline CSS and JavaScript, no network).

The script computes with the same formulas as the core on seed 000's quadratic, for one task
whose query loss equals its support loss: k inner steps phi <- phi - alpha grad f(phi); MAML
back-propagates v <- (I - alpha C) v through them; first-order MAML stops at grad f(phi_k);
Reptile is (theta - phi_k) / alpha; Hessian-free MAML replaces C v by the core's central
difference of gradients; iMAML solves (C + lam I) phi = C m - g + lam theta and
(I + C / lam) w = grad f(phi). ``__REFERENCE__`` is replaced by the core's numbers at a few
settings, which the page checks itself against on load (and reports any mismatch as a console
error, which the browser test treats as a failure).
"""

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>metarl toy explorer: MAML, first-order MAML, Reptile, iMAML, Hessian-free MAML</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.2em; color: #222; max-width: 1500px; }
h1 { font-size: 1.35em; margin-bottom: 0.2em; }
p.lead { margin-top: 0; color: #444; }
#controls { display: grid; grid-template-columns: repeat(5, minmax(220px, 1fr)); gap: 0.3em 1.2em;
  background: #f4f4f4; padding: 0.6em 0.8em; border-radius: 6px; }
#controls label { display: flex; align-items: center; gap: 0.4em; font-size: 0.9em; }
#controls input { flex: 1; }
#controls output { min-width: 3.6em; font-variant-numeric: tabular-nums; }
.panels { display: flex; flex-wrap: wrap; gap: 1em; margin-top: 0.8em; }
figure { margin: 0; width: 340px; }
figcaption { font-size: 0.82em; color: #333; min-height: 4.5em; }
canvas { border: 1px solid #bbb; cursor: crosshair; }
table { border-collapse: collapse; margin-top: 0.6em; font-size: 0.88em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right;
  font-variant-numeric: tabular-nums; }
th { background: #eee; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.3em;
  vertical-align: middle; }
#check.ok { color: #116611; } #check.bad { color: #aa0000; font-weight: bold; }
</style>
</head>
<body>
<h1>The MAML family on one 2-D quadratic task</h1>
<p class="lead">f(x) = &frac12; (x &minus; m)<sup>T</sup> C (x &minus; m) + g<sup>T</sup>x with
m = (&frac12;, &frac12;) and C = [[a, b], [b, c]] (seed 000). Move the sliders; click a panel to
move &theta;. The query loss equals the support loss. Numbers are computed in this page with the
core's formulas and checked against the Python core on load (bottom line).</p>
<div id="controls">
<label>a <input type="range" id="a" min="-1" max="3" step="0.05"
  value="1.5"><output></output></label>
<label>b <input type="range" id="b" min="-1.5" max="1.5" step="0.05"
  value="0.6"><output></output></label>
<label>c <input type="range" id="c" min="-1" max="3" step="0.05"
  value="0.8"><output></output></label>
<label>g<sub>1</sub> <input type="range" id="g1" min="-2" max="2" step="0.05"
  value="0.5"><output></output></label>
<label>g<sub>2</sub> <input type="range" id="g2" min="-2" max="2" step="0.05"
  value="-0.5"><output></output></label>
<label>&theta;<sub>1</sub> <input type="range" id="theta1" min="-2.5" max="3.5" step="0.05"
  value="-1.5"><output></output></label>
<label>&theta;<sub>2</sub> <input type="range" id="theta2" min="-2.5" max="3.5" step="0.05"
  value="2"><output></output></label>
<label>&lambda; <input type="range" id="loglam" min="-2" max="2" step="0.01"
  value="0"><output></output></label>
<label>&alpha; <input type="range" id="alpha" min="0.01" max="1" step="0.01"
  value="0.2"><output></output></label>
<label>k <input type="range" id="k" min="1" max="10" step="1"
  value="3"><output></output></label>
</div>
<div class="panels">
<figure><canvas id="curvature" width="340" height="340"></canvas>
<figcaption id="curvature-caption"></figcaption></figure>
<figure><canvas id="regularised" width="340" height="340"></canvas>
<figcaption id="regularised-caption"></figcaption></figure>
<figure><canvas id="metagrad" width="340" height="340"></canvas>
<figcaption id="metagrad-caption"></figcaption></figure>
<figure><canvas id="sweep" width="340" height="340"></canvas>
<figcaption id="sweep-caption"></figcaption></figure>
</div>
<table id="table"></table>
<p id="check"></p>
<script id="reference" type="application/json">__REFERENCE__</script>
<script>
"use strict";
const REFERENCE = JSON.parse(document.getElementById("reference").textContent);
const M = 0.5, LO = M - 3, HI = M + 3, FD_EPS = REFERENCE.fd_eps;
const SLIDERS = ["a", "b", "c", "g1", "g2", "theta1", "theta2", "loglam", "alpha", "k"];
const VARIANTS = ["fomaml", "reptile", "imaml", "imamlMatched", "hfmaml"];
const COLORS = {maml: "#000000", fomaml: "#ff7f0e", reptile: "#2ca02c", imaml: "#d62728",
  imamlMatched: "#e377c2", hfmaml: "#9467bd"};
const LABELS = {maml: "MAML", fomaml: "first-order MAML", reptile: "Reptile (θ − φ)/α",
  imaml: "iMAML (λ slider)", imamlMatched: "iMAML (λ = 1/(kα))", hfmaml: "Hessian-free MAML"};

// 2-vectors and 2x2 matrices
const add = (u, v) => [u[0] + v[0], u[1] + v[1]];
const sub = (u, v) => [u[0] - v[0], u[1] - v[1]];
const scale = (s, u) => [s * u[0], s * u[1]];
const dot = (u, v) => u[0] * v[0] + u[1] * v[1];
const norm = (u) => Math.hypot(u[0], u[1]);
const mv = (A, v) => [A[0][0] * v[0] + A[0][1] * v[1], A[1][0] * v[0] + A[1][1] * v[1]];
function solve(A, r) {
  const det = A[0][0] * A[1][1] - A[0][1] * A[1][0];
  return [(r[0] * A[1][1] - A[0][1] * r[1]) / det, (A[0][0] * r[1] - A[1][0] * r[0]) / det];
}
function eigenvalues(A) {
  const mean = (A[0][0] + A[1][1]) / 2, radius = Math.hypot((A[0][0] - A[1][1]) / 2, A[0][1]);
  return [mean - radius, mean + radius];
}
function angleDeg(u, v) {
  const cross = u[0] * v[1] - u[1] * v[0];
  return Math.atan2(Math.abs(cross), dot(u, v)) * 180 / Math.PI;
}

// seed 000's task
function loss(C, g, x) { const d = sub(x, [M, M]); return 0.5 * dot(d, mv(C, d)) + dot(g, x); }
function gradient(C, g, x) { return add(mv(C, sub(x, [M, M])), g); }
const ZERO = [[0, 0], [0, 0]];

// Hessian-free MAML's curvature product: a central difference of gradients, step FD_EPS
function fdHvp(C, g, phi, v) {
  const n = norm(v);
  if (n === 0) return [0, 0];
  const s = FD_EPS / n;
  const plus = gradient(C, g, add(phi, scale(s, v))), minus = gradient(C, g, sub(phi, scale(s, v)));
  return scale(1 / (2 * s), sub(plus, minus));
}

// iMAML: phi* = argmin f(phi) + lam/2 |phi - theta|^2, meta-gradient (I + C/lam)^-1 grad f(phi*)
function imaml(C, g, theta, lam) {
  const A = [[C[0][0] + lam, C[0][1]], [C[1][0], C[1][1] + lam]];
  if (!(eigenvalues(A)[0] > 0)) return null;
  const phi = solve(A, add(sub(mv(C, [M, M]), g), scale(lam, theta)));
  const J = [[1 + C[0][0] / lam, C[0][1] / lam], [C[1][0] / lam, 1 + C[1][1] / lam]];
  return {phi: phi, grad: solve(J, gradient(C, g, phi))};
}

function firstOrderError(C, g) {
  let error = 0, total = 0;
  for (let i = 0; i <= 40; i++) {
    for (let j = 0; j <= 40; j++) {
      const x = [LO + (HI - LO) * j / 40, LO + (HI - LO) * i / 40];
      const exact = gradient(C, g, x), e = sub(exact, gradient(ZERO, g, x));
      error += dot(e, e); total += dot(exact, exact);
    }
  }
  const count = 41 * 41;
  return {error: Math.sqrt(error / count), relative: total > 0 ? Math.sqrt(error / total) : 0};
}

function compute(s) {
  const C = [[s.a, s.b], [s.b, s.c]];
  const path = [s.theta];
  let phi = s.theta;
  for (let j = 0; j < s.k; j++) {
    phi = sub(phi, scale(s.alpha, gradient(C, s.g, phi)));
    path.push(phi);
  }
  const queryGrad = gradient(C, s.g, phi);
  let maml = queryGrad, hfmaml = queryGrad;
  for (let j = s.k - 1; j >= 0; j--) {
    maml = sub(maml, scale(s.alpha, mv(C, maml)));
    hfmaml = sub(hfmaml, scale(s.alpha, fdHvp(C, s.g, path[j], hfmaml)));
  }
  const out = {path: path, maml: maml, fomaml: queryGrad, hfmaml: hfmaml,
    reptile: scale(1 / s.alpha, sub(s.theta, phi))};
  const slider = imaml(C, s.g, s.theta, s.lam);
  const matched = imaml(C, s.g, s.theta, 1 / (s.k * s.alpha));
  out.imaml = slider ? slider.grad : null;
  out.phiStar = slider ? slider.phi : null;
  out.imamlMatched = matched ? matched.grad : null;
  out.angle = {}; out.ratio = {};
  for (const name of VARIANTS) {
    if (out[name]) {
      out.angle[name] = angleDeg(out[name], maml);
      out.ratio[name] = norm(out[name]) / norm(maml);
    }
  }
  out.firstOrder = firstOrderError(C, s.g);
  out.curvatureEigenvalues = eigenvalues(C);
  return out;
}

function readState() {
  const v = (id) => parseFloat(document.getElementById(id).value);
  return {a: v("a"), b: v("b"), c: v("c"), g: [v("g1"), v("g2")], theta: [v("theta1"), v("theta2")],
    lam: Math.pow(10, v("loglam")), alpha: v("alpha"), k: Math.round(v("k"))};
}

// drawing
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function viridis(t) {
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2), f = x - i;
  return VIRIDIS[i].map((c, n) => c + f * (VIRIDIS[i + 1][n] - c));
}
const toPixel = (canvas, x) => [
  (x[0] - LO) / (HI - LO) * canvas.width, (1 - (x[1] - LO) / (HI - LO)) * canvas.height];
const toWorld = (canvas, px, py) => [
  LO + px / canvas.width * (HI - LO), LO + (1 - py / canvas.height) * (HI - LO)];

function drawField(canvas, f) {
  const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  const values = new Float64Array(w * h);
  for (let py = 0; py < h; py++) {
    for (let px = 0; px < w; px++) values[py * w + px] = f(toWorld(canvas, px + 0.5, py + 0.5));
  }
  const sorted = Array.from(values).sort((p, q) => p - q);
  const low = sorted[Math.floor(0.01 * sorted.length)];
  const high = sorted[Math.floor(0.99 * sorted.length)];
  const bands = 22, span = high - low || 1;
  const band = new Int32Array(w * h);
  for (let n = 0; n < values.length; n++) {
    band[n] = Math.floor(Math.min(Math.max((values[n] - low) / span, 0), 0.9999) * bands);
  }
  const image = ctx.createImageData(w, h);
  for (let py = 0; py < h; py++) {
    for (let px = 0; px < w; px++) {
      const n = py * w + px, color = viridis((band[n] + 0.5) / bands);
      const edge = (px + 1 < w && band[n + 1] !== band[n])
        || (py + 1 < h && band[n + w] !== band[n]);
      const shade = edge ? 0.65 : 1;
      image.data.set([color[0] * shade, color[1] * shade, color[2] * shade, 255], 4 * n);
    }
  }
  ctx.putImageData(image, 0, 0);
}

function arrow(ctx, from, to, color, width) {
  const angle = Math.atan2(to[1] - from[1], to[0] - from[0]), head = 4 + 2 * width;
  ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = width;
  ctx.beginPath(); ctx.moveTo(from[0], from[1]); ctx.lineTo(to[0], to[1]); ctx.stroke();
  ctx.beginPath(); ctx.moveTo(to[0], to[1]);
  ctx.lineTo(to[0] - head * Math.cos(angle - 0.45), to[1] - head * Math.sin(angle - 0.45));
  ctx.lineTo(to[0] - head * Math.cos(angle + 0.45), to[1] - head * Math.sin(angle + 0.45));
  ctx.closePath(); ctx.fill();
}

function marker(ctx, p, color, radius) {
  ctx.fillStyle = color; ctx.strokeStyle = "#000"; ctx.lineWidth = 1.2;
  ctx.beginPath(); ctx.arc(p[0], p[1], radius, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
}

function drawCurvature(s, result) {
  const canvas = document.getElementById("curvature"), ctx = canvas.getContext("2d");
  const C = [[s.a, s.b], [s.b, s.c]];
  drawField(canvas, (x) => loss(C, s.g, x));
  const points = [], spacing = (HI - LO) / 11;
  for (let i = 0; i < 11; i++) {
    for (let j = 0; j < 11; j++) points.push([LO + spacing * (j + 0.5), LO + spacing * (i + 0.5)]);
  }
  const exact = points.map((x) => gradient(C, s.g, x));
  const first = points.map((x) => gradient(ZERO, s.g, x));
  const longest = Math.max(...exact.map(norm), ...first.map(norm), 1e-12);
  const unit = 0.9 * spacing / longest;
  points.forEach((x, n) => {
    arrow(ctx, toPixel(canvas, x), toPixel(canvas, add(x, scale(unit, first[n]))), "#e03030", 1.4);
    arrow(ctx, toPixel(canvas, x), toPixel(canvas, add(x, scale(unit, exact[n]))), "#ffffff", 1.4);
  });
  document.getElementById("curvature-caption").innerHTML =
    "<b>Curvature (seed 000).</b> Contours of f; white: exact gradient C(x − m) + g; " +
    "red: first-order " +
    "(C = 0) approximation g. RMS error " + result.firstOrder.error.toFixed(3) + " = " +
    (100 * result.firstOrder.relative).toFixed(1) + "% of the RMS gradient; eigenvalues of C: " +
    result.curvatureEigenvalues.map((e) => e.toFixed(2)).join(", ") + ".";
}

function drawRegularised(s, result) {
  const canvas = document.getElementById("regularised"), ctx = canvas.getContext("2d");
  const C = [[s.a, s.b], [s.b, s.c]];
  drawField(canvas, (x) => loss(C, s.g, x) + 0.5 * s.lam * dot(sub(x, s.theta), sub(x, s.theta)));
  marker(ctx, toPixel(canvas, s.theta), "#ffffff", 6);
  let text = "<b>iMAML's inner objective (seed 001).</b> f(φ) + λ/2 ‖φ − θ‖², λ = " +
    s.lam.toFixed(3) + ". White: θ; ";
  const minimum = eigenvalues(C)[0] > 0 ? solve(C, sub(mv(C, [M, M]), s.g)) : null;
  if (minimum) {
    const q = toPixel(canvas, minimum);
    ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.beginPath();
    ctx.moveTo(q[0] - 5, q[1] - 5); ctx.lineTo(q[0] + 5, q[1] + 5);
    ctx.moveTo(q[0] - 5, q[1] + 5); ctx.lineTo(q[0] + 5, q[1] - 5); ctx.stroke();
    text += "black cross: the task's minimum (λ → 0); ";
  }
  if (result.phiStar) {
    const star = toPixel(canvas, result.phiStar);
    marker(ctx, star, "#d62728", 6);
    text += "red: inner optimum φ* = (" + result.phiStar.map((v) => v.toFixed(3)).join(", ") +
      ").";
  } else {
    text += "no inner optimum: λ ≤ −λ<sub>min</sub>(C), the regularised objective is " +
      "unbounded below.";
  }
  document.getElementById("regularised-caption").innerHTML = text;
}

function drawMetaGradients(s, result) {
  const canvas = document.getElementById("metagrad"), ctx = canvas.getContext("2d");
  const C = [[s.a, s.b], [s.b, s.c]];
  drawField(canvas, (x) => loss(C, s.g, x));
  ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 1.5; ctx.beginPath();
  result.path.forEach((p, n) => {
    const q = toPixel(canvas, p);
    if (n === 0) ctx.moveTo(q[0], q[1]); else ctx.lineTo(q[0], q[1]);
  });
  ctx.stroke();
  result.path.forEach((p) => marker(ctx, toPixel(canvas, p), "#ffffff", 2.5));
  const names = ["maml", ...VARIANTS].filter((n) => result[n] && norm(result[n]) > 0);
  const start = toPixel(canvas, s.theta);
  for (const name of names) {
    const direction = scale(-1.4 / norm(result[name]), result[name]);
    const end = toPixel(canvas, add(s.theta, direction));
    arrow(ctx, start, end, COLORS[name], name === "maml" ? 4 : 2);
  }
  marker(ctx, start, "#ffffff", 5);
  document.getElementById("metagrad-caption").innerHTML =
    "<b>Meta-gradients at θ.</b> White dots: MAML's k = " + s.k + " inner steps of α = " +
    s.alpha.toFixed(2) +
    ". Arrows: the direction of minus each variant's meta-gradient (lengths in the table). " +
    names.map((n) => swatch(n) + LABELS[n]).join(" ");
}

function drawSweep(s) {
  const canvas = document.getElementById("sweep"), ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  const left = 46, bottom = h - 34, top = 10, right = w - 10;
  const aLow = -3, aHigh = 0, yLow = -8, yHigh = Math.log10(180);
  const px = (alpha) => left + (Math.log10(alpha) - aLow) / (aHigh - aLow) * (right - left);
  const py = (angle) => bottom
    - (Math.log10(Math.max(angle, 1e-8)) - yLow) / (yHigh - yLow) * (bottom - top);
  ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, w, h);
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
  ctx.strokeRect(left, top, right - left, bottom - top);
  ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
  for (let e = aLow; e <= aHigh; e++) ctx.fillText("1e" + e, px(Math.pow(10, e)) - 10, bottom + 14);
  for (let e = yLow; e <= 2; e += 2) ctx.fillText("1e" + e, 4, py(Math.pow(10, e)) + 4);
  ctx.fillText("inner step size α (log)", left + 80, h - 4);
  const alphas = [];
  for (let n = 0; n <= 60; n++) alphas.push(Math.pow(10, aLow + (aHigh - aLow) * n / 60));
  const curves = alphas.map((alpha) => compute(Object.assign({}, s, {alpha: alpha})));
  for (const name of ["fomaml", "reptile", "imamlMatched", "hfmaml"]) {
    ctx.strokeStyle = COLORS[name]; ctx.lineWidth = 2; ctx.beginPath();
    let drawing = false;
    curves.forEach((r, n) => {
      if (r.angle[name] === undefined || !isFinite(r.angle[name])) { drawing = false; return; }
      const x = px(alphas[n]), y = py(r.angle[name]);
      if (drawing) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      drawing = true;
    });
    ctx.stroke();
  }
  ctx.strokeStyle = "#000"; ctx.setLineDash([4, 3]); ctx.beginPath();
  ctx.moveTo(px(s.alpha), top); ctx.lineTo(px(s.alpha), bottom); ctx.stroke(); ctx.setLineDash([]);
  document.getElementById("sweep-caption").innerHTML =
    "<b>Angle to MAML's meta-gradient vs α</b> (degrees, log-log, k = " + s.k +
    "; dashed: current α). First-order MAML and Reptile separate like α (seed 003's Taylor " +
    "analysis); iMAML with λ = 1/(kα) like α²; " +
    "Hessian-free MAML is exact on quadratics (drawn at the 1e-8 floor).";
}

function fmt(v) { return v.map((x) => x.toPrecision(5)).join(", "); }
function swatch(name) {
  return "<span class='swatch' style='background:" + COLORS[name] + "'></span>";
}

function drawTable(result) {
  const rows = [["maml", result.maml, 0, 1]];
  for (const name of VARIANTS) {
    if (result[name]) rows.push([name, result[name], result.angle[name], result.ratio[name]]);
  }
  const angle = (a) => (a < 1e-3 ? a.toExponential(2) : a.toFixed(3));
  document.getElementById("table").innerHTML =
    "<tr><th style='text-align:left'>variant</th><th>meta-gradient</th>" +
    "<th>angle to MAML (deg)</th><th>‖g‖ / ‖g<sub>MAML</sub>‖</th></tr>" +
    rows.map((r) => "<tr><td style='text-align:left'>" + swatch(r[0]) + LABELS[r[0]] +
      "</td><td>(" + fmt(r[1]) + ")</td><td>" + angle(r[2]) + "</td><td>" + r[3].toFixed(4) +
      "</td></tr>").join("");
}

function render() {
  for (const id of SLIDERS) {
    const input = document.getElementById(id), value = parseFloat(input.value);
    input.nextElementSibling.textContent =
      id === "loglam" ? Math.pow(10, value).toFixed(3) : String(value);
  }
  const s = readState(), result = compute(s);
  drawCurvature(s, result);
  drawRegularised(s, result);
  drawMetaGradients(s, result);
  drawSweep(s);
  drawTable(result);
  return result;
}

// the page's formulas against the Python core's numbers, at the reference settings
const CHECKED = ["maml", "fomaml", "reptile", "hfmaml", "imaml", "imamlMatched", "phiStar", "path"];
function selfCheck() {
  let worst = 0;
  const compare = (js, core) => {
    if (core === null || js === null) { if (core !== js) worst = Infinity; return; }
    const a = [].concat(js).flat(), b = [].concat(core).flat();
    let scaleRef = 1e-12;
    b.forEach((x) => { scaleRef = Math.max(scaleRef, Math.abs(x)); });
    a.forEach((x, n) => { worst = Math.max(worst, Math.abs(x - b[n]) / scaleRef); });
  };
  for (const ref of REFERENCE.settings) {
    const js = compute(ref.state);
    for (const key of CHECKED) compare(js[key], ref.core[key]);
    compare(js.firstOrder.relative, ref.core.firstOrderRelative);
  }
  const ok = worst < REFERENCE.tolerance;
  const element = document.getElementById("check");
  element.className = ok ? "ok" : "bad";
  element.textContent = (ok ? "Check passed: " : "Check FAILED: ") +
    "the page's numbers agree with the Python core at " + REFERENCE.settings.length +
    " settings to a relative " + worst.toExponential(2) + " (tolerance " + REFERENCE.tolerance +
    ").";
  if (!ok) console.error("toy explorer: page formulas disagree with the core: " + worst);
  return {ok: ok, worst: worst};
}

for (const id of SLIDERS) document.getElementById(id).addEventListener("input", render);
for (const id of ["regularised", "metagrad"]) {
  const canvas = document.getElementById(id);
  canvas.addEventListener("click", (event) => {
    const box = canvas.getBoundingClientRect();
    const x = toWorld(canvas, (event.clientX - box.left) * canvas.width / box.width,
      (event.clientY - box.top) * canvas.height / box.height);
    document.getElementById("theta1").value = x[0];
    document.getElementById("theta2").value = x[1];
    render();
  });
}
render();
window.toyExplorer = {compute: compute, readState: readState, render: render, check: selfCheck()};
</script>
</body>
</html>
"""
