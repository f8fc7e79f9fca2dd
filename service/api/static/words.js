// Plain words for what the service reports: flags of key points, translation checks, progress.
// Pure functions, no DOM: the page and its tests share them.

const KIND_NAMES = { number: "Number", date: "Date", name: "Name", negation: "Negation" };

/** A check of a key point in plain words, e.g. "Number 19 not found in the article". */
export function checkWords(check) {
  const kind = KIND_NAMES[check.kind] || check.kind;
  const value = String(check.value ?? "");
  if (check.kind === "negation") {
    return check.supported
      ? `Negation “${value}” matches its source sentence`
      : `Negation “${value}”: the point says the opposite of its source sentence`;
  }
  return check.supported
    ? `${kind} ${value} found in the article`
    : `${kind} ${value} not found in the article`;
}

/** The flags of a grounded key point: one plain sentence per problem, worst first. */
export function pointFlags(grounding) {
  if (!grounding) return [];
  const flags = [];
  if (grounding.replaced) {
    const original = grounding.original ? `: “${grounding.original}”` : "";
    flags.push(`The summarizer's point was not supported and was replaced by a sentence of the article${original}`);
  }
  for (const check of grounding.checks || []) {
    if (!check.supported) flags.push(checkWords(check));
  }
  if (!(grounding.sources || []).length) flags.push("No sentence of the article covers this point");
  return flags;
}

/** The facts of a point that were found, as one short line ("Checked: 19, Kirby"). */
export function checkedFacts(grounding) {
  const found = (grounding?.checks || []).filter((c) => c.supported).map((c) => String(c.value));
  return found.length ? `Checked: ${found.join(", ")}` : "";
}

/** A translation check in plain words, for the sentence it is on. */
export function translationCheckWords(check) {
  const kind = (KIND_NAMES[check.kind] || check.kind).toLowerCase();
  if (check.problem === "missing") return `The French has the ${kind} ${check.value}; the English does not`;
  if (check.problem === "added") return `The English has the ${kind} ${check.value}; the French does not`;
  return `${KIND_NAMES[check.kind] || check.kind} ${check.value}: ${check.problem}`;
}

/** A glossary entry in plain words. */
export function glossaryWords(entry) {
  const what = entry.kind === "glossary"
    ? `Glossary: “${entry.source}” → “${entry.target}”`
    : entry.kind === "do_not_translate"
      ? `Kept as written: “${entry.source}”`
      : `Protected: “${entry.source}”`;
  return entry.applied ? what : `${what}, not applied in the English`;
}

/** The progress line of a job document. */
export function progressWords(job) {
  const progress = job.progress || {};
  switch (job.status === "running" ? progress.stage : job.status) {
    case "queued":
      return "Waiting in the queue…";
    case "translating":
      return progress.total
        ? `Translating: ${progress.done} of ${progress.total} sentences`
        : "Translating…";
    case "summarizing":
      return "Writing the key points…";
    case "done":
      return "Done.";
    case "failed":
      return "Failed.";
    case "cancelled":
      return "Cancelled.";
    default:
      return "Working…";
  }
}

/** Whether pasted text looks like HTML (a tag the service reads as a block, or a page). */
export function looksLikeHtml(text) {
  return /<\/?(p|div|h[1-6]|br|li|ul|ol|blockquote|figure|figcaption|article|section|main|body|html|span|strong|em|a)(\s[^<>]*)?\/?>/i.test(text);
}

/** Glossary lines ("French = English", or a tab between them) to the request's object. */
export function parseGlossary(text) {
  const entries = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const match = line.match(/^(.*?)\s*(?:\t|=|→)\s*(.*)$/);
    if (!match || !match[1].trim() || !match[2].trim()) {
      throw new Error(`Glossary line “${line.trim()}” needs a French term, “=”, then its English.`);
    }
    entries[match[1].trim()] = match[2].trim();
  }
  return entries;
}
