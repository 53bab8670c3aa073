// The dashboard page: picks a run, polls its page data with If-None-Match (the server answers
// 304 while nothing changed) and redraws the summary, charts, table and open design in place,
// keeping the sort, the filter and the open design across updates.

import { STATUS_COLORS, controllerChart, paretoChart, rewardChart, stagesChart } from "./charts.js";
import { renderDesign, renderDesignHint, renderDesignMessage } from "./design.js";
import { referencedImages, renderMarkdown } from "./markdown.js";
import { bindRows, markSelected, renderHeader, renderRows, sortRows } from "./table.js";
import { DASH, duration, el, fileUrl, num, statusLabel } from "./util.js";

const STATUSES = ["done", "stopped-after-stage-1", "over-budget", "failed", "running"];
const MARKER_SHAPES = { done: "dot", "stopped-after-stage-1": "tri" };
const ROWS_STEP = 200;
const LOST = "Lost contact with the server, retrying…";

const state = {
  runs: [],
  run: null,
  data: null,
  etag: null,
  pollSeconds: 2,
  timer: null,
  generation: 0,
  sort: { key: "id", dir: "desc" },
  limit: ROWS_STEP,
  filter: "all",
  openId: null,
  openKey: null,
  detailToken: 0,
  lost: false,
  error: null,
  lastUpdate: null,
};

const $ = (id) => document.getElementById(id);

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.error || `${url}: HTTP ${response.status}`);
  return body;
}

// ---- banner and live indicator ------------------------------------------------------------

function renderBanner() {
  const banner = $("banner");
  const messages = [];
  if (state.lost) messages.push(["error", LOST]);
  if (state.error) messages.push(["error", state.error]);
  const message = state.data?.status?.message;
  if (message) messages.push(["warn", message]);
  banner.hidden = messages.length === 0;
  banner.className = `banner ${messages.some(([kind]) => kind === "error") ? "error" : "warn"}`;
  banner.replaceChildren(...messages.map(([kind, textValue]) => el("div", { className: `msg ${kind}`, text: textValue })));
  const live = $("live");
  live.classList.toggle("lost", state.lost);
  const when = state.lastUpdate ? state.lastUpdate.toLocaleTimeString() : DASH;
  $("live-text").textContent = state.lost ? "reconnecting…" : `live · updated ${when}`;
}

// ---- run picker and routing ---------------------------------------------------------------

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const id = params.get("c");
  return { run: params.get("run"), id: id !== null && /^\d+$/.test(id) ? Number(id) : null };
}

function writeHash() {
  const params = new URLSearchParams();
  if (state.run) params.set("run", state.run);
  if (state.openId !== null) params.set("c", String(state.openId));
  history.replaceState(null, "", `#${params}`);
}

function renderPicker() {
  $("run-picker").replaceChildren(
    ...state.runs.map((run) =>
      el(
        "button",
        {
          type: "button",
          className: `tab${run.name === state.run ? " active" : ""}`,
          dataset: { run: run.name },
          title: run.path,
          "aria-pressed": run.name === state.run ? "true" : "false",
          onclick: () => selectRun(run.name, null),
        },
        run.name,
        el("span", { className: `kind kind-${run.kind}`, text: run.kind })
      )
    )
  );
}

function selectRun(name, openId) {
  if (name === state.run && openId === null) return;
  clearTimeout(state.timer);
  state.generation += 1;
  Object.assign(state, { run: name, data: null, etag: null, filter: "all", limit: ROWS_STEP, openId, openKey: null, error: null });
  renderPicker();
  writeHash();
  $("search-view").hidden = true;
  $("experiment").hidden = true;
  $("placeholder").hidden = false;
  $("placeholder").textContent = `Loading ${name}…`;
  renderDesignHint($("design"));
  poll();
}

// ---- polling ------------------------------------------------------------------------------

async function poll() {
  const generation = state.generation;
  const headers = state.etag ? { "If-None-Match": state.etag } : {};
  try {
    const response = await fetch(`/api/runs/${encodeURIComponent(state.run)}`, { headers, cache: "no-store" });
    if (generation !== state.generation) return;
    state.lost = false;
    if (response.status === 304) {
      state.lastUpdate = new Date();
    } else {
      const body = await response.json().catch(() => null);
      if (generation !== state.generation) return;
      if (!response.ok) {
        state.error = body?.error || `the server answered HTTP ${response.status}`;
        if (!state.data) showPlaceholder(state.error);
      } else {
        state.error = null;
        state.etag = response.headers.get("ETag");
        state.lastUpdate = new Date();
        state.data = body;
        render();
      }
    }
  } catch (error) {
    if (generation !== state.generation) return;
    state.lost = true;
  }
  renderBanner();
  state.timer = setTimeout(poll, state.pollSeconds * 1000);
}

function showPlaceholder(message) {
  $("search-view").hidden = true;
  $("experiment").hidden = true;
  $("placeholder").hidden = false;
  $("placeholder").textContent = message;
}

function render() {
  $("placeholder").hidden = true;
  if (state.data.kind === "experiment") {
    $("search-view").hidden = true;
    renderExperiment(state.data);
  } else {
    $("experiment").hidden = true;
    $("search-view").hidden = false;
    renderSearch(state.data);
  }
}

// ---- search run ---------------------------------------------------------------------------

function stat(label, value, title = null) {
  return el("div", { className: "stat", title }, el("div", { className: "stat-label", text: label }), el("div", { className: "stat-value" }, value));
}

function renderSummary(data) {
  const meta = data.meta || {};
  const counts = data.counts || {};
  const total = Object.values(counts).reduce((a, b) => a + (b || 0), 0);
  const budget = Number.isFinite(meta.budget) ? ` / ${meta.budget}` : "";
  const chips = el(
    "div",
    { className: "chips" },
    STATUSES.filter((s) => counts[s]).map((s) => el("span", { className: `chip st-${s}`, title: s }, el("b", { text: String(counts[s]) }), ` ${statusLabel(s)}`))
  );
  const best = data.best ? el("span", {}, num(data.best.reward, 4), el("span", { className: "muted", text: ` #${data.best.id}` })) : DASH;
  const stats = [
    stat("strategy", meta.strategy || DASH),
    stat("candidates", `${total}${budget}`),
    stat("best reward", best, meta.reward_name ? `reward: ${meta.reward_name}` : null),
    stat("elapsed", duration(meta.elapsed_seconds)),
  ];
  if (meta.task) stats.push(stat("task", meta.task));
  if (meta.objective) stats.push(stat("objective", meta.objective));
  if (meta.stopped) stats.push(stat("stopped", meta.stopped));
  $("summary").replaceChildren(el("div", { className: "stats" }, stats), chips);
}

// The chart's legend (none while the chart shows only a message) and the note under it.
function legend(name, items, note = "") {
  const empty = $(`chart-${name}`).querySelector(".chart-empty") !== null;
  $(`legend-${name}`).replaceChildren(
    ...(empty ? [] : items).map(({ label, color, shape = "dot" }) => el("span", { className: "key" }, el("span", { className: `swatch ${shape}`, style: `background:${color}` }), label))
  );
  $(`note-${name}`).textContent = note;
  $(`note-${name}`).title = note;
}

function renderCharts(data) {
  const present = new Set(data.candidates.map((c) => c.status));
  const rewardNote = rewardChart($("chart-rewards"), data, openDesign);
  legend("rewards", [
    ...STATUSES.filter((s) => present.has(s)).map((s) => ({ label: statusLabel(s), color: STATUS_COLORS[s], shape: MARKER_SHAPES[s] || "cross" })),
    { label: "best so far", color: "#1d2733", shape: "line" },
  ], rewardNote);
  legend("stages", [{ label: "both stages", color: STATUS_COLORS.done }, { label: "diagonal", color: "#98a2ad", shape: "line" }], stagesChart($("chart-stages"), data, openDesign));
  const latency = data.pareto?.axis === "latency_ms";
  $("title-pareto").textContent = latency ? "Pareto front: reward vs latency" : "Pareto front: reward vs multiply-adds";
  legend("pareto", [{ label: "front", color: "#e4572e" }, { label: "others", color: "#9fb3c8" }], paretoChart($("chart-pareto"), data, openDesign));
  legend("controller", controllerChart($("chart-controller"), data.controller));
}

function renderFilter(data) {
  const select = $("status-filter");
  const counts = data.counts || {};
  const present = STATUSES.filter((s) => counts[s] || s === state.filter);
  select.replaceChildren(
    el("option", { value: "all", text: `all (${data.candidates.length})` }),
    ...present.map((s) => el("option", { value: s, text: `${statusLabel(s)} (${counts[s] || 0})` }))
  );
  select.value = state.filter;
}

// At most `state.limit` rows go into the DOM (thousands of rows make every redraw slow); the
// button under the table lists more. #candidate-count counts every candidate the filter keeps.
function renderTable() {
  const data = state.data;
  const table = $("candidates");
  renderHeader(table, state.sort, sortBy);
  const shown = data.candidates.filter((c) => state.filter === "all" || c.status === state.filter);
  const empty = data.candidates.length ? "no candidate with this status" : "no candidate started yet";
  const rows = sortRows(shown, state.sort).slice(0, state.limit);
  renderRows(table, rows, { openId: state.openId, bestId: data.best?.id ?? null, empty });
  $("candidate-count").textContent = String(shown.length);
  const more = $("more-rows");
  more.hidden = shown.length <= state.limit;
  more.textContent = `${rows.length} of ${shown.length} rows listed: list ${Math.min(ROWS_STEP, shown.length - rows.length)} more`;
}

function sortBy(key) {
  const same = state.sort.key === key;
  state.sort = { key, dir: same && state.sort.dir === "asc" ? "desc" : "asc" };
  renderTable();
}

function renderFiles(data) {
  const files = (data.files || []).filter((f) => /\.(png|svg)$/i.test(f));
  const box = $("files");
  box.hidden = files.length === 0;
  if (!files.length) return;
  box.replaceChildren(
    el("h2", { text: "Report figures" }),
    el("div", { className: "gallery" }, files.map((f) => el("a", { href: fileUrl(state.run, f), target: "_blank", className: "thumb", title: f }, el("img", { src: fileUrl(state.run, f), alt: f, loading: "lazy" }), el("span", { text: f }))))
  );
}

function rowKey(c) {
  return c ? JSON.stringify([c.status, c.reward, c.stage1_reward, c.stage2_reward, c.decision, c.finished_at, c.latency_ms]) : null;
}

function renderSearch(data) {
  renderSummary(data);
  renderCharts(data);
  renderFilter(data);
  renderTable();
  renderFiles(data);
  if (state.openId !== null) {
    const key = rowKey(data.candidates.find((c) => c.id === state.openId));
    if (key !== state.openKey) loadDesign(state.openId);
  }
}

// ---- design panel -------------------------------------------------------------------------

function openDesign(id) {
  state.openId = id;
  writeHash();
  markSelected($("candidates"), id);
  loadDesign(id);
}

function closeDesign() {
  state.openId = null;
  state.openKey = null;
  writeHash();
  markSelected($("candidates"), null);
  renderDesignHint($("design"));
}

async function loadDesign(id) {
  const token = ++state.detailToken;
  const run = state.run;
  state.openKey = rowKey(state.data?.candidates.find((c) => c.id === id));
  const panel = $("design");
  panel.classList.add("loading");
  try {
    const detail = await getJson(`/api/runs/${encodeURIComponent(run)}/candidates/${id}`);
    if (token !== state.detailToken || run !== state.run) return;
    renderDesign(panel, detail, closeDesign);
  } catch (error) {
    if (token !== state.detailToken) return;
    renderDesignMessage(panel, `Candidate #${id}: ${error.message}`, closeDesign);
  } finally {
    if (token === state.detailToken) panel.classList.remove("loading");
  }
}

// ---- experiment run -----------------------------------------------------------------------

function renderExperiment(data) {
  const box = $("experiment");
  box.hidden = false;
  const resolve = (path) => fileUrl(state.run, path.replace(/^\.\//, ""));
  const shown = referencedImages(data.markdown);
  const others = (data.images || []).filter((image) => !shown.has(image));
  const parts = [el("header", { className: "experiment-head" }, el("h2", { text: data.name }), el("span", { className: "kind kind-experiment", text: data.experiment || "experiment" }))];
  if (data.markdown) parts.push(el("article", { className: "markdown" }, renderMarkdown(data.markdown, resolve)));
  else parts.push(el("p", { className: "muted", text: "no experiment.md in this run directory" }));
  if (others.length) {
    parts.push(
      el("h3", { text: "Figures" }),
      el("div", { className: "gallery wide" }, others.map((image) => el("figure", {}, el("a", { href: resolve(image), target: "_blank" }, el("img", { src: resolve(image), alt: image })), el("figcaption", { text: image }))))
    );
  }
  if (data.summary !== null && data.summary !== undefined) {
    parts.push(el("details", { className: "summary-json" }, el("summary", { text: "summary data (JSON)" }), el("pre", { text: JSON.stringify(data.summary, null, 1) })));
  }
  box.replaceChildren(...parts);
}

// ---- start --------------------------------------------------------------------------------

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (state.data && state.data.kind !== "experiment") renderCharts(state.data);
  }, 150);
});

window.addEventListener("hashchange", () => {
  const wanted = readHash();
  if (wanted.run && wanted.run !== state.run && state.runs.some((r) => r.name === wanted.run)) selectRun(wanted.run, wanted.id);
  else if (wanted.run === state.run && wanted.id !== null && wanted.id !== state.openId) openDesign(wanted.id);
});

bindRows($("candidates"), openDesign);

$("more-rows").addEventListener("click", () => {
  state.limit += ROWS_STEP;
  renderTable();
});

$("status-filter").addEventListener("change", (event) => {
  state.filter = event.target.value;
  renderTable();
});

async function start() {
  try {
    const [config, runs] = await Promise.all([getJson("/api/config").catch(() => ({})), getJson("/api/runs")]);
    if (Number.isFinite(config.poll_seconds) && config.poll_seconds > 0) state.pollSeconds = config.poll_seconds;
    state.runs = runs.runs || [];
  } catch (error) {
    state.lost = true;
    renderBanner();
    showPlaceholder("The server could not list its runs; reload the page to try again.");
    return;
  }
  if (!state.runs.length) return showPlaceholder("No run directory to show.");
  const wanted = readHash();
  const run = state.runs.find((r) => r.name === wanted.run) || state.runs[0];
  selectRun(run.name, run.name === wanted.run ? wanted.id : null);
}

start();
