// The design panel: one candidate's diagram, `describe` text, metrics per stage and class,
// seconds per phase, the early-termination decision and any failure.

import { DASH, decisionText, duration, el, millions, num, statusPill } from "./util.js";

const PHASE_COLORS = ["#2f6fdf", "#0f9d82", "#e8930c", "#8e5cc4", "#d64545", "#5b6b7f", "#b8860b"];

function section(title, ...children) {
  return el("section", { className: "design-section" }, el("h3", { text: title }), ...children);
}

function keyValues(pairs) {
  return el(
    "dl",
    { className: "kv" },
    pairs.filter(([, v]) => v !== null && v !== undefined).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })])
  );
}

function metricValue(v) {
  if (Number.isFinite(v)) return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(v) : v.toFixed(4);
  return v === null || v === undefined ? DASH : String(v);
}

// Scalars in a stage-1 | stage-2 table; numeric lists (per-class figures) as bars per class.
function metrics(stage1, stage2) {
  const s1 = stage1 || {};
  const s2 = stage2 || {};
  const keys = [...new Set([...Object.keys(s1), ...Object.keys(s2)])];
  const scalars = keys.filter((k) => !Array.isArray(s1[k]) && !Array.isArray(s2[k]) && typeof (s2[k] ?? s1[k]) !== "object");
  const lists = keys.filter((k) => Array.isArray(s2[k]) || Array.isArray(s1[k]));
  const parts = [];
  if (scalars.length) {
    parts.push(
      el(
        "table",
        { className: "mini" },
        el("thead", {}, el("tr", {}, el("th", { text: "metric" }), el("th", { className: "num", text: "stage 1" }), el("th", { className: "num", text: "stage 2" }))),
        el("tbody", {}, scalars.map((k) => el("tr", {}, el("td", { text: k }), el("td", { className: "num", text: metricValue(s1[k]) }), el("td", { className: "num", text: metricValue(s2[k]) }))))
      )
    );
  }
  for (const key of lists) {
    const values = Array.isArray(s2[key]) ? s2[key] : s1[key];
    const stage = Array.isArray(s2[key]) ? "stage 2" : "stage 1";
    const finite = values.filter((v) => Number.isFinite(v));
    const top = Math.max(1e-9, ...finite.map(Math.abs));
    const unit = finite.every((v) => v >= 0 && v <= 1) ? 1 : top;
    parts.push(
      el("h4", { text: `${key} (${stage})` }),
      el(
        "div",
        { className: "bars" },
        values.map((v, i) =>
          el(
            "div",
            { className: "bar-row", title: `class ${i}: ${metricValue(v)}` },
            el("span", { className: "bar-label", text: `class ${i}` }),
            el("span", { className: "bar-track" }, el("span", { className: "bar-fill", style: `width:${Number.isFinite(v) ? Math.max(0, (100 * v) / unit) : 0}%` })),
            el("span", { className: "bar-value num", text: metricValue(v) })
          )
        )
      )
    );
  }
  return parts.length ? parts : [el("p", { className: "muted", text: "no metrics recorded" })];
}

function phases(seconds) {
  const entries = Object.entries(seconds || {}).filter(([, v]) => Number.isFinite(v));
  if (!entries.length) return el("p", { className: "muted", text: "no timings recorded" });
  const total = entries.reduce((a, [, v]) => a + v, 0) || 1;
  const color = (i) => PHASE_COLORS[i % PHASE_COLORS.length];
  return el(
    "div",
    {},
    el("div", { className: "phase-bar" }, entries.map(([k, v], i) => el("span", { style: `width:${(100 * v) / total}%;background:${color(i)}`, title: `${k}: ${v.toFixed(2)} s` }))),
    el(
      "table",
      { className: "mini" },
      el(
        "tbody",
        {},
        entries.map(([k, v], i) =>
          el("tr", {}, el("td", {}, el("span", { className: "swatch", style: `background:${color(i)}` }), k), el("td", { className: "num", text: duration(v) }), el("td", { className: "num muted", text: `${((100 * v) / total).toFixed(0)}%` }))
        ),
        el("tr", { className: "total" }, el("td", { text: "total" }), el("td", { className: "num", text: duration(total) }), el("td"))
      )
    )
  );
}

function decision(d) {
  if (!d) return el("p", { className: "muted", text: "no decision recorded (not fed back yet, or the run does not terminate early)" });
  return keyValues([
    ["verdict", decisionText(d)],
    ["probability", Number.isFinite(d.p) ? d.p.toFixed(3) : null],
    ["running average", Number.isFinite(d.running_average) ? d.running_average.toFixed(4) : null],
  ]);
}

function failure(c) {
  if (!c.failure && !c.traceback) return null;
  return section(
    "Failure",
    c.failure ? el("pre", { className: "failure", text: c.failure }) : null,
    c.traceback ? el("details", {}, el("summary", { text: "traceback" }), el("pre", { className: "traceback", text: c.traceback })) : null
  );
}

function latency(c) {
  if (!c.latency || typeof c.latency !== "object") return null;
  const pairs = Object.entries(c.latency).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : v]);
  return section("Latency measurement", keyValues(pairs));
}

// Fill `panel` with candidate `c` (the full row from /api/runs/{name}/candidates/{id}).
export function renderDesign(panel, c, onClose) {
  const describe = c.describe || {};
  const figures = keyValues([
    ["reward", num(c.reward, 4)],
    ["stage-1 reward", num(c.stage1_reward, 4)],
    ["stage-2 reward", num(c.stage2_reward, 4)],
    ["parameters", Number.isFinite(c.params ?? describe.params) ? `${millions(c.params ?? describe.params, 3)} M` : DASH],
    ["multiply-adds", Number.isFinite(c.madds ?? describe.madds) ? `${millions(c.madds ?? describe.madds, 1)} M` : DASH],
    ["latency", Number.isFinite(c.latency_ms) ? `${c.latency_ms.toFixed(2)} ms` : null],
    ["reused from", c.reused_from !== null && c.reused_from !== undefined ? `#${c.reused_from}` : null],
  ]);
  const diagram = /^\/[^/]/.test(c.diagram_url || "")
    ? el("a", { href: c.diagram_url, target: "_blank", className: "diagram-link", title: "open the diagram in a new tab" }, el("img", { className: "diagram", src: c.diagram_url, alt: `diagram of candidate ${c.id}` }))
    : el("p", { className: "muted", text: "no diagram" });
  const img = diagram.querySelector?.("img");
  if (img) img.addEventListener("error", () => img.replaceWith(el("p", { className: "muted", text: "the diagram could not be drawn" })));
  const canonical = describe.canonical && describe.canonical !== c.genotype ? el("div", { className: "muted small" }, "canonical: ", el("code", { text: describe.canonical })) : null;
  const parts = [
    el(
      "header",
      { className: "design-head" },
      el("h2", {}, `Candidate #${c.id} `, statusPill(c.status)),
      el("button", { type: "button", className: "close", title: "close", "aria-label": "close the design", onclick: onClose }, "×")
    ),
    figures,
    diagram,
    el("div", { className: "describe" }, el("code", { className: "genotype", text: c.genotype }), canonical, describe.text ? el("pre", { text: describe.text }) : null),
    failure(c),
    section("Metrics", ...metrics(c.stage1_metrics, c.stage2_metrics)),
    section("Seconds per phase", phases(c.seconds)),
    section("Early-termination decision", decision(c.decision)),
    latency(c),
  ];
  panel.replaceChildren(...parts.filter(Boolean));
}

export function renderDesignMessage(panel, message, onClose) {
  panel.replaceChildren(
    el("header", { className: "design-head" }, el("h2", { text: "Design" }), el("button", { type: "button", className: "close", "aria-label": "close the design", onclick: onClose }, "×")),
    el("p", { className: "muted", text: message })
  );
}

export function renderDesignHint(panel) {
  panel.replaceChildren(el("p", { className: "design-hint", text: "Click a candidate (a row or a point) to see its design." }));
}
