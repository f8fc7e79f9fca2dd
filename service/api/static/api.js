// Calls to the service: the API key (browser local storage only), the error envelope, jobs.

const KEY_STORAGE = "depeche.apiKey";

/** An error the page shows: the service's envelope, or what went wrong on the way. */
export class ServiceError extends Error {
  constructor(message, { code = "", status = 0, requestId = "" } = {}) {
    super(message);
    this.code = code;
    this.status = status;
    this.requestId = requestId;
  }

  static fromEnvelope(envelope, status = 0) {
    const body = envelope && envelope.error;
    if (body && typeof body.message === "string") {
      return new ServiceError(body.message, {
        code: body.code || "",
        status,
        requestId: body.request_id || "",
      });
    }
    return new ServiceError(`The service answered ${status} without an error message.`, {
      code: `http_${status}`,
      status,
    });
  }
}

export const keysOn = () =>
  document.querySelector('meta[name="depeche-api-keys"]')?.content === "on";

export function storedKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return ""; // storage disabled: the key is asked for again
  }
}

export function storeKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled: nothing is kept, which is what the editor's browser asked for
  }
}

let askForKey = async () => false;

/** Set how the page asks for a key: `ask(reason)` resolves true once a key is stored. */
export function onKeyNeeded(ask) {
  askForKey = ask;
}

/** One call to the service; resolves to the JSON answer or throws a ServiceError. A 401 asks for
 * a key and tries again as long as the editor gives one. */
export async function call(method, path, body) {
  for (;;) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const key = storedKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ServiceError("The service could not be reached. Is it running?", {
        code: "network_error",
      });
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (response.ok) return answer;
    const error = ServiceError.fromEnvelope(answer, response.status);
    if (response.status === 401) {
      storeKey(""); // a refused key is not kept
      const reason = key
        ? `The service refused that key: ${error.message}`
        : `This service needs an API key: ${error.message}`;
      if (await askForKey(reason)) continue;
    }
    throw error;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Run an article through POST /jobs and poll GET /jobs/{id}: `onJob(job)` sees every state.
 * Resolves to the /summarize answer; throws the job's error envelope when it failed. */
export async function runJob(body, onJob) {
  let job = await call("POST", "/jobs", body);
  onJob(job);
  let misses = 0;
  const started = Date.now();
  while (!["done", "failed", "cancelled"].includes(job.status)) {
    // Quick at first (a short article is done in a second or two), then gentler.
    await sleep(Date.now() - started < 10000 ? 400 : 1000);
    try {
      job = await call("GET", `/jobs/${encodeURIComponent(job.id)}`);
      misses = 0;
    } catch (error) {
      // A restart or a network blip loses one poll, not the job (it lives in the job store).
      if (error.code !== "network_error" || ++misses > 10) throw error;
      continue;
    }
    onJob(job);
  }
  if (job.status === "failed") throw ServiceError.fromEnvelope(job.error, 0);
  if (job.status === "cancelled") throw new ServiceError("The job was cancelled.", { code: "cancelled" });
  return job.result;
}

/** POST /verify: the checks of `key_points` against the article, no model involved. */
export function verify(translation, source, keyPoints) {
  const body = { translation, key_points: keyPoints };
  if (source) body.source = source;
  return call("POST", "/verify", body);
}
