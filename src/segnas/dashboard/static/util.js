// DOM building and number formatting shared by the dashboard's modules. Elements are built with
// createElement and text nodes only: genotypes, failures and markdown come from files.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  return node;
}

export const DASH = "—";

export function num(value, digits) {
  return Number.isFinite(value) ? value.toFixed(digits) : DASH;
}

export function millions(value, digits = 2) {
  return Number.isFinite(value) ? (value / 1e6).toFixed(digits) : DASH;
}

export function duration(seconds) {
  if (!Number.isFinite(seconds)) return DASH;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(Math.round(seconds % 60)).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

export function statusLabel(status) {
  return status === "stopped-after-stage-1" ? "stopped" : status;
}

export function statusPill(status) {
  return el("span", { className: `pill st-${status}`, title: status }, statusLabel(status));
}

export function totalSeconds(seconds) {
  if (Number.isFinite(seconds)) return seconds;
  if (seconds && typeof seconds === "object") {
    return Object.values(seconds).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  }
  return null;
}

export function decisionText(decision) {
  if (!decision) return "";
  const verdict = decision.go_on ? "go on" : "stopped";
  return decision.reason ? `${verdict}: ${decision.reason}` : verdict;
}

export function fileUrl(run, path) {
  return `/runs/${encodeURIComponent(run)}/files/${path.split("/").map(encodeURIComponent).join("/")}`;
}
