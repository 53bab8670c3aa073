// The candidates table: columns, sorting (numeric, nulls last in both directions), the status
// filter and row rendering. State (sort key, direction, filter, open row) lives in the caller so
// that it survives every live update.

import { isScored } from "./charts.js";
import { DASH, decisionText, el, millions, num, statusPill, totalSeconds } from "./util.js";

const score = (c) => (isScored(c) ? c.reward : null);
const finite = (v) => (Number.isFinite(v) ? v : null);

export const COLUMNS = [
  { key: "id", label: "id", numeric: true, value: (c) => c.id },
  { key: "status", label: "status", value: (c) => c.status },
  { key: "reward", label: "reward", numeric: true, value: score, show: (c) => num(score(c), 4) },
  { key: "stage1_reward", label: "stage-1", numeric: true, value: (c) => finite(c.stage1_reward), show: (c) => num(c.stage1_reward, 4) },
  { key: "stage2_reward", label: "stage-2", numeric: true, value: (c) => finite(c.stage2_reward), show: (c) => num(c.stage2_reward, 4) },
  { key: "params", label: "params (M)", numeric: true, value: (c) => finite(c.params), show: (c) => millions(c.params, 3) },
  { key: "madds", label: "madds (M)", numeric: true, value: (c) => finite(c.madds), show: (c) => millions(c.madds, 1) },
  { key: "latency_ms", label: "latency (ms)", numeric: true, value: (c) => finite(c.latency_ms), show: (c) => num(c.latency_ms, 2) },
  { key: "seconds", label: "seconds", numeric: true, value: (c) => finite(totalSeconds(c.seconds)), show: (c) => num(totalSeconds(c.seconds), 1) },
  { key: "decision", label: "decision", value: (c) => (c.decision ? decisionText(c.decision) : c.failure ? `failed: ${c.failure}` : null) },
];

export function sortRows(rows, { key, dir }) {
  const column = COLUMNS.find((c) => c.key === key) || COLUMNS[0];
  const sign = dir === "desc" ? -1 : 1;
  const keyed = rows.map((row) => [column.value(row), row]);
  keyed.sort(([a, ra], [b, rb]) => {
    const aMissing = a === null || a === undefined || a === "";
    const bMissing = b === null || b === undefined || b === "";
    if (aMissing || bMissing) return aMissing === bMissing ? ra.id - rb.id : aMissing ? 1 : -1;
    const order = column.numeric ? a - b : String(a).localeCompare(String(b));
    return order ? sign * order : ra.id - rb.id;
  });
  return keyed.map(([, row]) => row);
}

export function renderHeader(table, sort, onSort) {
  const row = table.tHead.rows[0];
  row.replaceChildren(
    ...COLUMNS.map((column) => {
      const active = column.key === sort.key;
      const th = el(
        "th",
        {
          dataset: { key: column.key },
          className: [column.numeric ? "num" : "", active ? "sorted" : ""].join(" ").trim() || null,
          "aria-sort": active ? (sort.dir === "asc" ? "ascending" : "descending") : "none",
          title: `sort by ${column.label}`,
          onclick: () => onSort(column.key),
        },
        column.label,
        el("span", { className: "arrow", text: active ? (sort.dir === "asc" ? " ▲" : " ▼") : "" })
      );
      return th;
    })
  );
}

function decisionCell(c) {
  if (c.decision) {
    const d = c.decision;
    const tip = [decisionText(d), Number.isFinite(d.p) ? `p = ${d.p.toFixed(3)}` : null, Number.isFinite(d.running_average) ? `running average ${d.running_average.toFixed(4)}` : null]
      .filter(Boolean)
      .join("\n");
    return el("td", { className: `decision ${d.go_on ? "go" : "stop"}`, title: tip }, decisionText(d));
  }
  if (c.failure) return el("td", { className: "decision fail", title: c.failure }, c.failure);
  return el("td", { className: "decision muted" }, DASH);
}

export function renderRows(table, rows, { openId, bestId, empty }) {
  const body = document.createDocumentFragment();
  if (!rows.length) body.appendChild(el("tr", { className: "empty" }, el("td", { colspan: String(COLUMNS.length), text: empty })));
  for (const c of rows) {
    const idCell = el("td", { className: "num id" }, `${c.id}`);
    if (c.id === bestId) idCell.appendChild(el("span", { className: "star", title: "best reward so far", text: " ★" }));
    if (c.reused_from !== null && c.reused_from !== undefined) {
      idCell.appendChild(el("span", { className: "reused", title: `same design as #${c.reused_from}: its result was reused`, text: ` ↺${c.reused_from}` }));
    }
    const cells = [idCell, el("td", {}, statusPill(c.status))];
    for (const column of COLUMNS.slice(2, -1)) cells.push(el("td", { className: "num", text: column.show(c) }));
    cells.push(decisionCell(c));
    const classes = [c.id === openId ? "selected" : "", c.id === bestId ? "best" : ""].join(" ").trim();
    body.appendChild(el("tr", { dataset: { id: String(c.id) }, className: classes || null, title: c.genotype, tabindex: "0" }, cells));
  }
  table.tBodies[0].replaceChildren(body);
}

// One listener for every row, present and future: a click or Enter on a row opens its design.
export function bindRows(table, onOpen) {
  const open = (event) => {
    const row = event.target.closest("tr[data-id]");
    if (row) onOpen(Number(row.dataset.id));
  };
  table.tBodies[0].addEventListener("click", open);
  table.tBodies[0].addEventListener("keydown", (event) => {
    if (event.key === "Enter") open(event);
  });
}

export function markSelected(table, id) {
  for (const row of table.tBodies[0].querySelectorAll("tr.selected")) row.classList.remove("selected");
  if (id !== null) table.tBodies[0].querySelector(`tr[data-id="${id}"]`)?.classList.add("selected");
}
