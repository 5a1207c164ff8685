// handgrad playground: the page draws what the server computes; no math of training here.
"use strict";

const $ = (id) => document.getElementById(id);
const hg = (window.hg = { frame: null, data: null, messages: [], config: null, catalogue: null });
const BLUE = [37, 99, 235], ORANGE = [245, 128, 37], WHITE = [248, 248, 248];
let ws = null, cat = null, config = null, sendTimer = null, charts = {}, raceAnim = null;

// ---- colours -----------------------------------------------------------------------------------
function mix(a, b, t) { return a.map((v, i) => Math.round(v + (b[i] - v) * t)); }
function diverging(u) { // u in [-1, 1]: orange - white - blue
  return u < 0 ? mix(WHITE, ORANGE, Math.min(1, -u)) : mix(WHITE, BLUE, Math.min(1, u));
}
function rgb(c, a) { return a === undefined ? `rgb(${c})` : `rgba(${c},${a})`; }
function bytes(b64) { return Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0)); }
function image(b64, size, toUnit) { // a size x size canvas coloured from base64 bytes
  const v = bytes(b64), c = document.createElement("canvas");
  c.width = c.height = size;
  const ctx = c.getContext("2d"), img = ctx.createImageData(size, size);
  for (let i = 0; i < v.length; i++) {
    const col = diverging(toUnit(v[i] / 255));
    img.data.set([col[0], col[1], col[2], 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

// ---- the set-up and the URL --------------------------------------------------------------------
const LISTS = ["hidden"], OBJECTS = { options: "opt.", schedule_options: "sched." };
function parseValue(s) {
  if (s === "true") return true;
  if (s === "false") return false;
  if (s !== "" && !isNaN(Number(s))) return Number(s);
  return s; // the server names what is wrong with it
}
function configFromUrl(defaults) {
  const c = JSON.parse(JSON.stringify(defaults)), q = new URLSearchParams(location.search);
  for (const [key, value] of q) {
    const obj = Object.keys(OBJECTS).find((k) => key.startsWith(OBJECTS[k]));
    if (obj) c[obj][key.slice(OBJECTS[obj].length)] = parseValue(value);
    else if (LISTS.includes(key)) c[key] = value === "" ? [] : value.split(",").map(parseValue);
    else c[key] = parseValue(value);
  }
  return c;
}
function urlFromConfig(c) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(c)) {
    if (OBJECTS[key]) for (const [k, v] of Object.entries(value)) q.set(OBJECTS[key] + k, v);
    else q.set(key, Array.isArray(value) ? value.join(",") : value);
  }
  return "?" + q.toString();
}
function changed(immediate) {
  history.replaceState(null, "", urlFromConfig(config));
  hg.config = config;
  renderControls();
  clearTimeout(sendTimer);
  sendTimer = setTimeout(() => send({ type: "config", config }), immediate ? 0 : 150);
}

// ---- messages ----------------------------------------------------------------------------------
function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}
function showMessage(text) {
  $("message-text").textContent = text;
  $("message").hidden = false;
}
function showNotice(text) {
  $("notice").textContent = text;
  $("notice").hidden = false;
  clearTimeout(showNotice.timer);
  showNotice.timer = setTimeout(() => ($("notice").hidden = true), 8000);
}
const handlers = {
  hello(m) {
    cat = hg.catalogue = m.catalogue;
    config = configFromUrl(cat.defaults);
    buildControls();
    changed(true);
  },
  data(m) { hg.data = m; },
  frame(m) { hg.frame = m; drawFrame(m); },
  error(m) { hg.messages.push(m); showMessage(m.message); },
  notice(m) { hg.messages.push(m); showNotice(m.message); },
  explain(m) {
    showView("explain-view");
    $("explain-verdict").textContent = m.verdict;
    $("explain-text").textContent = m.text;
  },
  curvature(m) { showView("curvature-view"); drawCurvature(m); },
  race(m) { showView("race-view"); startRace(m); },
};
function connect() {
  ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onopen = () => ($("status").textContent = "connected");
  ws.onclose = () => {
    $("status").textContent = "disconnected: is `handgrad playground` still running? Reload.";
    $("status").classList.add("bad");
  };
  ws.onmessage = (event) => {
    const m = JSON.parse(event.data);
    if (m.type !== "frame") $("teach-status").textContent = "";
    handlers[m.type](m);
  };
}
function showView(id) {
  for (const v of ["explain-view", "curvature-view", "race-view"]) $(v).hidden = v !== id;
}

// ---- controls ----------------------------------------------------------------------------------
function option(select, value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text || value;
  select.appendChild(o);
}
function buildControls() {
  for (const d of cat.datasets) {
    const b = document.createElement("button");
    b.textContent = d.title;
    b.dataset.dataset = d.name;
    b.onclick = () => {
      const task = d.task, was = cat.heads[config.head].task;
      config.dataset = d.name;
      if (task !== was) config.head = task === "regression" ? "identity_mse" : "sigmoid_bce";
      changed(true);
    };
    $("datasets").appendChild(b);
  }
  for (const a of cat.activations) option($("activation"), a);
  for (const name of Object.keys(cat.optimizers)) option($("optimizer"), name);
  option($("schedule"), "none", "none (constant)");
  for (const name of Object.keys(cat.schedules)) option($("schedule"), name);
  const bind = (id, key, parse, event) => $(id).addEventListener(event || "change", () => {
    config[key] = parse($(id));
    changed(event === "change" || !event);
  });
  const num = (el) => parseValue(el.value);
  bind("noise", "noise", num, "input");
  bind("train-ratio", "train_ratio", num, "input");
  bind("points", "points", num);
  bind("seed", "seed", num);
  bind("l1", "l1", num);
  bind("l2", "l2", num);
  bind("dropout", "dropout", num);
  bind("batchnorm", "batchnorm", (el) => el.checked);
  bind("activation", "activation", (el) => el.value);
  bind("head", "head", (el) => el.value);
  bind("lr", "lr", num);
  bind("batch-size", "batch_size", num, "input");
  bind("speed", "speed", num);
  $("optimizer").addEventListener("change", () => {
    config.optimizer = $("optimizer").value;
    config.options = {};
    changed(true);
  });
  $("schedule").addEventListener("change", () => {
    config.schedule = $("schedule").value;
    config.schedule_options = {};
    changed(true);
  });
  $("add-layer").onclick = () => {
    if (config.hidden.length < cat.limits.layers) config.hidden.push(4);
    changed(true);
  };
  $("remove-layer").onclick = () => { config.hidden.pop(); changed(true); };
  $("play").onclick = () => send({ type: hg.frame && hg.frame.playing ? "pause" : "play" });
  $("step").onclick = () => send({ type: "step" });
  $("reset").onclick = () => send({ type: "reset" });
  $("message-close").onclick = () => ($("message").hidden = true);
  $("explain").onclick = () => teach({ type: "explain" }, "tracing one step...");
  $("curvature").onclick = () => teach({ type: "curvature" }, "computing the Hessian...");
  $("race").onclick = () => teach({ type: "race", function: $("race-function").value },
                                  "racing...");
  $("show-test").onchange = () => hg.frame && drawFrame(hg.frame);
}
function teach(message, text) {
  $("teach-status").textContent = text;
  send(message);
}
function optionForm(container, options, values, onChange) {
  container.innerHTML = "";
  for (const o of options) {
    const label = document.createElement("label"), input = document.createElement("input");
    label.className = "opt";
    const shown = o.name in values ? values[o.name] : o.default;
    if (o.kind === "bool") {
      input.type = "checkbox";
      input.checked = !!shown;
    } else {
      input.type = "text";
      input.size = 8;
      input.value = shown === null ? "" : shown;
      input.placeholder = o.default === null ? "not set" : "";
    }
    input.name = o.name;
    input.onchange = () => {
      const v = o.kind === "bool" ? input.checked : input.value.trim();
      if (v === "" || v === o.default) delete values[o.name];
      else values[o.name] = o.kind === "bool" || o.kind === "text" ? v : parseValue(v);
      onChange();
    };
    const name = document.createElement("b"), meaning = document.createElement("span");
    name.textContent = o.name;
    meaning.textContent = o.meaning;
    meaning.className = "meaning";
    label.append(name, input, meaning);
    container.appendChild(label);
  }
}
function renderControls() {
  const c = config, heads = Object.entries(cat.heads);
  for (const b of $("datasets").children) b.classList.toggle("on", b.dataset.dataset === c.dataset);
  $("noise").value = c.noise; $("noise-out").textContent = c.noise;
  $("train-ratio").value = c.train_ratio;
  $("train-ratio-out").textContent = Math.round(100 * c.train_ratio) + "%";
  for (const id of ["points", "seed", "l1", "l2", "dropout"]) $(id).value = c[id.replace("-", "_")];
  $("batchnorm").checked = c.batchnorm;
  $("activation").value = c.activation;
  const task = (cat.datasets.find((d) => d.name === c.dataset) || {}).task;
  $("head").innerHTML = "";
  for (const [name, h] of heads) if (h.task === task) option($("head"), name, h.text);
  $("head").value = c.head;
  if (document.activeElement !== $("lr")) $("lr").value = c.lr;
  $("optimizer").value = c.optimizer;
  $("schedule").value = c.schedule;
  $("speed").value = c.speed;
  const nTrain = Math.max(1, Math.min(c.points - 1, Math.round(c.train_ratio * c.points)));
  $("batch-size").max = nTrain;
  $("batch-size").value = c.batch_size;
  $("batch-out").textContent = c.batch_size === 0 ? `full (${nTrain})` : c.batch_size;
  const opt = cat.optimizers[c.optimizer];
  if (opt) {
    optionForm($("opt-options"), opt.options, c.options, () => changed(true));
    $("opt-doc").textContent = opt.doc;
  }
  const sched = cat.schedules[c.schedule];
  optionForm($("sched-options"), sched ? sched.options : [], c.schedule_options,
             () => changed(true));
  $("sched-doc").textContent = sched ? sched.doc : "eta stays at the learning rate above.";
  renderWidths();
}
function renderWidths() {
  const box = $("widths");
  box.innerHTML = "";
  config.hidden.forEach((w, k) => {
    const div = document.createElement("div"), minus = document.createElement("button"),
      plus = document.createElement("button"), label = document.createElement("span");
    label.textContent = `${w} neuron${w === 1 ? "" : "s"}`;
    minus.textContent = "\u2212";
    plus.textContent = "+";
    minus.className = "width-minus";
    plus.className = "width-plus";
    minus.dataset.layer = plus.dataset.layer = k;
    minus.onclick = () => { if (config.hidden[k] > 1) config.hidden[k] -= 1; changed(true); };
    plus.onclick = () => {
      if (config.hidden[k] < cat.limits.width) config.hidden[k] += 1;
      changed(true);
    };
    div.append(minus, label, plus);
    box.appendChild(div);
  });
  $("net-summary").textContent = config.hidden.length ? "" : "(no hidden layer: a linear model)";
}

// ---- drawing a frame ---------------------------------------------------------------------------
function fmt(v) { return v === null || v === undefined ? "-" : Number(v).toPrecision(4); }
function drawFrame(f) {
  $("epoch").textContent = f.epoch;
  $("eps").textContent = f.eps.toFixed(0);
  $("lr-now").textContent = fmt(f.lr);
  $("train-loss").textContent = fmt(f.train_loss);
  $("test-loss").textContent = fmt(f.test_loss);
  $("test-acc").textContent = f.accuracy.test === undefined ? "-" :
    (100 * f.accuracy.test).toFixed(1) + "%";
  $("play").innerHTML = f.playing ? "&#10074;&#10074; pause" : "&#9654; play";
  $("play").classList.toggle("on", f.playing);
  if (f.task === "regression") drawRegression(f); else drawHeatmap(f);
  drawNetwork(f);
  drawCharts(f);
}
function toPixel(v, size) { return ((v + cat.extent) / (2 * cat.extent)) * size; }
function drawPoints(ctx, size, xs, ds, rim) {
  for (let i = 0; i < xs.length; i++) {
    ctx.beginPath();
    ctx.arc(toPixel(xs[i][0], size), size - toPixel(xs[i][1], size), 3.6, 0, 2 * Math.PI);
    ctx.fillStyle = rgb(ds[i] > 0.5 ? mix(BLUE, [0, 0, 0], 0.15) : mix(ORANGE, [0, 0, 0], 0.1));
    ctx.fill();
    ctx.lineWidth = 1.2;
    ctx.strokeStyle = rim;
    ctx.stroke();
  }
}
function drawHeatmap(f) {
  const canvas = $("heatmap"), ctx = canvas.getContext("2d"), size = canvas.width;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(image(f.output, f.grid, (p) => 2 * p - 1), 0, 0, size, size);
  $("out-caption").textContent = "P(class 1) over the plane; points: train (white rim)";
  const data = hg.data;
  if (!data || data.version !== f.data_version) return;
  drawPoints(ctx, size, data.x_train, data.d_train, "white");
  if ($("show-test").checked) drawPoints(ctx, size, data.x_test, data.d_test, "black");
}
function drawRegression(f) {
  const canvas = $("heatmap"), ctx = canvas.getContext("2d"), size = canvas.width;
  ctx.fillStyle = "#fafafa";
  ctx.fillRect(0, 0, size, size);
  const Y = (v) => size / 2 - (v / 1.6) * (size / 2), X = (v) => toPixel(v, size);
  ctx.strokeStyle = "#ccc";
  ctx.beginPath(); ctx.moveTo(0, Y(0)); ctx.lineTo(size, Y(0)); ctx.stroke();
  const data = hg.data;
  if (data && data.version === f.data_version) {
    const dot = (xs, ds, colour) => xs.forEach((x, i) => {
      ctx.beginPath();
      ctx.arc(X(x[0]), Y(ds[i]), 3, 0, 2 * Math.PI);
      ctx.fillStyle = colour;
      ctx.fill();
    });
    dot(data.x_train, data.d_train, rgb(BLUE));
    if ($("show-test").checked) dot(data.x_test, data.d_test, rgb(ORANGE));
  }
  ctx.strokeStyle = "#111";
  ctx.lineWidth = 2;
  ctx.beginPath();
  f.curve_x.forEach((x, i) => (i ? ctx.lineTo(X(x), Y(f.curve_y[i])) : ctx.moveTo(X(x), Y(f.curve_y[i]))));
  ctx.stroke();
  $("out-caption").textContent = "the network's y(x); points: train (blue), test (orange)";
}
function drawNetwork(f) {
  const canvas = $("network"), ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  const sizes = f.sizes, cols = sizes.length, box = Math.min(36, (H - 20) / Math.max(...sizes) - 6);
  const x = (k) => 20 + (k * (W - 40 - box)) / (cols - 1);
  const y = (k, j) => H / 2 + (j - (sizes[k] - 1) / 2) * (box + 6) - box / 2;
  // edges first, under the neurons; W_k is (out, in)
  let wmax = 1e-9;
  for (const Wk of f.weights) for (const row of Wk) for (const w of row) wmax = Math.max(wmax, Math.abs(w));
  f.weights.forEach((Wk, k) => Wk.forEach((row, j) => row.forEach((w, i) => {
    const x0 = x(k) + box, y0 = y(k, i) + box / 2, x1 = x(k + 1), y1 = y(k + 1, j) + box / 2;
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.bezierCurveTo((x0 + x1) / 2, y0, (x0 + x1) / 2, y1, x1, y1);
    ctx.lineWidth = 0.5 + 5 * Math.abs(w) / wmax;
    ctx.strokeStyle = rgb(w >= 0 ? BLUE : ORANGE, 0.25 + 0.65 * Math.abs(w) / wmax);
    ctx.stroke();
  })));
  for (let k = 0; k < cols; k++) {
    for (let j = 0; j < sizes[k]; j++) {
      let thumb = null;
      if (k > 0 && k < cols - 1 && f.neurons[k - 1]) {
        const n = f.neurons[k - 1][j];
        thumb = n.image ? image(n.image, f.thumb, (u) => 2 * u - 1) : curveThumb(n.curve);
      } else if (k === cols - 1 && f.output) {
        thumb = image(f.output, f.grid, (p) => 2 * p - 1);
      } else if (k === cols - 1 && f.curve_y) {
        const top = Math.max(1e-12, ...f.curve_y.map(Math.abs));
        thumb = curveThumb(f.curve_y.map((v) => v / top));
      }
      ctx.fillStyle = "#eee";
      ctx.fillRect(x(k), y(k, j), box, box);
      if (thumb) ctx.drawImage(thumb, x(k), y(k, j), box, box);
      else if (k === 0) {
        ctx.fillStyle = "#333";
        ctx.font = "12px sans-serif";
        ctx.fillText(`x${j + 1}`, x(k) + box / 2 - 7, y(k, j) + box / 2 + 4);
      }
      ctx.strokeStyle = "#666";
      ctx.lineWidth = 1;
      ctx.strokeRect(x(k), y(k, j), box, box);
    }
    ctx.fillStyle = "#555";
    ctx.font = "11px sans-serif";
    const label = k === 0 ? "input" : k === cols - 1 ? "output" : `layer ${k}`;
    ctx.fillText(label, x(k), 12);
    if (k > 0) {
      ctx.fillText(`|g| ${Number(f.grad_norms[k - 1]).toExponential(1)}`, x(k) - 4, H - 4);
    }
  }
}
function curveThumb(values) { // a 1-D neuron's output along x, as a small line chart
  const c = document.createElement("canvas"), n = values.length;
  c.width = c.height = 40;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, 40, 40);
  ctx.strokeStyle = rgb(BLUE);
  ctx.beginPath();
  values.forEach((v, i) => (i ? ctx.lineTo((40 * i) / (n - 1), 20 - 18 * v) : ctx.moveTo(0, 20 - 18 * v)));
  ctx.stroke();
  return c;
}

// ---- charts (uPlot) ----------------------------------------------------------------------------
const LAYER_COLOURS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];
function chart(id, title, names, colours, log) {
  const el = $(id);
  el.innerHTML = "";
  return new uPlot({
    title, width: 360, height: 150,
    scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
    axes: [{ label: "epoch", size: 30 },
           log ? { size: 56, values: (u, ticks) => ticks.map((v) => (v === null ? "" : v.toExponential(0))) }
               : { size: 56 }],
    series: [{ label: "epoch" }, ...names.map((n, i) => ({ label: n, stroke: colours[i], width: 1.5 }))],
    legend: { show: true },
  }, [[], ...names.map(() => [])], el);
}
function positive(values) { return values.map((v) => (v === null || !(v > 0) ? null : v)); }
function drawCharts(f) {
  const h = f.history, layers = f.weights.length;
  if (!charts.loss) {
    charts.loss = chart("loss-chart", "loss (train, test)", ["train", "test"], ["#2563eb", "#ea580c"], true);
    charts.lr = chart("lr-chart", "learning rate eta", ["eta"], ["#111"], false);
  }
  if (!charts.grad || charts.gradLayers !== layers) {
    if (charts.grad) charts.grad.destroy();
    const names = Array.from({ length: layers }, (_, k) => `||grad W_${k + 1}||`);
    charts.grad = chart("grad-chart", "gradient norm per layer", names, LAYER_COLOURS, true);
    charts.gradLayers = layers;
  }
  charts.loss.setData([h.epoch, positive(h.train), positive(h.test)]);
  charts.lr.setData([h.epoch, h.lr]);
  const per = Array.from({ length: layers }, (_, k) => positive(h.grad.map((g) => (g.length === layers ? g[k] : null))));
  charts.grad.setData([h.epoch, ...per]);
}

// ---- teaching views ----------------------------------------------------------------------------
function drawCurvature(m) {
  $("curvature-verdict").textContent = m.verdict;
  const canvas = $("curvature-canvas"), ctx = canvas.getContext("2d"), W = canvas.width;
  ctx.clearRect(0, 0, W, canvas.height);
  ctx.font = "12px sans-serif";
  ctx.fillStyle = "#111";
  ctx.fillText(`top eigenvalues of H (${m.method}): ` +
    m.eigenvalues.map((v) => v.toPrecision(4)).join(", ") +
    (m.lambda_min === null || isNaN(m.lambda_min) ? "" : `;  lambda_min = ${m.lambda_min.toPrecision(4)}`), 10, 20);
  if (m.eta_opt === null) return;
  // a log axis of learning rates: eta_opt, 2 eta_opt and the current eta
  const marks = [["eta_opt = 1/lambda_max", m.eta_opt, "#16a34a"], ["2/lambda_max", m.eta_max, "#dc2626"],
                 [`current eta (${m.optimizer})`, m.lr, "#2563eb"]];
  const lo = Math.log10(Math.min(...marks.map((x) => x[1]))) - 0.5;
  const hi = Math.log10(Math.max(...marks.map((x) => x[1]))) + 0.5;
  const X = (v) => 40 + ((Math.log10(v) - lo) / (hi - lo)) * (W - 80);
  ctx.fillStyle = "rgba(22,163,74,0.12)";
  ctx.fillRect(40, 60, X(m.eta_max) - 40, 40);
  ctx.fillStyle = "rgba(220,38,38,0.12)";
  ctx.fillRect(X(m.eta_max), 60, W - 40 - X(m.eta_max), 40);
  ctx.strokeStyle = "#333";
  ctx.beginPath(); ctx.moveTo(40, 100); ctx.lineTo(W - 40, 100); ctx.stroke();
  for (let e = Math.ceil(lo); e <= hi; e++) {
    ctx.fillStyle = "#555";
    ctx.fillText(`1e${e}`, X(10 ** e) - 10, 116);
  }
  marks.forEach(([label, v, colour], i) => {
    ctx.strokeStyle = ctx.fillStyle = colour;
    ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(X(v), 50); ctx.lineTo(X(v), 100); ctx.stroke();
    ctx.fillText(`${label} = ${v.toPrecision(3)}`, Math.min(X(v) + 4, W - 200), 135 + 14 * i);
  });
  ctx.fillStyle = "#555";
  ctx.fillText("green: gradient descent converges along the top direction; red: it diverges", 40, 48);
}
const RACE_COLOURS = ["#111827", "#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2",
                      "#ca8a04", "#db2777", "#4b5563", "#65a30d"];
function startRace(m) {
  cancelAnimationFrame(raceAnim);
  const canvas = $("race-canvas"), ctx = canvas.getContext("2d"), S = canvas.width;
  let lo = Infinity, hi = -Infinity;
  for (const v of m.contour) if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const bg = document.createElement("canvas");
  bg.width = bg.height = m.size;
  const bctx = bg.getContext("2d"), img = bctx.createImageData(m.size, m.size);
  m.contour.forEach((v, i) => {
    const t = isFinite(v) ? (v - lo) / (hi - lo || 1) : 1;
    const band = Math.floor(t * 16) % 2 ? 0.93 : 1; // contour bands
    const c = mix([240, 249, 255], [30, 64, 175], t).map((x) => x * band);
    img.data.set([c[0], c[1], c[2], 255], 4 * i);
  });
  bctx.putImageData(img, 0, 0);
  const X = (v) => ((v - m.xlim[0]) / (m.xlim[1] - m.xlim[0])) * S;
  const Y = (v) => S - ((v - m.ylim[0]) / (m.ylim[1] - m.ylim[0])) * S;
  $("race-legend").innerHTML = "";
  m.racers.forEach((r, i) => {
    const li = document.createElement("li");
    li.innerHTML = `<span style="background:${RACE_COLOURS[i % RACE_COLOURS.length]}"></span>`;
    li.append(`${r.optimizer} (eta ${r.lr})` + (r.reached !== null ? `: there at step ${r.reached}` :
      r.diverged ? ": diverged" : ""));
    $("race-legend").appendChild(li);
  });
  $("race-verdict").textContent = m.verdict;
  const steps = Math.max(...m.racers.map((r) => r.path.length)), start = performance.now();
  const frame = (now) => {
    const k = Math.max(0, Math.min(steps, Math.floor((now - start) / 20)));
    ctx.drawImage(bg, 0, 0, S, S);
    if (m.minimum) {
      ctx.fillStyle = "gold";
      ctx.beginPath(); ctx.arc(X(m.minimum[0]), Y(m.minimum[1]), 6, 0, 2 * Math.PI); ctx.fill();
    }
    m.racers.forEach((r, i) => {
      ctx.strokeStyle = ctx.fillStyle = RACE_COLOURS[i % RACE_COLOURS.length];
      ctx.lineWidth = 1.6;
      ctx.beginPath();
      r.path.slice(0, k + 1).forEach((p, j) => (j ? ctx.lineTo(X(p[0]), Y(p[1])) : ctx.moveTo(X(p[0]), Y(p[1]))));
      ctx.stroke();
      const p = r.path[Math.min(k, r.path.length - 1)];
      ctx.beginPath(); ctx.arc(X(p[0]), Y(p[1]), 3.5, 0, 2 * Math.PI); ctx.fill();
    });
    ctx.fillStyle = "#111";
    ctx.font = "13px sans-serif";
    ctx.fillText(`${m.title}: step ${Math.min(k, steps - 1)}`, 8, 18);
    if (k < steps) raceAnim = requestAnimationFrame(frame);
  };
  raceAnim = requestAnimationFrame(frame);
}

connect();
