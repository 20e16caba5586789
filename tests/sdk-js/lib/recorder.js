// Records every HTTP exchange the SDK makes, so a failing flow can show exactly which request the
// SDK sent and what keygate answered. It wraps `globalThis.fetch`, which both the SDK and the
// OAuth library inside it look up at call time.
//
// Requests to any host other than keygate's are refused at once: the SDK runs "network
// diagnostics" against public hosts after repeated failures, and a test must never depend on (or
// wait for) the internet.

const realFetch = globalThis.fetch;

const MAX_BODY = 1200;
/** Request headers left out of failure dumps (same on every request, never the cause). */
const NOISE = new Set(["random-nonce", "client-version", "allow-anonymous-user"]);

/** @typedef {{ method: string, url: string, path: string, requestHeaders: Record<string, string>,
 *   requestBody: string | null, status?: number, actualStatus?: number,
 *   responseHeaders?: Record<string, string>, responseBody?: string, error?: string }} Exchange */

export class Recorder {
  constructor() {
    /** @type {Exchange[]} */
    this.exchanges = [];
    /** @type {Set<string>} */
    this.allowedOrigins = new Set();
    this.installed = false;
  }

  allowOrigin(origin) {
    this.allowedOrigins.add(new URL(origin).origin);
  }

  reset() {
    this.exchanges = [];
  }

  install() {
    if (this.installed) return;
    this.installed = true;
    const recorder = this;
    globalThis.fetch = async function recordedFetch(input, init = {}) {
      const request = new Request(input, init);
      const url = new URL(request.url);
      if (!recorder.allowedOrigins.has(url.origin)) {
        throw new TypeError(`sdk-js suite: refusing a request to ${url.origin} (only keygate may be contacted)`);
      }
      /** @type {Exchange} */
      const exchange = {
        method: request.method,
        url: request.url,
        path: url.pathname + url.search,
        requestHeaders: headersToObject(request.headers),
        requestBody: bodyToString(init.body),
      };
      recorder.exchanges.push(exchange);
      try {
        const response = await realFetch(input, init);
        exchange.status = response.status;
        exchange.responseHeaders = headersToObject(response.headers);
        const actual = response.headers.get("x-stack-actual-status") ?? response.headers.get("x-hexclave-actual-status");
        exchange.actualStatus = actual ? Number(actual) : response.status;
        exchange.responseBody = truncate(await response.clone().text());
        return response;
      } catch (error) {
        exchange.error = String(error);
        throw error;
      }
    };
  }

  /** Exchanges whose method and path match (`path` is a substring or a RegExp). */
  matching(method, path) {
    return this.exchanges.filter(
      (e) =>
        (method == null || e.method === method) &&
        (path instanceof RegExp ? path.test(e.path) : e.path.includes(path)),
    );
  }

  last(method, path) {
    const all = this.matching(method, path);
    return all[all.length - 1];
  }

  /** A readable dump of the exchanges so far, for failure messages. */
  format(limit = 12) {
    if (this.exchanges.length === 0) return "(no HTTP exchanges recorded)";
    const shown = this.exchanges.slice(-limit);
    const skipped = this.exchanges.length - shown.length;
    const lines = [`--- last ${shown.length} HTTP exchange(s)${skipped ? ` (${skipped} earlier omitted)` : ""} ---`];
    for (const e of shown) {
      lines.push(`> ${e.method} ${e.path}`);
      for (const [k, v] of Object.entries(e.requestHeaders)) {
        if (NOISE.has(k.replace(/^x-(stack|hexclave)-/, ""))) continue;
        if (k.startsWith("x-stack-") || k.startsWith("x-hexclave-") || k === "content-type" || k === "authorization") {
          lines.push(`>   ${k}: ${shorten(v)}`);
        }
      }
      if (e.requestBody) lines.push(`>   body: ${e.requestBody}`);
      if (e.error) {
        lines.push(`< (network error) ${e.error}`);
        continue;
      }
      const statusNote = e.actualStatus !== e.status ? ` (x-stack-actual-status: ${e.actualStatus})` : "";
      lines.push(`< ${e.status}${statusNote}`);
      for (const [k, v] of Object.entries(e.responseHeaders ?? {})) {
        if (k.startsWith("x-stack-known-error") || k.startsWith("x-hexclave-known-error") || k === "content-type") {
          lines.push(`<   ${k}: ${v}`);
        }
      }
      lines.push(`<   body: ${e.responseBody}`);
    }
    return lines.join("\n");
  }
}

function headersToObject(headers) {
  const out = {};
  headers.forEach((value, key) => {
    out[key.toLowerCase()] = value;
  });
  return out;
}

function bodyToString(body) {
  if (body == null) return null;
  if (typeof body === "string") return truncate(body);
  if (body instanceof URLSearchParams) return truncate(body.toString());
  return `(${Object.prototype.toString.call(body)})`;
}

function truncate(text) {
  return text.length > MAX_BODY ? `${text.slice(0, MAX_BODY)}… (${text.length} chars)` : text;
}

function shorten(value) {
  return value.length > 60 ? `${value.slice(0, 28)}…${value.slice(-24)}` : value;
}

export const recorder = new Recorder();
export { realFetch };
