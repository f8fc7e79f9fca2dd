// The editor's page: paste an article, run it as a job, read and edit the result.

import { ServiceError, call, keysOn, onKeyNeeded, runJob, storeKey, storedKey, verify } from "./api.js";
import { buildRows, el, highlight, pointElement, renderColumns, textParagraphs, updatePoint } from "./render.js";
import { looksLikeHtml, parseGlossary, progressWords } from "./words.js";

const $ = (id) => document.getElementById(id);

const state = {
  result: null, // the /summarize answer
  rows: [], // the columns' rows (see buildRows)
  points: [], // [{text, checked, grounding, stale}]; `checked` is the text the grounding is for
  selected: null, // index of the point whose sources are highlighted
  job: null,
  verifying: 0, // sequence number of the latest /verify call
};

// ---- the API key -------------------------------------------------------------------------------

function askForKey(reason) {
  const dialog = $("key-dialog");
  $("key-reason").textContent = reason;
  $("api-key").value = "";
  $("key-forget").hidden = !storedKey();
  return new Promise((resolve) => {
    const done = (ok) => {
      dialog.removeEventListener("close", onClose);
      updateKeyButton();
      resolve(ok);
    };
    const onClose = () => done(dialog.returnValue === "save" && Boolean(storedKey()));
    dialog.addEventListener("close", onClose);
    if (!dialog.open) dialog.showModal();
    $("api-key").focus();
  });
}

function updateKeyButton() {
  const button = $("key-button");
  button.hidden = !keysOn();
  button.textContent = storedKey() ? "API key: set" : "API key: needed";
}

function wireKeyDialog() {
  const dialog = $("key-dialog");
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) {
      $("api-key").focus();
      return;
    }
    storeKey(key);
    dialog.close("save");
  });
  $("key-cancel").addEventListener("click", () => dialog.close("cancel"));
  $("key-forget").addEventListener("click", () => {
    storeKey("");
    dialog.close("cancel");
  });
  $("key-button").addEventListener("click", () =>
    askForKey(storedKey() ? "Replace or forget the key this browser keeps." : "This service needs an API key."));
  onKeyNeeded(askForKey);
  updateKeyButton();
  if (keysOn() && !storedKey()) askForKey("This service needs an API key. Ask its operator for one.");
}

// ---- status: progress and errors ---------------------------------------------------------------

function setBusy(busy) {
  $("run").disabled = busy;
  $("run").textContent = busy ? "Working…" : "Translate and summarize";
}

function showProgress(job) {
  $("progress").hidden = false;
  const bar = $("progress-bar");
  const progress = job.progress || {};
  if (job.status === "running" && progress.stage === "summarizing") {
    bar.removeAttribute("value"); // no count to show: the bar moves without a value
  } else if (job.status === "running" && progress.total) {
    // Translation is most of the visible wait; the summary gets the last fifth of the bar.
    bar.value = 0.8 * (progress.done / progress.total);
  } else {
    bar.value = job.status === "done" ? 1 : 0;
  }
  const label = progressWords(job);
  if ($("progress-label").textContent !== label) $("progress-label").textContent = label;
  $("cancel").hidden = job.status !== "queued";
}

function showError(error) {
  const box = $("error");
  box.hidden = false;
  $("error-message").textContent = error.message;
  $("error-code").textContent = error.code ? `Code: ${error.code}` : "";
  $("error-request").textContent = error.requestId ? `Request id: ${error.requestId}` : "";
}

function clearError() {
  $("error").hidden = true;
  $("error-message").textContent = "";
}

// ---- running an article ------------------------------------------------------------------------

function requestBody() {
  const pasted = $("source").value;
  const format = document.querySelector('input[name="format"]:checked').value;
  const html = format === "html" || (format === "auto" && looksLikeHtml(pasted));
  const body = html ? { html: pasted } : { text: pasted };
  const title = $("headline").value.trim();
  if (title) body.title = title;
  if ($("source-lang").value) body.source_lang = $("source-lang").value;
  body.options = { max_points: Number($("max-points").value) };
  const glossary = parseGlossary($("glossary").value);
  if (Object.keys(glossary).length) body.glossary = glossary;
  const keep = textParagraphs($("do-not-translate").value);
  if (keep.length) body.do_not_translate = keep;
  return body;
}

async function run(event) {
  event.preventDefault();
  clearError();
  let body;
  try {
    if (!$("source").value.trim()) throw new ServiceError("Paste an article first.", { code: "empty_text" });
    body = requestBody();
  } catch (error) {
    showError(error);
    $("source").focus();
    return;
  }
  state.job = null;
  document.body.dataset.state = "running";
  setBusy(true);
  $("progress-label").textContent = "Sending…";
  $("progress").hidden = false;
  $("progress-bar").value = 0;
  try {
    const result = await runJob(body, (job) => {
      state.job = job;
      showProgress(job);
    });
    showResult(result, body);
    document.body.dataset.state = "done";
  } catch (error) {
    showError(error instanceof ServiceError ? error : new ServiceError(String(error)));
    $("progress").hidden = true; // the error says what happened
    document.body.dataset.state = "failed";
  } finally {
    setBusy(false);
    $("cancel").hidden = true;
  }
}

async function cancel() {
  if (!state.job) return;
  try {
    showProgress(await call("DELETE", `/jobs/${encodeURIComponent(state.job.id)}`));
  } catch (error) {
    showError(error);
  }
}

// ---- the result --------------------------------------------------------------------------------

function showResult(result, body) {
  state.result = result;
  state.rows = buildRows(result, body);
  state.selected = null;
  const grounding = Array.isArray(result.grounding) ? result.grounding : [];
  state.points = result.key_points.map((text, i) => ({
    text,
    checked: text,
    grounding: grounding[i] || null,
    stale: false,
  }));
  renderColumns(state.rows, {
    checks: result.translation_checks || [],
    glossary: result.meta.glossary || [],
  });
  renderPoints();
  renderSummary(result);
  $("verify-status").textContent = "";
  const results = $("results");
  results.hidden = false;
  results.dataset.jobId = state.job ? state.job.id : "";
  results.focus({ preventScroll: true });
  results.scrollIntoView({ block: "start" });
}

function renderSummary(result) {
  const sentences = state.rows.filter((r) => r.id !== null).length;
  const checks = (result.translation_checks || []).length;
  const glossary = result.meta.glossary || [];
  const missing = glossary.filter((g) => !g.applied).length;
  const parts = [
    sentences ? `${sentences} sentences` : `${state.rows.length} paragraphs`,
    Array.isArray(result.translation_checks) &&
      (checks ? `${checks} translation check${checks === 1 ? "" : "s"} to look at` : "translation checks: none"),
    glossary.length && `${glossary.length} glossary term${glossary.length === 1 ? "" : "s"}${missing ? ` (${missing} not applied)` : ""}`,
    `${(result.meta.timings_ms.total / 1000).toFixed(1)} s`,
  ];
  $("article-summary").textContent = parts.filter(Boolean).join(" · ");
  const warnings = result.meta.warnings || [];
  const box = $("warnings");
  box.hidden = !warnings.length;
  box.replaceChildren(
    el("h2", {}, "Warnings from the service"),
    el("ul", {}, ...warnings.map((w) => el("li", {}, w))),
  );
}

function renderPoints() {
  const list = $("key-points");
  const nodes = [...list.children];
  state.points.forEach((point, i) => {
    let node = nodes[i];
    if (!node) {
      node = pointElement(i);
      list.append(node);
    }
    updatePoint(node, point, i);
    node.classList.toggle("selected", state.selected === i);
  });
  nodes.slice(state.points.length).forEach((node) => node.remove());
}

/** The sentence ids of the page for /verify's ids, which count the paragraphs' sentences only. */
function verifyIdMap(answer) {
  const body = state.rows.filter((r) => r.part === "body" && r.id !== null);
  const map = new Map();
  if (Array.isArray(answer.sentences)) {
    const byParagraph = new Map();
    for (const row of body) byParagraph.set(row.paragraph, [...(byParagraph.get(row.paragraph) || []), row]);
    const seen = new Map();
    for (const s of answer.sentences) {
      const k = seen.get(s.paragraph) || 0;
      seen.set(s.paragraph, k + 1);
      const rows = byParagraph.get(s.paragraph) || [];
      const row = rows.find((r) => r.text === s.text) || rows[k] || rows[rows.length - 1];
      if (row) map.set(s.id, row.id);
    }
  } else {
    body.forEach((row, i) => map.set(i, row.id));
  }
  return map;
}

function remapGrounding(grounding, map) {
  const id = (i) => (map.has(i) ? map.get(i) : i);
  return {
    ...grounding,
    sources: (grounding.sources || []).map((s) => ({ ...s, sentence: id(s.sentence) })),
    checks: (grounding.checks || []).map((c) => ({ ...c, found_in: (c.found_in || []).map(id) })),
  };
}

async function verifyAll() {
  if (!state.result) return;
  readPointTexts();
  state.points = state.points.filter((p) => p.text.trim());
  const sequence = ++state.verifying;
  const sent = state.points.map((p) => p.text.trim());
  const french = frenchParagraphs();
  $("key-points").setAttribute("aria-busy", "true");
  $("verify-status").textContent = "Checking the key points…";
  try {
    const answer = await verify(state.result.translation.paragraphs, french, sent);
    if (sequence !== state.verifying) return; // a later check is on its way
    const map = verifyIdMap(answer);
    state.points.forEach((point, i) => {
      if (i >= sent.length || !answer.grounding[i]) return;
      point.grounding = remapGrounding(answer.grounding[i], map);
      point.checked = sent[i];
      point.stale = point.text.trim() !== sent[i]; // typed on while the check ran
    });
    const flagged = state.points.filter((p) => p.grounding && !p.grounding.supported).length;
    $("verify-status").textContent = flagged
      ? `Checked: ${flagged} point${flagged === 1 ? "" : "s"} to look at.`
      : "Checked: every point is supported by the article.";
  } catch (error) {
    if (sequence !== state.verifying) return;
    $("verify-status").textContent = `The points could not be checked: ${error.message}${error.code ? ` (${error.code})` : ""}`;
  } finally {
    if (sequence === state.verifying) $("key-points").removeAttribute("aria-busy");
  }
  renderPoints();
  if (state.selected !== null) selectPoint(state.selected, { scroll: false });
}

/** The French paragraphs for /verify, rebuilt from the sentences (none when there are no ids). */
function frenchParagraphs() {
  const body = state.rows.filter((r) => r.part === "body" && r.id !== null);
  const paragraphs = state.result.translation.paragraphs.map(() => []);
  for (const row of body) paragraphs[row.paragraph]?.push(row.source);
  if (!body.length || paragraphs.some((p) => !p.length)) return null;
  return paragraphs.map((p) => p.join(" "));
}

function readPointTexts() {
  document.querySelectorAll("#key-points .key-point").forEach((node, i) => {
    if (state.points[i]) state.points[i].text = node.querySelector(".kp-text").textContent.replace(/\s+/g, " ").trim();
  });
}

function selectPoint(index, { scroll = true } = {}) {
  state.selected = index;
  document.querySelectorAll("#key-points .key-point").forEach((node, i) => node.classList.toggle("selected", i === index));
  const point = state.points[index];
  const ids = (point?.grounding?.sources || []).map((s) => s.sentence);
  highlight(ids, { scroll });
}

function wirePoints() {
  const list = $("key-points");
  const indexOf = (target) => Number(target.closest(".key-point")?.dataset.index);
  list.addEventListener("click", (event) => {
    const node = event.target.closest(".key-point");
    if (!node) return;
    const index = indexOf(node);
    if (event.target.closest(".remove-point")) {
      readPointTexts();
      state.points.splice(index, 1);
      state.selected = null;
      highlight([], { scroll: false });
      renderPoints();
      verifyAll();
      return;
    }
    // A click in the text both starts editing and shows the sources; the page only scrolls when
    // asked through the button, so the text under the caret does not jump away.
    selectPoint(index, { scroll: !event.target.closest(".kp-text") || window.innerWidth > 700 });
  });
  list.addEventListener("focusin", (event) => {
    // Tabbing into a point's text shows its sources too, as a click does.
    if (event.target.classList.contains("kp-text")) selectPoint(indexOf(event.target), { scroll: false });
  });
  list.addEventListener("input", (event) => {
    const index = indexOf(event.target);
    const point = state.points[index];
    if (!point) return;
    point.text = event.target.textContent;
    point.stale = point.text.replace(/\s+/g, " ").trim() !== point.checked;
    updatePoint(event.target.closest(".key-point"), point, index);
  });
  list.addEventListener("keydown", (event) => {
    if (!event.target.classList.contains("kp-text")) return;
    if (event.key === "Enter") {
      event.preventDefault(); // a key point is one line; Enter is done
      event.target.blur();
    } else if (event.key === "Escape") {
      const point = state.points[indexOf(event.target)];
      if (point) {
        event.target.textContent = point.checked;
        point.text = point.checked;
        point.stale = false;
      }
      event.target.blur();
    }
  });
  list.addEventListener("paste", (event) => {
    if (!event.target.closest(".kp-text")) return;
    event.preventDefault(); // plain text only
    const text = (event.clipboardData?.getData("text/plain") || "").replace(/\s+/g, " ");
    document.execCommand("insertText", false, text);
  });
  list.addEventListener("focusout", (event) => {
    if (!event.target.classList.contains("kp-text")) return;
    readPointTexts();
    if (state.points.some((p) => p.stale)) verifyAll();
  });
  $("verify").addEventListener("click", verifyAll);
  $("add-point").addEventListener("click", () => {
    readPointTexts();
    state.points.push({ text: "", checked: "", grounding: null, stale: true });
    renderPoints();
    list.lastElementChild.querySelector(".kp-text").focus();
  });
}

// ---- copying -----------------------------------------------------------------------------------

async function copyText(text, what) {
  let done = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      done = true;
    }
  } catch {
    done = false;
  }
  if (!done) {
    // Plain http on another host has no clipboard API: the old way still works there.
    const area = el("textarea", { readonly: true, class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    try {
      done = document.execCommand("copy");
    } catch {
      done = false;
    }
    area.remove();
  }
  $("copy-status").textContent = done ? `${what} copied.` : `${what} could not be copied: select and copy it by hand.`;
  return done;
}

function flash(button, ok) {
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  button.textContent = ok ? "Copied" : "Copy failed";
  setTimeout(() => {
    button.textContent = label;
  }, 1500);
}

function wireCopy() {
  $("copy-english").addEventListener("click", async (event) => {
    if (!state.result) return;
    flash(event.currentTarget, await copyText(state.result.translation.text, "The English text"));
  });
  $("copy-points").addEventListener("click", async (event) => {
    readPointTexts();
    const text = state.points.map((p) => `- ${p.text}`).join("\n");
    flash(event.currentTarget, await copyText(text, "The key points"));
  });
}

// ---- start -------------------------------------------------------------------------------------

function wireForm() {
  $("article-form").addEventListener("submit", run);
  $("cancel").addEventListener("click", cancel);
  const detect = () => {
    const format = document.querySelector('input[name="format"]:checked').value;
    const text = $("source").value;
    $("detected").textContent = format === "auto" && text.trim()
      ? looksLikeHtml(text) ? "Read as HTML." : "Read as plain text."
      : "";
  };
  $("source").addEventListener("input", detect);
  document.querySelectorAll('input[name="format"]').forEach((input) => input.addEventListener("change", detect));
}

wireKeyDialog();
wireForm();
wirePoints();
wireCopy();
document.body.dataset.state = "idle";
