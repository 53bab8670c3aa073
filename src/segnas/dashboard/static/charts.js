// Small inline-SVG charts for the dashboard: axes with readable ticks, points with <title>
// tooltips, step lines. Every text goes through textContent, never markup, because genotypes
// and failure messages come from files.

const NS = "http://www.w3.org/2000/svg";
const HEIGHT = 230;
const MARGIN = { top: 12, right: 16, bottom: 40, left: 54 };

export const STATUS_COLORS = {
  done: "#2f6fdf",
  "stopped-after-stage-1": "#e8930c",
  "over-budget": "#8e5cc4",
  failed: "#d64545",
  running: "#8a9099",
};
const BEST_COLOR = "#1d2733";
const FRONT_COLOR = "#e4572e";
const OTHER_COLOR = "#9fb3c8";
const BASELINE_COLOR = "#2f6fdf";
const ENTROPY_COLOR = "#0f9d82";

export function svgEl(tag, attrs = {}, title = null) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== "") node.setAttribute(key, String(value));
  }
  if (title !== null) {
    const tip = document.createElementNS(NS, "title");
    tip.textContent = title;
    node.appendChild(tip);
  }
  return node;
}

function text(x, y, content, attrs = {}) {
  const node = svgEl("text", { x, y, ...attrs });
  node.textContent = content;
  return node;
}

// About `count` round ticks covering [lo, hi]: the step of 1, 2 or 5 times a power of ten
// nearest to the range over `count` (as d3 does).
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const error = raw / power;
  const step = power * (error >= Math.sqrt(50) ? 10 : error >= Math.sqrt(10) ? 5 : error >= Math.sqrt(2) ? 2 : 1);
  const first = Math.ceil(lo / step - 1e-9) * step;
  const ticks = [];
  for (let v = first; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return { ticks, step };
}

function tickFormat(step) {
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return (v) => v.toFixed(decimals);
}

// Domain padded by a fraction on each side so points are not drawn on the frame.
export function paddedDomain(values, fraction = 0.06) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (!finite.length) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (hi === lo) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 0.5;
    return [lo - pad, hi + pad];
  }
  const pad = (hi - lo) * fraction;
  return [lo - pad, hi + pad];
}

function scale([d0, d1], [r0, r1]) {
  const k = (r1 - r0) / (d1 - d0 || 1);
  return (v) => r0 + (v - d0) * k;
}

// An empty message in place of a chart, at the chart's height so the grid does not jump.
export function emptyChart(container, message) {
  container.replaceChildren();
  const box = document.createElement("div");
  box.className = "chart-empty";
  box.style.height = `${HEIGHT}px`;
  box.textContent = message;
  container.appendChild(box);
}

// The frame of one chart: grid, ticks and axis titles; returns the scales and a layer to draw on.
function frame(container, { x, y, y2 = null, xInteger = false }) {
  const width = Math.max(260, Math.floor(container.clientWidth || 360));
  const margin = { ...MARGIN, right: y2 ? 54 : MARGIN.right };
  const svg = svgEl("svg", {
    width,
    height: HEIGHT,
    viewBox: `0 0 ${width} ${HEIGHT}`,
    class: "chart-svg",
    role: "img",
  });
  const left = margin.left;
  const right = width - margin.right;
  const top = margin.top;
  const bottom = HEIGHT - margin.bottom;
  const sx = scale(x.domain, [left, right]);
  const sy = scale(y.domain, [bottom, top]);
  const grid = svgEl("g", { class: "grid" });
  const axes = svgEl("g", { class: "axes" });
  svg.append(grid, axes);

  const xt = niceTicks(x.domain[0], x.domain[1], Math.max(4, Math.floor((right - left) / 50)));
  let xTicks = xt.ticks.filter((v) => v >= x.domain[0] && v <= x.domain[1]);
  let xStep = xt.step;
  if (xInteger) {
    xStep = Math.max(1, Math.round(xStep));
    xTicks = xTicks.filter((v) => Number.isInteger(Math.round(v * 1e6) / 1e6));
  }
  const fx = x.format || tickFormat(xStep);
  for (const v of xTicks) {
    const px = sx(v);
    grid.appendChild(svgEl("line", { x1: px, x2: px, y1: top, y2: bottom }));
    axes.appendChild(svgEl("line", { x1: px, x2: px, y1: bottom, y2: bottom + 4 }));
    axes.appendChild(text(px, bottom + 16, fx(v), { "text-anchor": "middle" }));
  }
  const yt = niceTicks(y.domain[0], y.domain[1], 5);
  const fy = y.format || tickFormat(yt.step);
  for (const v of yt.ticks.filter((t) => t >= y.domain[0] && t <= y.domain[1])) {
    const py = sy(v);
    grid.appendChild(svgEl("line", { x1: left, x2: right, y1: py, y2: py }));
    axes.appendChild(svgEl("line", { x1: left - 4, x2: left, y1: py, y2: py }));
    axes.appendChild(text(left - 7, py + 4, fy(v), { "text-anchor": "end" }));
  }
  axes.appendChild(svgEl("rect", { x: left, y: top, width: right - left, height: bottom - top, class: "plot-frame" }));
  axes.appendChild(text((left + right) / 2, HEIGHT - 6, x.label, { "text-anchor": "middle", class: "axis-title" }));
  const yMid = (top + bottom) / 2;
  axes.appendChild(
    text(14, yMid, y.label, { "text-anchor": "middle", class: "axis-title", transform: `rotate(-90 14 ${yMid})`, fill: y.color || null })
  );

  let sy2 = null;
  if (y2) {
    sy2 = scale(y2.domain, [bottom, top]);
    const t2 = niceTicks(y2.domain[0], y2.domain[1], 5);
    const f2 = y2.format || tickFormat(t2.step);
    for (const v of t2.ticks.filter((t) => t >= y2.domain[0] && t <= y2.domain[1])) {
      const py = sy2(v);
      axes.appendChild(svgEl("line", { x1: right, x2: right + 4, y1: py, y2: py }));
      axes.appendChild(text(right + 7, py + 4, f2(v), { "text-anchor": "start", fill: y2.color }));
    }
    const xr = width - 12;
    axes.appendChild(
      text(xr, yMid, y2.label, { "text-anchor": "middle", class: "axis-title", transform: `rotate(90 ${xr} ${yMid})`, fill: y2.color })
    );
  }
  const layer = svgEl("g", { class: "marks" });
  svg.appendChild(layer);
  container.replaceChildren(svg);
  return { svg, layer, sx, sy, sy2, left, right, top, bottom };
}

function stepPath(points, lastX = null) {
  if (!points.length) return "";
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i++) d += `H${points[i][0]}V${points[i][1]}`;
  if (lastX !== null && lastX > points[points.length - 1][0]) d += `H${lastX}`;
  return d;
}

function linePath(points) {
  return points.map(([px, py], i) => `${i ? "L" : "M"}${px},${py}`).join("");
}

// Smaller points when there are many, so thousands of candidates stay readable.
function pointRadius(count, largest = 3.8) {
  return Math.max(1.6, Math.min(largest, largest * Math.sqrt(150 / Math.max(1, count))));
}

const fmt4 = (v) => (v === null || v === undefined ? "n/a" : Number(v).toFixed(4));

function clickable(node, id, onPick) {
  if (!onPick) return node;
  node.classList.add("pick");
  node.addEventListener("click", () => onPick(id));
  return node;
}

function marker(status, px, py, tip, r) {
  if (status === "stopped-after-stage-1") {
    const s = r * 1.2;
    return svgEl("path", { d: `M${px},${py - s}L${px + s},${py + s * 0.8}L${px - s},${py + s * 0.8}Z`, fill: STATUS_COLORS[status] }, tip);
  }
  return svgEl("circle", { cx: px, cy: py, r, fill: STATUS_COLORS[status] || OTHER_COLOR }, tip);
}

// Reward of every scored candidate in proposal order, the running best as a step line, and the
// failed / over-budget / running ones as crosses along the bottom edge; returns a note.
export function rewardChart(container, data, onPick) {
  const scored = data.candidates.filter((c) => isScored(c));
  if (!data.candidates.length) {
    emptyChart(container, "no candidate started yet");
    return "";
  }
  if (!scored.length) {
    emptyChart(container, "no candidate scored yet");
    return "";
  }
  const ids = data.candidates.map((c) => c.id);
  const xDomain = paddedDomain(ids, 0.03);
  const rewards = scored.map((c) => c.reward);
  const best = (data.running_best || []).map(([, r]) => r);
  const yDomain = paddedDomain([...rewards, ...best], 0.08);
  if (scored.length < data.candidates.length) yDomain[0] -= (yDomain[1] - yDomain[0]) * 0.08; // room for the crosses
  const f = frame(container, {
    x: { domain: xDomain, label: "candidate (proposal order)" },
    y: { domain: yDomain, label: data.meta?.reward_name ? `reward (${data.meta.reward_name})` : "reward" },
    xInteger: true,
  });
  const steps = (data.running_best || []).map(([id, r]) => [f.sx(id), f.sy(r)]);
  if (steps.length) {
    f.layer.appendChild(svgEl("path", { d: stepPath(steps, f.sx(Math.max(...ids))), class: "best-line", stroke: BEST_COLOR }));
  }
  const r = pointRadius(data.candidates.length);
  for (const c of data.candidates) {
    const px = f.sx(c.id);
    if (isScored(c)) {
      const tip = `#${c.id} ${c.status}\nreward ${fmt4(c.reward)}\n${c.genotype}`;
      f.layer.appendChild(clickable(marker(c.status, px, f.sy(c.reward), tip, r), c.id, onPick));
    } else {
      const py = f.bottom - 6;
      const why = c.failure ? `\n${c.failure}` : "";
      const node = svgEl("path", { d: `M${px - 3},${py - 3}L${px + 3},${py + 3}M${px - 3},${py + 3}L${px + 3},${py - 3}`, class: "cross", stroke: STATUS_COLORS[c.status] || OTHER_COLOR }, `#${c.id} ${c.status}${why}`);
      f.layer.appendChild(clickable(node, c.id, onPick));
    }
  }
  const unscored = data.candidates.length - scored.length;
  return `${scored.length} scored${unscored ? ` · ${unscored} without a reward (crosses)` : ""}`;
}

export function isScored(c) {
  return (c.status === "done" || c.status === "stopped-after-stage-1") && Number.isFinite(c.reward);
}

// Rank correlation of paired values (ties get their mean rank).
export function spearman(xs, ys) {
  if (xs.length < 3) return null;
  const rank = (vs) => {
    const order = vs.map((v, i) => [v, i]).sort((a, b) => a[0] - b[0]);
    const r = new Array(vs.length);
    for (let i = 0; i < order.length; ) {
      let j = i;
      while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
      for (let k = i; k <= j; k++) r[order[k][1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const rx = rank(xs);
  const ry = rank(ys);
  const mean = (rx.length - 1) / 2;
  let num = 0;
  let dx = 0;
  let dy = 0;
  for (let i = 0; i < rx.length; i++) {
    num += (rx[i] - mean) * (ry[i] - mean);
    dx += (rx[i] - mean) ** 2;
    dy += (ry[i] - mean) ** 2;
  }
  return dx && dy ? num / Math.sqrt(dx * dy) : null;
}

// Stage-1 against stage-2 reward with the diagonal; stopped candidates (stage 1 only) as ticks
// on the x axis. Returns a caption with the rank correlation.
export function stagesChart(container, data, onPick) {
  const pairs = data.candidates.filter((c) => Number.isFinite(c.stage1_reward) && Number.isFinite(c.stage2_reward));
  const stopped = data.candidates.filter((c) => Number.isFinite(c.stage1_reward) && !Number.isFinite(c.stage2_reward));
  if (!pairs.length) {
    emptyChart(container, stopped.length ? "no candidate reached stage 2 yet" : "no candidate scored yet");
    return "";
  }
  const all = [...pairs.flatMap((c) => [c.stage1_reward, c.stage2_reward]), ...stopped.map((c) => c.stage1_reward)];
  const domain = paddedDomain(all, 0.08);
  const f = frame(container, { x: { domain, label: "stage-1 reward" }, y: { domain, label: "stage-2 reward" } });
  f.layer.appendChild(svgEl("line", { x1: f.sx(domain[0]), y1: f.sy(domain[0]), x2: f.sx(domain[1]), y2: f.sy(domain[1]), class: "diagonal" }, "stage-2 = stage-1"));
  for (const c of stopped) {
    const px = f.sx(c.stage1_reward);
    const node = svgEl("line", { x1: px, x2: px, y1: f.bottom, y2: f.bottom - 8, class: "rug", stroke: STATUS_COLORS["stopped-after-stage-1"] }, `#${c.id} stopped after stage 1\nstage-1 ${fmt4(c.stage1_reward)}`);
    f.layer.appendChild(clickable(node, c.id, onPick));
  }
  const r = pointRadius(pairs.length);
  for (const c of pairs) {
    const tip = `#${c.id}\nstage-1 ${fmt4(c.stage1_reward)}\nstage-2 ${fmt4(c.stage2_reward)}`;
    const dot = svgEl("circle", { cx: f.sx(c.stage1_reward), cy: f.sy(c.stage2_reward), r, fill: STATUS_COLORS.done }, tip);
    f.layer.appendChild(clickable(dot, c.id, onPick));
  }
  const rho = spearman(pairs.map((c) => c.stage1_reward), pairs.map((c) => c.stage2_reward));
  const parts = [`${pairs.length} pairs`];
  if (rho !== null) parts.push(`Spearman ρ = ${rho.toFixed(2)}`);
  if (stopped.length) parts.push(`${stopped.length} stopped after stage 1 (ticks)`);
  return parts.join(" · ");
}

// Reward against latency (or multiply-adds) with the Pareto front as a highlighted staircase.
export function paretoChart(container, data, onPick) {
  const axis = data.pareto?.axis === "latency_ms" ? "latency_ms" : "madds";
  const xOf = axis === "latency_ms" ? (c) => c.latency_ms : (c) => (c.madds === null || c.madds === undefined ? null : c.madds / 1e6);
  const label = axis === "latency_ms" ? "latency (ms)" : "multiply-adds (M)";
  const points = data.candidates.filter((c) => isScored(c) && Number.isFinite(xOf(c)));
  if (!points.length) {
    emptyChart(container, "no scored candidate with a cost yet");
    return "";
  }
  const front = new Set(data.pareto?.ids || []);
  const f = frame(container, {
    x: { domain: paddedDomain(points.map(xOf), 0.06), label },
    y: { domain: paddedDomain(points.map((c) => c.reward), 0.08), label: "reward" },
  });
  const onFront = points.filter((c) => front.has(c.id)).sort((a, b) => xOf(a) - xOf(b));
  if (onFront.length > 1) {
    const steps = onFront.map((c) => [f.sx(xOf(c)), f.sy(c.reward)]);
    f.layer.appendChild(svgEl("path", { d: stepPath(steps), class: "front-line", stroke: FRONT_COLOR }));
  }
  const unit = axis === "latency_ms" ? " ms" : " M multiply-adds";
  const r = pointRadius(points.length, 3.4);
  for (const c of [...points.filter((p) => !front.has(p.id)), ...onFront]) {
    const isFront = front.has(c.id);
    const tip = `#${c.id}${isFront ? " (Pareto front)" : ""}\nreward ${fmt4(c.reward)}\n${xOf(c).toFixed(2)}${unit}`;
    const dot = svgEl("circle", { cx: f.sx(xOf(c)), cy: f.sy(c.reward), r: isFront ? 5 : r, fill: isFront ? FRONT_COLOR : OTHER_COLOR, class: isFront ? "front" : "" }, tip);
    f.layer.appendChild(clickable(dot, c.id, onPick));
  }
  const over = data.candidates.filter((c) => c.status === "over-budget").length;
  const parts = [`${onFront.length} of ${points.length} on the front`];
  if (axis === "madds") parts.push("no latency measured: cost is multiply-adds");
  if (over) parts.push(`${over} over the latency budget (not shown)`);
  return parts.join(" · ");
}

const finiteOf = (rows, key) => rows.map((g) => g[key]).filter((v) => Number.isFinite(v));

// Controller statistics per generation: the reward baseline (left axis) and the policy's mean
// entropy (right axis); strategies without one of them leave it out.
export function controllerChart(container, controller) {
  const gens = (controller || []).map((g, i) => ({ ...g, gen: i + 1 }));
  if (!gens.length) {
    emptyChart(container, "no controller statistics recorded (random or older run, or no generation finished yet)");
    return [];
  }
  const leftKey = finiteOf(gens, "baseline").length ? "baseline" : finiteOf(gens, "population_best").length ? "population_best" : null;
  const hasEntropy = finiteOf(gens, "mean_entropy").length > 0;
  if (!leftKey && !hasEntropy) {
    emptyChart(container, `${gens.length} generation(s): this strategy records no baseline or entropy`);
    return [];
  }
  const leftLabel = leftKey === "population_best" ? "population best" : "reward baseline";
  const xDomain = gens.length === 1 ? [0.5, 1.5] : [0.7, gens.length + 0.3];
  const primary = leftKey
    ? { domain: paddedDomain(finiteOf(gens, leftKey), 0.1), label: leftLabel, color: BASELINE_COLOR }
    : { domain: paddedDomain(finiteOf(gens, "mean_entropy"), 0.1), label: "mean entropy", color: ENTROPY_COLOR };
  const secondary = leftKey && hasEntropy ? { domain: paddedDomain(finiteOf(gens, "mean_entropy"), 0.1), label: "mean entropy", color: ENTROPY_COLOR } : null;
  const f = frame(container, { x: { domain: xDomain, label: "generation" }, y: primary, y2: secondary, xInteger: true });
  const series = [];
  if (leftKey) series.push({ key: leftKey, label: leftLabel, color: BASELINE_COLOR, sy: f.sy });
  if (hasEntropy) series.push({ key: "mean_entropy", label: "mean entropy", color: ENTROPY_COLOR, sy: secondary ? f.sy2 : f.sy });
  for (const s of series) {
    const pts = gens.filter((g) => Number.isFinite(g[s.key]));
    f.layer.appendChild(svgEl("path", { d: linePath(pts.map((g) => [f.sx(g.gen), s.sy(g[s.key])])), class: "series-line", stroke: s.color }));
    for (const g of pts) {
      const last = g.first + g.count - 1;
      const loss = Number.isFinite(g.last_loss) ? `\nlast loss ${g.last_loss.toFixed(4)}` : "";
      const tip = `generation ${g.gen} (candidates ${g.first}–${last})\n${s.label} ${Number(g[s.key]).toFixed(4)}\nupdates ${g.updates ?? "n/a"}${loss}`;
      f.layer.appendChild(svgEl("circle", { cx: f.sx(g.gen), cy: s.sy(g[s.key]), r: 3.4, fill: s.color }, tip));
    }
  }
  return series.map((s) => ({ label: s.label, color: s.color }));
}
