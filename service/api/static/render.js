// DOM for the results: the two columns sentence against sentence, and the key points.
// Text from the article or the models always goes in as text nodes, never as HTML.

import { checkedFacts, glossaryWords, pointFlags, translationCheckWords } from "./words.js";

/** `el("p", {class: "x", "data-a": 1}, child, "text")`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** Paragraphs of pasted plain text, split as the service splits them (any newline). */
export function textParagraphs(text) {
  return text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
}

/**
 * The rows of the two columns. With `translation.sentences` (the service's contract), one row per
 * sentence, with its id. Without it (a service from before sentence ids), one row per part:
 * headline, standfirst, each paragraph, each caption; the French comes from the pasted text when
 * its paragraphs can be matched, and rows carry no sentence id.
 */
export function buildRows(result, pasted) {
  const translation = result.translation;
  if (Array.isArray(translation.sentences)) {
    return translation.sentences.map((s) => ({
      id: s.id,
      part: typeof s.paragraph === "number" ? "body" : s.paragraph,
      group: s.paragraph === "caption" ? `caption-${s.caption}` : String(s.paragraph),
      paragraph: s.paragraph,
      source: s.source,
      text: s.text,
    }));
  }
  const rows = [];
  const add = (part, group, paragraph, source, text) =>
    rows.push({ id: null, part, group, paragraph, source, text });
  if (translation.title) add("title", "title", "title", pasted.title || "", translation.title);
  if (translation.standfirst) add("standfirst", "standfirst", "standfirst", "", translation.standfirst);
  const french = pasted.html ? [] : textParagraphs(pasted.text || "");
  const matched = french.length === translation.paragraphs.length;
  translation.paragraphs.forEach((text, i) => add("body", String(i), i, matched ? french[i] : "", text));
  (translation.captions || []).forEach((text, i) => add("caption", `caption-${i}`, "caption", "", text));
  return rows;
}

/** Case-insensitive places of `term` in `text`, as [start, end] pairs. */
function findAll(text, term) {
  const ranges = [];
  if (!term) return ranges;
  const hay = text.toLocaleLowerCase();
  const needle = term.toLocaleLowerCase();
  for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + needle.length)) {
    ranges.push([at, at + needle.length]);
  }
  return ranges;
}

/** `text` as nodes, with each range wrapped in a <mark> (overlapping ranges: the first wins). */
function marked(text, marks) {
  const sorted = marks.slice().sort((a, b) => a.start - b.start);
  const nodes = [];
  let at = 0;
  for (const mark of sorted) {
    if (mark.start < at) continue;
    if (mark.start > at) nodes.push(document.createTextNode(text.slice(at, mark.start)));
    nodes.push(el("mark", mark.attrs, text.slice(mark.start, mark.end)));
    at = mark.end;
  }
  if (at < text.length) nodes.push(document.createTextNode(text.slice(at)));
  return nodes;
}

/** Fill #french and #translation: one element per row in each, on the same grid row. */
export function renderColumns(rows, { checks = [], glossary = [] } = {}) {
  const french = document.getElementById("french");
  const english = document.getElementById("translation");
  for (const column of [french, english]) {
    column.querySelectorAll(".sentence").forEach((node) => node.remove());
  }
  const byId = new Map(rows.filter((r) => r.id !== null).map((r) => [r.id, r]));
  const frMarks = new Map();
  const enMarks = new Map();
  const notes = new Map();
  const addTo = (map, id, value) => map.set(id, [...(map.get(id) || []), value]);

  for (const entry of glossary) {
    const target = entry.kind === "glossary" ? entry.target : entry.source;
    const title = glossaryWords(entry);
    for (const id of entry.sentences || []) {
      const row = byId.get(id);
      if (!row) continue;
      const status = entry.applied ? "term" : "term term-missing";
      for (const [start, end] of findAll(row.source, entry.source)) {
        addTo(frMarks, id, { start, end, attrs: { class: status, title } });
      }
      for (const [start, end] of findAll(row.text, target)) {
        addTo(enMarks, id, { start, end, attrs: { class: "term", title } });
      }
      if (!entry.applied) addTo(notes, id, { kind: "glossary", text: title });
    }
  }
  for (const check of checks) {
    if (byId.has(check.sentence)) {
      addTo(notes, check.sentence, { kind: "check", text: translationCheckWords(check) });
    }
  }

  let group = null;
  rows.forEach((row, index) => {
    const start = row.group !== group;
    group = row.group;
    const rowNotes = row.id === null ? [] : notes.get(row.id) || [];
    const flagged = rowNotes.some((n) => n.kind === "check");
    for (const [column, lang] of [[french, "fr"], [english, "en"]]) {
      const text = lang === "fr" ? row.source : row.text;
      const marks = row.id === null ? [] : (lang === "fr" ? frMarks : enMarks).get(row.id) || [];
      const node = el(
        "p",
        {
          class: ["sentence", `part-${row.part}`, start && "para-start", flagged && "flagged",
            !text && "empty"].filter(Boolean).join(" "),
          "data-sentence": row.id,
          "data-row": index,
          "data-paragraph": row.paragraph,
        },
        el("span", { class: "text" }, ...marked(text, marks)),
      );
      if (lang === "en" && rowNotes.length) {
        node.append(...rowNotes.map((n) => el("span", { class: `note note-${n.kind}` }, n.text)));
      }
      // Both cells of a row sit on one grid row, so a pair stays side by side however long
      // either sentence is (row 1 holds the column headings).
      node.style.gridRow = String(index + 2);
      column.append(node);
    }
  });
}

/** Mark `ids` highlighted in both columns; scroll the first into view. */
export function highlight(ids, { scroll = true } = {}) {
  document.querySelectorAll(".sentence.highlight").forEach((n) => n.classList.remove("highlight"));
  let first = null;
  for (const id of ids) {
    for (const node of document.querySelectorAll(`.sentence[data-sentence="${Number(id)}"]`)) {
      node.classList.add("highlight");
      if (!first || first.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_PRECEDING) first = node;
    }
  }
  if (first && scroll) {
    const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    first.scrollIntoView({ block: "center", behavior: smooth ? "smooth" : "auto" });
  }
  return first;
}

/** A new key point's element (its contents are filled by updatePoint). */
export function pointElement(index) {
  const text = el("p", {
    class: "kp-text",
    contenteditable: "true",
    role: "textbox",
    "aria-multiline": "false",
    "aria-label": `Key point ${index + 1}`,
    spellcheck: "true",
  });
  return el(
    "li",
    { class: "key-point", "data-index": index },
    el("div", { class: "kp-head" }, el("span", { class: "badge" }), el("span", { class: "kp-tools" },
      el("button", { type: "button", class: "show-sources quiet small", "aria-label": `Show the sources of key point ${index + 1}` }, "Sources"),
      el("button", { type: "button", class: "remove-point quiet small", "aria-label": `Remove key point ${index + 1}` }, "Remove"))),
    text,
    el("ul", { class: "flags" }),
    el("p", { class: "facts" }),
  );
}

/** Bring a key point's element up to date; its text is left alone while the editor types in it. */
export function updatePoint(node, point, index) {
  node.dataset.index = String(index);
  const text = node.querySelector(".kp-text");
  text.setAttribute("aria-label", `Key point ${index + 1}`);
  node.querySelector(".remove-point").setAttribute("aria-label", `Remove key point ${index + 1}`);
  node.querySelector(".show-sources").setAttribute("aria-label", `Show the sources of key point ${index + 1}`);
  if (document.activeElement !== text && text.textContent !== point.text) text.textContent = point.text;
  const grounding = point.grounding;
  if (grounding) node.dataset.supported = String(Boolean(grounding.supported));
  else delete node.dataset.supported;
  if (point.stale) node.dataset.stale = "true";
  else delete node.dataset.stale;

  const badge = node.querySelector(".badge");
  const state = point.stale ? "stale" : !grounding ? "unchecked" : grounding.supported ? "ok" : "flagged";
  badge.className = `badge badge-${state}`;
  badge.textContent = {
    stale: "Edited: not checked",
    unchecked: "Not checked",
    ok: "Supported",
    flagged: "Check this point",
  }[state];

  const flags = node.querySelector(".flags");
  flags.replaceChildren(...pointFlags(grounding).map((flag) => el("li", { class: "flag" }, flag)));
  const sources = (grounding?.sources || []).length;
  const facts = [checkedFacts(grounding), sources ? `Rests on ${sources} sentence${sources > 1 ? "s" : ""}` : ""];
  node.querySelector(".facts").textContent = facts.filter(Boolean).join(" · ");
  node.querySelector(".show-sources").hidden = !sources;
}
