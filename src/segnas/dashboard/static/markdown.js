// A tiny markdown reader for experiment.md: headings, paragraphs, lists, fenced code, pipe
// tables and images, built as DOM nodes (never innerHTML) because the text comes from a file.
// Images and links resolve inside the run directory only; nothing is fetched from elsewhere.

import { el } from "./util.js";

const INLINE = /(`[^`]+`)|!\[([^\]]*)\]\(([^)\s]+)\)|\[([^\]]+)\]\(([^)\s]+)\)|\*\*([^*]+)\*\*/g;
const TABLE_RULE = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;
const NUMERIC = /^[+\-−]?\d[\d.,]*(\s*\[.*\])?%?$/;

function isRelative(href) {
  return !/^[a-z][a-z0-9+.-]*:/i.test(href) && !href.startsWith("/") && !href.startsWith("\\");
}

function inline(textValue, resolve) {
  const nodes = [];
  let last = 0;
  for (const m of textValue.matchAll(INLINE)) {
    if (m.index > last) nodes.push(textValue.slice(last, m.index));
    if (m[1]) nodes.push(el("code", { text: m[1].slice(1, -1) }));
    else if (m[3] !== undefined) nodes.push(image(m[2], m[3], resolve));
    else if (m[5] !== undefined) {
      const href = m[5];
      const safe = isRelative(href) ? resolve(href) : /^https?:/i.test(href) ? href : null;
      nodes.push(safe ? el("a", { href: safe, target: "_blank", rel: "noopener noreferrer", text: m[4] }) : m[4]);
    } else if (m[6]) nodes.push(el("strong", { text: m[6] }));
    last = m.index + m[0].length;
  }
  if (last < textValue.length) nodes.push(textValue.slice(last));
  return nodes;
}

function image(alt, src, resolve) {
  if (!isRelative(src)) return el("span", { className: "muted", text: `[image ${alt || src} not shown]` });
  const url = resolve(src);
  return el("a", { href: url, target: "_blank", className: "md-image" }, el("img", { src: url, alt, title: alt, loading: "lazy" }));
}

function cells(line) {
  let body = line.trim();
  if (body.startsWith("|")) body = body.slice(1);
  if (body.endsWith("|")) body = body.slice(0, -1);
  return body.split("|").map((c) => c.trim());
}

function table(lines, resolve) {
  const head = cells(lines[0]);
  const rows = lines.slice(2).map(cells);
  const td = (tag, value) => el(tag, { className: NUMERIC.test(value) ? "num" : null }, inline(value, resolve));
  return el(
    "div",
    { className: "md-table" },
    el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => td("th", h)))), el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => td("td", c))))))
  );
}

// The markdown as a fragment; `resolve(relativePath)` gives the URL of a file beside it.
export function renderMarkdown(source, resolve) {
  const out = document.createDocumentFragment();
  const lines = String(source || "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) out.appendChild(el("p", {}, inline(paragraph.join(" "), resolve)));
    paragraph = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    if (/^```/.test(line)) {
      flush();
      const code = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) code.push(lines[i]);
      out.appendChild(el("pre", { className: "md-code", text: code.join("\n") }));
      i++;
    } else if (/^#{1,6}\s/.test(line)) {
      flush();
      const level = Math.min(4, line.match(/^#+/)[0].length + 1);
      out.appendChild(el(`h${level}`, {}, inline(line.replace(/^#+\s*/, ""), resolve)));
      i++;
    } else if (line.trim().startsWith("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
      flush();
      const block = [];
      for (; i < lines.length && lines[i].trim().startsWith("|"); i++) block.push(lines[i]);
      out.appendChild(table(block, resolve));
    } else if (/^\s*([-*]|\d+\.)\s+/.test(line)) {
      flush();
      const ordered = /^\s*\d+\./.test(line);
      const list = el(ordered ? "ol" : "ul");
      for (; i < lines.length && /^\s*([-*]|\d+\.)\s+/.test(lines[i]); i++) {
        list.appendChild(el("li", {}, inline(lines[i].replace(/^\s*([-*]|\d+\.)\s+/, ""), resolve)));
      }
      out.appendChild(list);
    } else if (!line.trim()) {
      flush();
      i++;
    } else {
      paragraph.push(line.trim());
      i++;
    }
  }
  flush();
  return out;
}

// Relative image paths the markdown shows, so the page lists the other images separately.
export function referencedImages(source) {
  return new Set([...String(source || "").matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1].replace(/^\.\//, "")));
}
