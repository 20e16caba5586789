/*
 * keygate web components: <keygate-api-keys> and <keygate-team-api-keys>.
 *
 * Plain JavaScript, no build step, no dependencies. Served by keygate at
 * /ui/keygate-components.js. The components call keygate's client API directly
 * (x-stack-access-type: client) with the project id, the publishable client key and the
 * signed-in user's access token. See docs/ui.md for embedding and the access-token options.
 *
 * Security notes: every value from the API is put into the page with textContent, never as
 * HTML. A new key's secret lives only in the DOM of the reveal panel until the user clicks
 * "Done", and is never logged or stored.
 */
(function () {
  "use strict";

  if (window.customElements.get("keygate-api-keys")) {
    return;
  }

  var SCRIPT_ORIGIN = (function () {
    try {
      var src = document.currentScript && document.currentScript.src;
      return src ? new URL(src, document.baseURI).origin : window.location.origin;
    } catch (_) {
      return window.location.origin;
    }
  })();

  var DAY_MS = 24 * 60 * 60 * 1000;
  var ACCESS_TOKEN_COOKIE = "stack-access-token";
  var MANAGE_API_KEYS = "$manage_api_keys";
  var TEAM_KEYS_DISABLED = "Team API keys are not enabled for this project.";

  /** Defaults shared by every component on the page; see KeygateComponents.configure. */
  var defaults = {};

  // --- small DOM helper ------------------------------------------------------------------------

  /** Creates an element; attributes starting with "on" become listeners; text is escaped. */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === undefined || value === null || value === false) return;
        if (name.slice(0, 2) === "on" && typeof value === "function") {
          el.addEventListener(name.slice(2), value);
        } else if (name === "text") {
          el.textContent = value;
        } else if (value === true) {
          el.setAttribute(name, "");
        } else {
          el.setAttribute(name, String(value));
        }
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(parent, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) {
      child.forEach(function (c) { append(parent, c); });
    } else if (typeof child === "string") {
      parent.appendChild(document.createTextNode(child));
    } else {
      parent.appendChild(child);
    }
  }

  var idCounter = 0;
  function uid(prefix) {
    idCounter += 1;
    return "kg-" + prefix + "-" + idCounter;
  }

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (eq > 0 && parts[i].slice(0, eq) === name) {
        try {
          return decodeURIComponent(parts[i].slice(eq + 1));
        } catch (_) {
          return parts[i].slice(eq + 1);
        }
      }
    }
    return null;
  }

  // --- formatting ------------------------------------------------------------------------------

  var dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
  var dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function formatDate(millis) {
    return dateFormat.format(new Date(millis));
  }

  function keyStatus(key, now) {
    if (key.manually_revoked_at_millis !== undefined && key.manually_revoked_at_millis !== null) {
      return "revoked";
    }
    if (key.expires_at_millis !== undefined && key.expires_at_millis !== null && key.expires_at_millis < now) {
      return "expired";
    }
    return "valid";
  }

  var STATUS_LABEL = { valid: "Active", expired: "Expired", revoked: "Revoked" };

  /** A length of time in words: "1 day", "90 seconds", "250 ms". */
  function formatDuration(millis) {
    var units = [["day", DAY_MS], ["hour", 3600000], ["minute", 60000], ["second", 1000]];
    for (var i = 0; i < units.length; i++) {
      var count = millis / units[i][1];
      if (count >= 1 && Number.isInteger(count)) return count + " " + units[i][0] + (count === 1 ? "" : "s");
    }
    return millis + " ms";
  }

  /** The number with thousands separators. */
  function formatCount(count) {
    return new Intl.NumberFormat().format(count);
  }

  /** The grace periods a rotation offers: the old key keeps working this long. */
  var GRACE_PERIODS = [
    { value: "0", text: "Stop the old key now" },
    { value: String(60 * 60 * 1000), text: "Keep the old key working for 1 hour" },
    { value: String(DAY_MS), text: "Keep the old key working for 1 day", selected: true },
    { value: String(7 * DAY_MS), text: "Keep the old key working for 7 days" },
  ];

  // --- API client -------------------------------------------------------------------------------

  /** An error from keygate (or from reaching it), with a message fit to show to a person. */
  function KeygateError(message, status, code) {
    this.name = "KeygateError";
    this.message = message;
    this.status = status;
    this.code = code;
  }
  KeygateError.prototype = Object.create(Error.prototype);

  var FRIENDLY_ERRORS = {
    USER_AUTHENTICATION_REQUIRED: "You are signed out. Sign in again to manage your API keys.",
    CANNOT_GET_OWN_USER_WITHOUT_USER: "You are signed out. Sign in again to manage your API keys.",
    ACCESS_TOKEN_EXPIRED: "Your session has expired. Sign in again to manage your API keys.",
    UNPARSABLE_ACCESS_TOKEN: "Your session is not valid any more. Sign in again.",
    INVALID_ACCESS_TOKEN: "Your session is not valid any more. Sign in again.",
    INVALID_PROJECT_FOR_ACCESS_TOKEN: "Your session belongs to another project. Sign in again.",
    INVALID_PUBLISHABLE_CLIENT_KEY: "This page is misconfigured: its publishable client key is not valid for the project.",
    CLIENT_AUTHENTICATION_REQUIRED: "This page is misconfigured: it has no publishable client key.",
    ACCESS_TYPE_WITHOUT_PROJECT_ID: "This page is misconfigured: it has no project id.",
    API_KEY_NOT_FOUND: "That key no longer exists, or you may not manage it.",
    TEAM_NOT_FOUND: "That team no longer exists.",
  };

  function Api(config) {
    this.config = config;
  }

  Api.prototype.accessToken = async function () {
    var c = this.config;
    if (typeof c.getAccessToken === "function") {
      var token = await c.getAccessToken();
      return token || null;
    }
    return c.accessToken || readCookie(ACCESS_TOKEN_COOKIE);
  };

  Api.prototype.refreshToken = function () {
    var c = this.config;
    if (c.refreshToken) return c.refreshToken;
    if (typeof c.getAccessToken === "function" || c.accessToken) return null;
    return c.projectId ? readCookie("stack-refresh-" + c.projectId) : null;
  };

  /** Trades the refresh token for a new access token (OAuth refresh grant); true on success. */
  Api.prototype.refresh = async function () {
    var refresh = this.refreshToken();
    if (!refresh) return false;
    var c = this.config;
    var form = new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: refresh,
      client_id: c.projectId,
      client_secret: c.publishableClientKey || "",
    });
    try {
      var response = await fetch(c.baseUrl + "/api/v1/auth/oauth/token", {
        method: "POST",
        body: form,
        credentials: "omit",
        cache: "no-store",
      });
      if (!response.ok) return false;
      var body = await response.json();
      if (!body.access_token) return false;
      if (c.accessToken) {
        c.accessToken = body.access_token;
      } else {
        document.cookie = ACCESS_TOKEN_COOKIE + "=" + encodeURIComponent(body.access_token) +
          "; path=/; samesite=lax" + (window.location.protocol === "https:" ? "; secure" : "");
      }
      return true;
    } catch (_) {
      return false;
    }
  };

  Api.prototype.request = async function (method, path, options, retried) {
    var c = this.config;
    if (!c.projectId) {
      throw new KeygateError(FRIENDLY_ERRORS.ACCESS_TYPE_WITHOUT_PROJECT_ID, 0, "CONFIG");
    }
    var headers = {
      "x-stack-access-type": "client",
      "x-stack-project-id": c.projectId,
    };
    if (c.publishableClientKey) headers["x-stack-publishable-client-key"] = c.publishableClientKey;
    var token = await this.accessToken();
    if (!token) {
      throw new KeygateError(FRIENDLY_ERRORS.USER_AUTHENTICATION_REQUIRED, 401, "NO_ACCESS_TOKEN");
    }
    headers["x-stack-access-token"] = token;
    var init = { method: method, headers: headers, credentials: "omit", cache: "no-store" };
    if (options && options.body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    var url = c.baseUrl + "/api/v1" + path;
    if (options && options.query) url += "?" + new URLSearchParams(options.query).toString();

    var response;
    try {
      response = await fetch(url, init);
    } catch (_) {
      throw new KeygateError(
        "Could not reach keygate at " + c.baseUrl + ". Check your connection; if this page is on " +
          "another site, its origin must be allowed in the project's CORS settings.",
        0,
        "NETWORK"
      );
    }
    var text = await response.text();
    if (response.ok) {
      return text ? JSON.parse(text) : null;
    }
    var code = response.headers.get("x-stack-known-error");
    var message = text;
    try {
      var parsed = JSON.parse(text);
      if (parsed && typeof parsed.code === "string") {
        code = parsed.code;
        message = parsed.error || message;
      }
    } catch (_) {
      /* a plain-text error: the text is the message */
    }
    if (code === "ACCESS_TOKEN_EXPIRED" && !retried && (await this.refresh())) {
      return this.request(method, path, options, true);
    }
    if (code && FRIENDLY_ERRORS[code]) message = FRIENDLY_ERRORS[code];
    if (code === "SCHEMA_ERROR") message = "keygate refused the request: " + message.split("\n").slice(1).join(" ").replace(/\s+-\s+/g, " ").trim();
    if (!message) message = "keygate answered " + response.status + ". Try again in a moment.";
    throw new KeygateError(message, response.status, code || null);
  };

  // --- styles ----------------------------------------------------------------------------------

  var CSS = [
    ":host {",
    "  --kg-font: var(--keygate-font, ui-sans-serif, system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif);",
    "  --kg-mono: var(--keygate-font-mono, ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace);",
    "  --kg-text: var(--keygate-color-text, #111827);",
    "  --kg-muted: var(--keygate-color-muted, #6b7280);",
    "  --kg-surface: var(--keygate-color-surface, #ffffff);",
    "  --kg-subtle: var(--keygate-color-subtle, #f9fafb);",
    "  --kg-border: var(--keygate-color-border, #e5e7eb);",
    "  --kg-primary: var(--keygate-color-primary, #4f46e5);",
    "  --kg-primary-hover: var(--keygate-color-primary-hover, #4338ca);",
    "  --kg-on-primary: var(--keygate-color-on-primary, #ffffff);",
    "  --kg-danger: var(--keygate-color-danger, #dc2626);",
    "  --kg-danger-hover: var(--keygate-color-danger-hover, #b91c1c);",
    "  --kg-success: var(--keygate-color-success, #047857);",
    "  --kg-warning: var(--keygate-color-warning, #b45309);",
    "  --kg-focus: var(--keygate-color-focus, #6366f1);",
    "  --kg-radius: var(--keygate-radius, 12px);",
    "  --kg-radius-sm: var(--keygate-radius-small, 8px);",
    "  --kg-shadow: var(--keygate-shadow, 0 1px 2px rgba(16, 24, 40, 0.05), 0 1px 3px rgba(16, 24, 40, 0.06));",
    "  display: block;",
    "  font-family: var(--kg-font);",
    "  font-size: 15px;",
    "  line-height: 1.5;",
    "  color: var(--kg-text);",
    "  -webkit-font-smoothing: antialiased;",
    "}",
    ":host([hidden]) { display: none; }",
    "[hidden] { display: none !important; }",
    "*, *::before, *::after { box-sizing: border-box; }",
    ".stack { display: grid; gap: 24px; }",
    ".card { background: var(--kg-surface); border: 1px solid var(--kg-border); border-radius: var(--kg-radius); box-shadow: var(--kg-shadow); overflow: hidden; }",
    ".card-header { display: flex; flex-wrap: wrap; align-items: flex-start; justify-content: space-between; gap: 16px; padding: 20px 24px; border-bottom: 1px solid var(--kg-border); }",
    ".card-header h2 { margin: 0; font-size: 17px; font-weight: 600; letter-spacing: -0.01em; }",
    ".card-header p { margin: 4px 0 0; color: var(--kg-muted); font-size: 14px; max-width: 52ch; }",
    ".eyebrow { display: block; font-size: 12px; font-weight: 600; letter-spacing: 0.04em; text-transform: uppercase; color: var(--kg-muted); margin-bottom: 2px; }",
    ".card-body { padding: 0; }",
    "button { font: inherit; font-size: 14px; font-weight: 500; border-radius: var(--kg-radius-sm); padding: 8px 14px; min-height: 38px; cursor: pointer; border: 1px solid transparent; transition: background-color .15s, border-color .15s, color .15s, box-shadow .15s; }",
    "button:focus-visible, input:focus-visible, select:focus-visible { outline: 2px solid var(--kg-focus); outline-offset: 2px; }",
    "button:disabled { opacity: .6; cursor: not-allowed; }",
    ".btn-primary { background: var(--kg-primary); color: var(--kg-on-primary); box-shadow: 0 1px 2px rgba(16,24,40,.08); }",
    ".btn-primary:hover:not(:disabled) { background: var(--kg-primary-hover); }",
    ".btn-secondary { background: var(--kg-surface); color: var(--kg-text); border-color: var(--kg-border); }",
    ".btn-secondary:hover:not(:disabled) { background: var(--kg-subtle); }",
    ".btn-danger { background: var(--kg-danger); color: #fff; }",
    ".btn-danger:hover:not(:disabled) { background: var(--kg-danger-hover); }",
    ".btn-ghost { background: transparent; color: var(--kg-text, inherit); border-color: transparent; padding: 6px 10px; min-height: 34px; }",
    ".btn-ghost:hover:not(:disabled) { background: #f3f4f6; border-color: #e5e7eb; }",
    ".btn-ghost-danger { background: transparent; color: var(--kg-danger); border-color: transparent; padding: 6px 10px; min-height: 34px; }",
    ".btn-ghost-danger:hover:not(:disabled) { background: #fef2f2; border-color: #fecaca; }",
    ".btn-icon { display: inline-flex; align-items: center; gap: 6px; }",
    ".btn-link { display: inline-flex; align-items: center; min-height: 38px; padding: 8px 14px; border-radius: var(--kg-radius-sm); background: var(--kg-surface); border: 1px solid var(--kg-border); color: var(--kg-text); font-size: 14px; font-weight: 500; text-decoration: none; }",
    ".btn-link:hover { background: var(--kg-subtle); }",
    ".btn-link:focus-visible { outline: 2px solid var(--kg-focus); outline-offset: 2px; }",
    ".btn-icon svg { width: 16px; height: 16px; flex: none; }",
    "form.create { display: grid; gap: 16px; padding: 20px 24px; background: var(--kg-subtle); border-bottom: 1px solid var(--kg-border); }",
    ".form-title { margin: 0; font-size: 15px; font-weight: 600; }",
    ".fields { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); gap: 16px; }",
    ".field { display: grid; gap: 6px; align-content: start; }",
    ".field label { font-size: 14px; font-weight: 500; }",
    ".hint { font-size: 13px; color: var(--kg-muted); }",
    "input[type=text], input[type=date], select { font: inherit; font-size: 14px; color: var(--kg-text); background: var(--kg-surface); border: 1px solid #d1d5db; border-radius: var(--kg-radius-sm); padding: 8px 12px; min-height: 40px; width: 100%; }",
    "input[aria-invalid=true] { border-color: var(--kg-danger); }",
    ".field-error { font-size: 13px; color: var(--kg-danger); }",
    ".actions { display: flex; flex-wrap: wrap; gap: 8px; justify-content: flex-end; }",
    ".reveal { margin: 20px 24px; padding: 16px; border: 1px solid #fcd34d; background: #fffbeb; border-radius: var(--kg-radius-sm); display: grid; gap: 12px; }",
    ".reveal h3 { margin: 0; font-size: 15px; font-weight: 600; }",
    ".reveal h3:focus { outline: none; }",
    ".warning { display: flex; gap: 8px; margin: 0; font-size: 14px; color: #92400e; }",
    ".warning svg { width: 18px; height: 18px; flex: none; margin-top: 2px; }",
    ".secret-row { display: flex; gap: 8px; align-items: stretch; }",
    ".secret { flex: 1; min-width: 0; font-family: var(--kg-mono); font-size: 13px; padding: 9px 12px; border: 1px solid #e5e7eb; background: var(--kg-surface); border-radius: var(--kg-radius-sm); overflow-wrap: anywhere; word-break: break-all; user-select: all; }",
    "table { width: 100%; border-collapse: collapse; font-size: 14px; }",
    "thead th { text-align: left; font-size: 12px; font-weight: 600; letter-spacing: 0.04em; text-transform: uppercase; color: var(--kg-muted); background: var(--kg-subtle); padding: 10px 24px; border-bottom: 1px solid var(--kg-border); }",
    "tbody td { padding: 14px 24px; border-bottom: 1px solid var(--kg-border); vertical-align: middle; }",
    "tbody tr:last-child td { border-bottom: 0; }",
    "tbody tr.is-inactive td.description, tbody tr.is-inactive td.key { color: var(--kg-muted); }",
    "td.description { font-weight: 500; overflow-wrap: anywhere; min-width: 180px; }",
    "td.key code { font-family: var(--kg-mono); font-size: 13px; background: var(--kg-subtle); border: 1px solid var(--kg-border); padding: 2px 6px; border-radius: 6px; white-space: nowrap; }",
    "td.actions-cell { text-align: right; width: 1%; white-space: nowrap; }",
    ".date { white-space: nowrap; }",
    ".policy { display: flex; flex-wrap: wrap; gap: 4px 8px; margin-top: 4px; font-size: 12px; color: var(--kg-muted); }",
    ".scope { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; background: #eef2ff; color: #3730a3; border-radius: 4px; padding: 0 6px; }",
    "fieldset.scopes { border: 0; padding: 0; margin: 0; display: grid; gap: 6px; }",
    "fieldset.scopes legend { font-weight: 600; margin-bottom: 4px; }",
    ".scope-option { display: flex; gap: 8px; align-items: baseline; font-weight: 400; }",
    ".badge { display: inline-flex; align-items: center; gap: 6px; font-size: 12px; font-weight: 600; padding: 2px 10px; border-radius: 999px; white-space: nowrap; }",
    ".badge::before { content: ''; width: 6px; height: 6px; border-radius: 50%; background: currentColor; }",
    ".badge-valid { background: #ecfdf5; color: var(--kg-success); }",
    ".badge-expired { background: #fffbeb; color: var(--kg-warning); }",
    ".badge-revoked { background: #f3f4f6; color: #4b5563; }",
    ".empty { padding: 40px 24px; text-align: center; color: var(--kg-muted); }",
    ".empty svg { width: 40px; height: 40px; color: #9ca3af; margin-bottom: 8px; }",
    ".empty h3 { margin: 0 0 4px; color: var(--kg-text); font-size: 15px; font-weight: 600; }",
    ".empty p { margin: 0 auto; max-width: 44ch; font-size: 14px; }",
    ".skeleton { padding: 8px 24px 16px; }",
    ".skeleton-row { height: 18px; margin: 14px 0; border-radius: 6px; background: linear-gradient(90deg, #f3f4f6 25%, #e9eaee 37%, #f3f4f6 63%); background-size: 400% 100%; animation: kg-shimmer 1.4s ease infinite; }",
    ".skeleton-row:nth-child(2) { width: 85%; } .skeleton-row:nth-child(3) { width: 70%; }",
    "@keyframes kg-shimmer { 0% { background-position: 100% 50%; } 100% { background-position: 0 50%; } }",
    "@media (prefers-reduced-motion: reduce) { .skeleton-row { animation: none; } button { transition: none; } }",
    ".alert { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 12px; margin: 16px 24px; padding: 12px 14px; border-radius: var(--kg-radius-sm); background: #fef2f2; border: 1px solid #fecaca; color: #991b1b; font-size: 14px; }",
    ".status { padding: 0 24px; font-size: 14px; color: var(--kg-success); }",
    ".status:not(:empty) { padding: 12px 24px; border-bottom: 1px solid var(--kg-border); background: #f0fdf4; }",
    ".visually-hidden { position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }",
    "dialog { border: 0; padding: 0; border-radius: var(--kg-radius); box-shadow: 0 20px 50px rgba(16, 24, 40, 0.25); max-width: min(440px, calc(100vw - 32px)); color: var(--kg-text); font-family: var(--kg-font); }",
    "dialog::backdrop { background: rgba(17, 24, 39, 0.45); }",
    ".dialog-body { padding: 24px; display: grid; gap: 12px; }",
    ".dialog-body h3 { margin: 0; font-size: 17px; font-weight: 600; overflow-wrap: anywhere; }",
    ".dialog-body p { margin: 0; color: var(--kg-muted); font-size: 14px; }",
    ".dialog-actions { display: flex; justify-content: flex-end; gap: 8px; padding: 16px 24px; background: var(--kg-subtle); border-top: 1px solid var(--kg-border); }",
    ".team-list { display: grid; gap: 24px; }",
    "@media (max-width: 640px) {",
    "  .card-header { padding: 16px; }",
    "  .card-header .btn-primary { width: 100%; justify-content: center; }",
    "  form.create { padding: 16px; }",
    "  .fields { grid-template-columns: 1fr; }",
    "  .actions button { flex: 1; }",
    "  .reveal { margin: 16px; }",
    "  .secret-row { flex-direction: column; }",
    "  thead { display: none; }",
    "  table, tbody, tr, td { display: block; width: 100%; }",
    "  tbody tr { padding: 14px 16px; border-bottom: 1px solid var(--kg-border); display: grid; grid-template-columns: auto 1fr; gap: 6px 12px; }",
    "  tbody tr:last-child { border-bottom: 0; }",
    "  tbody td { padding: 0; border: 0; display: contents; }",
    "  tbody td::before { content: attr(data-label); font-size: 12px; font-weight: 600; color: var(--kg-muted); text-transform: uppercase; letter-spacing: 0.04em; align-self: center; }",
    "  tbody td.description::before, tbody td.actions-cell::before { content: none; }",
    "  tbody td.description > span { grid-column: 1 / -1; font-size: 15px; }",
    "  tbody td > * { justify-self: start; }",
    "  td.actions-cell { width: auto; }",
    "  td.actions-cell > button { grid-column: 1 / -1; justify-self: stretch; margin-top: 6px; border-color: #fecaca; }",
    "  .alert, .status:not(:empty) { margin: 12px 16px; }",
    "  .empty { padding: 32px 16px; }",
    "}",
  ].join("\n");

  var sharedSheet = null;
  function adoptStyles(root) {
    if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function") {
      try {
        if (!sharedSheet) {
          sharedSheet = new CSSStyleSheet();
          sharedSheet.replaceSync(CSS);
        }
        root.adoptedStyleSheets = [sharedSheet];
        return;
      } catch (_) {
        /* fall back to a <style> element */
      }
    }
    root.appendChild(h("style", { text: CSS }));
  }

  // --- icons (inline SVG, decorative) -----------------------------------------------------------

  var SVG_NS = "http://www.w3.org/2000/svg";
  function icon(paths) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("fill", "none");
    svg.setAttribute("stroke", "currentColor");
    svg.setAttribute("stroke-width", "1.8");
    svg.setAttribute("stroke-linecap", "round");
    svg.setAttribute("stroke-linejoin", "round");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    paths.forEach(function (d) {
      var p = document.createElementNS(SVG_NS, "path");
      p.setAttribute("d", d);
      svg.appendChild(p);
    });
    return svg;
  }
  var ICON_KEY = ["M15.5 7.5a3.5 3.5 0 1 1-3.2 4.9L6 18.7V21H3.5v-2.5l6.3-6.3A3.5 3.5 0 0 1 15.5 7.5z", "M16 10.5h.01"];
  var ICON_PLUS = ["M12 5v14", "M5 12h14"];
  var ICON_COPY = ["M9 9h10v10H9z", "M5 15V5h10"];
  var ICON_CHECK = ["M5 12.5l4.5 4.5L19 7.5"];
  var ICON_WARNING = ["M12 3l9.5 17h-19z", "M12 10v4", "M12 17.5h.01"];

  // --- configuration -----------------------------------------------------------------------------

  var CONFIG_ATTRIBUTES = ["base-url", "project-id", "publishable-client-key", "access-token", "sign-in-url"];

  /** Errors that only signing in again can cure. */
  var SESSION_ERRORS = {
    NO_ACCESS_TOKEN: true,
    USER_AUTHENTICATION_REQUIRED: true,
    CANNOT_GET_OWN_USER_WITHOUT_USER: true,
    ACCESS_TOKEN_EXPIRED: true,
    UNPARSABLE_ACCESS_TOKEN: true,
    INVALID_ACCESS_TOKEN: true,
    INVALID_PROJECT_FOR_ACCESS_TOKEN: true,
  };

  /** The element's configuration: attributes, then properties, then page-wide defaults. */
  function readConfig(el) {
    var baseUrl = el.getAttribute("base-url") || el.baseUrl || defaults.baseUrl || SCRIPT_ORIGIN;
    return {
      baseUrl: String(baseUrl).replace(/\/+$/, ""),
      projectId: el.getAttribute("project-id") || el.projectId || defaults.projectId || null,
      publishableClientKey:
        el.getAttribute("publishable-client-key") || el.publishableClientKey || defaults.publishableClientKey || null,
      accessToken: el.getAttribute("access-token") || el.accessToken || defaults.accessToken || null,
      refreshToken: el.refreshToken || defaults.refreshToken || null,
      getAccessToken: el.getAccessToken || defaults.getAccessToken || null,
      signInUrl: el.getAttribute("sign-in-url") || el.signInUrl || defaults.signInUrl || null,
    };
  }

  /** An alert for `error`: "Sign in again" (when a sign-in URL is known) for session errors,
   * otherwise "Try again" when `retry` is given. */
  function errorAlert(error, config, retry) {
    var action = null;
    if (SESSION_ERRORS[error.code] && config.signInUrl) {
      action = h("a", { class: "btn-link", href: config.signInUrl, text: "Sign in again" });
    } else if (retry) {
      action = h("button", { type: "button", class: "btn-secondary", onclick: retry }, "Try again");
    }
    return h("div", { class: "alert", role: "alert" }, h("span", { text: error.message }), action);
  }

  // --- one list of keys (a user's or a team's) --------------------------------------------------

  /**
   * Renders and manages the keys of one owner inside `container`.
   * owner: { type: "user" } or { type: "team", teamId, teamName }.
   */
  function KeyManager(api, owner, container, host) {
    this.api = api;
    this.owner = owner;
    this.host = host;
    this.keys = null;
    this.loading = true;
    this.error = null;
    this.formOpen = false;
    this.busy = false;
    this.ids = {
      heading: uid("heading"),
      description: uid("description"),
      descriptionHint: uid("description-hint"),
      descriptionError: uid("description-error"),
      expiry: uid("expiry"),
      customDate: uid("custom-date"),
      revealHeading: uid("reveal-heading"),
      dialogTitle: uid("dialog-title"),
      dialogText: uid("dialog-text"),
      grace: uid("grace"),
    };
    // The project's scope catalogue ([{id, description}]), read with the first list.
    this.catalogue = null;
    this.build(container);
  }

  KeyManager.prototype.keysPath = function () {
    return this.owner.type === "user" ? "/user-api-keys" : "/team-api-keys";
  };

  KeyManager.prototype.ownerQuery = function () {
    return this.owner.type === "user" ? { user_id: "me" } : { team_id: this.owner.teamId };
  };

  KeyManager.prototype.build = function (container) {
    var self = this;
    var isTeam = this.owner.type === "team";
    this.createButton = h(
      "button",
      { type: "button", class: "btn-primary btn-icon", "aria-expanded": "false", onclick: function () { self.openForm(); } },
      icon(ICON_PLUS),
      "Create API key"
    );
    var header = h(
      "div",
      { class: "card-header" },
      h(
        "div",
        null,
        isTeam ? h("span", { class: "eyebrow", text: "Team" }) : null,
        h("h2", { id: this.ids.heading, text: isTeam ? "API keys for " + (this.owner.teamName || "this team") : "Your API keys" }),
        h("p", {
          text: isTeam
            ? "Keys that act on behalf of the team. Anyone holding one can call your backend as the team."
            : "Keys let scripts and other programs call the backend as you. Keep them as secret as a password.",
        })
      ),
      this.createButton
    );
    this.status = h("div", { class: "status", role: "status", "aria-live": "polite" });
    this.formSlot = h("div");
    this.revealSlot = h("div");
    this.listSlot = h("div", { class: "card-body" });
    this.dialog = this.buildDialog();
    this.card = h(
      "section",
      { class: "card", "aria-labelledby": this.ids.heading },
      header,
      this.status,
      this.formSlot,
      this.revealSlot,
      this.listSlot,
      this.dialog
    );
    container.appendChild(this.card);
  };

  KeyManager.prototype.announce = function (message) {
    this.status.textContent = "";
    var status = this.status;
    // A fresh text node after a tick, so screen readers announce repeated messages too.
    setTimeout(function () { status.textContent = message; }, 30);
  };

  KeyManager.prototype.load = async function () {
    this.loading = true;
    this.error = null;
    this.renderList();
    try {
      var body = await this.api.request("GET", this.keysPath(), { query: this.ownerQuery() });
      this.keys = body.items || [];
      this.error = null;
    } catch (error) {
      this.error = error;
    }
    if (this.catalogue === null) {
      try {
        var scopes = await this.api.request("GET", "/api-key-scopes", {});
        this.catalogue = scopes.items || [];
      } catch (_) {
        // A keygate without the route, or a network hiccup: keys are created without scopes.
        this.catalogue = null;
      }
    }
    this.loading = false;
    this.renderList();
  };

  KeyManager.prototype.renderList = function () {
    var self = this;
    var slot = this.listSlot;
    slot.textContent = "";
    slot.setAttribute("aria-busy", this.loading ? "true" : "false");
    if (this.loading && !this.keys) {
      slot.appendChild(
        h(
          "div",
          { class: "skeleton" },
          h("span", { class: "visually-hidden", text: "Loading API keys…" }),
          h("div", { class: "skeleton-row", "aria-hidden": "true" }),
          h("div", { class: "skeleton-row", "aria-hidden": "true" }),
          h("div", { class: "skeleton-row", "aria-hidden": "true" })
        )
      );
      return;
    }
    if (this.error) {
      slot.appendChild(errorAlert(this.error, this.api.config, function () { self.load(); }));
      if (!this.keys) return;
    }
    var keys = this.keys || [];
    if (keys.length === 0) {
      slot.appendChild(
        h(
          "div",
          { class: "empty" },
          icon(ICON_KEY),
          h("h3", { text: "No API keys yet" }),
          h("p", {
            text: this.owner.type === "team"
              ? "Create a key to let the team's scripts and services call the backend."
              : "Create a key to let your scripts and other programs call the backend on your behalf.",
          })
        )
      );
      return;
    }
    var now = Date.now();
    var rows = keys.map(function (key) { return self.renderRow(key, now); });
    slot.appendChild(
      h(
        "table",
        { "aria-labelledby": this.ids.heading },
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            h("th", { scope: "col", text: "Description" }),
            h("th", { scope: "col", text: "Key" }),
            h("th", { scope: "col", text: "Created" }),
            h("th", { scope: "col", text: "Expires" }),
            h("th", { scope: "col", text: "Status" }),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden", text: "Actions" }))
          )
        ),
        h("tbody", null, rows)
      )
    );
  };

  KeyManager.prototype.renderRow = function (key, now) {
    var self = this;
    var status = keyStatus(key, now);
    var description = key.description || "Untitled key";
    var lastFour = key.value && key.value.last_four ? key.value.last_four : "????";
    var expires = key.expires_at_millis === undefined || key.expires_at_millis === null
      ? h("span", { class: "date", text: "Never" })
      : h("time", {
          class: "date",
          datetime: new Date(key.expires_at_millis).toISOString(),
          title: dateTimeFormat.format(new Date(key.expires_at_millis)),
          text: formatDate(key.expires_at_millis),
        });
    var revokeCell = h("td", { class: "actions-cell", "data-label": "" });
    if (status === "valid") {
      revokeCell.appendChild(
        h(
          "button",
          {
            type: "button",
            class: "btn-ghost",
            "data-action": "rotate",
            "aria-label": "Rotate " + description + " (ending in " + lastFour + ")",
            onclick: function (event) { self.confirmRotate(key, event.currentTarget); },
          },
          "Rotate"
        )
      );
    }
    if (status !== "revoked") {
      revokeCell.appendChild(
        h(
          "button",
          {
            type: "button",
            class: "btn-ghost-danger",
            "data-action": "revoke",
            "aria-label": "Revoke " + description + " (ending in " + lastFour + ")",
            onclick: function (event) { self.confirmRevoke(key, event.currentTarget); },
          },
          "Revoke"
        )
      );
    }
    return h(
      "tr",
      { "data-key-id": key.id, "data-status": status, class: status === "valid" ? "" : "is-inactive" },
      h("td", { class: "description", "data-label": "Description" }, h("span", { text: description }), this.renderPolicy(key)),
      h(
        "td",
        { class: "key", "data-label": "Key" },
        h("code", { "aria-label": "Key ending in " + lastFour.split("").join(" "), text: "••••" + lastFour })
      ),
      h(
        "td",
        { "data-label": "Created" },
        h("time", {
          class: "date",
          datetime: new Date(key.created_at_millis).toISOString(),
          title: dateTimeFormat.format(new Date(key.created_at_millis)),
          text: formatDate(key.created_at_millis),
        })
      ),
      h("td", { "data-label": "Expires" }, expires),
      h("td", { "data-label": "Status" }, h("span", { class: "badge badge-" + status, text: STATUS_LABEL[status] })),
      revokeCell
    );
  };

  /** What a key allows beyond being valid: its scopes, rate limit and usage credits. */
  KeyManager.prototype.renderPolicy = function (key) {
    var parts = [];
    (key.scopes || []).forEach(function (scope) {
      parts.push(h("span", { class: "scope", "data-scope": scope, text: scope }));
    });
    if (key.rate_limit) {
      parts.push(
        h("span", {
          "data-rate-limit": "",
          text: "Up to " + formatCount(key.rate_limit.limit) + " checks per " + formatDuration(key.rate_limit.window_millis),
        })
      );
    }
    if (key.remaining_uses !== undefined && key.remaining_uses !== null) {
      var credits = formatCount(key.remaining_uses) + (key.remaining_uses === 1 ? " use left" : " uses left");
      if (key.refill) {
        credits += " (back to " + formatCount(key.refill.amount) + " every " + formatDuration(key.refill.interval_millis) + ")";
      }
      parts.push(h("span", { "data-remaining-uses": String(key.remaining_uses), text: credits }));
    }
    return parts.length ? h("div", { class: "policy" }, parts) : null;
  };

  // --- create ------------------------------------------------------------------------------------

  KeyManager.prototype.openForm = function () {
    if (this.formOpen) {
      this.descriptionInput.focus();
      return;
    }
    var self = this;
    this.formOpen = true;
    this.createButton.setAttribute("aria-expanded", "true");
    this.createButton.hidden = true;
    this.clearReveal();

    var tomorrow = new Date(Date.now() + DAY_MS).toISOString().slice(0, 10);
    this.descriptionInput = h("input", {
      type: "text",
      id: this.ids.description,
      name: "description",
      required: true,
      maxlength: "200",
      autocomplete: "off",
      placeholder: "e.g. CI deploy script",
      "aria-describedby": this.ids.descriptionHint,
    });
    this.descriptionError = h("div", { id: this.ids.descriptionError, class: "field-error", hidden: true });
    this.expirySelect = h(
      "select",
      { id: this.ids.expiry, name: "expiry", onchange: function () { self.syncCustomDate(); } },
      h("option", { value: "7", text: "7 days" }),
      h("option", { value: "30", text: "30 days" }),
      h("option", { value: "90", selected: true, text: "90 days" }),
      h("option", { value: "365", text: "1 year" }),
      h("option", { value: "custom", text: "Custom date…" }),
      h("option", { value: "never", text: "Never" })
    );
    this.customDateInput = h("input", { type: "date", id: this.ids.customDate, name: "expires_on", min: tomorrow });
    this.customDateField = h(
      "div",
      { class: "field", hidden: true },
      h("label", { for: this.ids.customDate, text: "Expiry date" }),
      this.customDateInput
    );
    this.neverHint = h("div", { class: "hint", hidden: true, text: "A key that never expires stays valid until you revoke it." });
    this.submitButton = h("button", { type: "submit", class: "btn-primary" }, "Create key");
    var form = h(
      "form",
      {
        class: "create",
        novalidate: true,
        "aria-label": "Create an API key",
        onsubmit: function (event) { event.preventDefault(); self.submit(); },
        onkeydown: function (event) {
          if (event.key === "Escape") { event.preventDefault(); self.closeForm(true); }
        },
      },
      h("h3", { class: "form-title", text: "New API key" }),
      h(
        "div",
        { class: "fields" },
        h(
          "div",
          { class: "field" },
          h("label", { for: this.ids.description, text: "Description" }),
          this.descriptionInput,
          h("div", { id: this.ids.descriptionHint, class: "hint", text: "A name that tells you where the key is used." }),
          this.descriptionError
        ),
        h(
          "div",
          { class: "field" },
          h("label", { for: this.ids.expiry, text: "Expires" }),
          this.expirySelect,
          this.neverHint
        ),
        this.customDateField,
        this.buildScopeChoice()
      ),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "btn-secondary", onclick: function () { self.closeForm(true); } }, "Cancel"),
        this.submitButton
      )
    );
    this.form = form;
    this.formSlot.appendChild(form);
    this.descriptionInput.focus();
  };

  /** Checkboxes for the project's scopes (none when the project declares none). */
  KeyManager.prototype.buildScopeChoice = function () {
    var self = this;
    this.scopeInputs = [];
    if (!this.catalogue || this.catalogue.length === 0) return null;
    var options = this.catalogue.map(function (scope) {
      var id = uid("scope");
      var input = h("input", { type: "checkbox", id: id, name: "scopes", value: scope.id });
      self.scopeInputs.push(input);
      return h(
        "label",
        { class: "scope-option", for: id },
        input,
        h("span", { class: "scope", text: scope.id }),
        scope.description ? h("span", { class: "hint", text: scope.description }) : null
      );
    });
    return h(
      "fieldset",
      { class: "field scopes" },
      h("legend", { text: "Scopes" }),
      h("div", { class: "hint", text: "What the key may do. A key without scopes is refused wherever one is required; scopes cannot be changed later." }),
      options
    );
  };

  KeyManager.prototype.syncCustomDate = function () {
    var value = this.expirySelect.value;
    this.customDateField.hidden = value !== "custom";
    this.neverHint.hidden = value !== "never";
  };

  KeyManager.prototype.closeForm = function (restoreFocus) {
    this.formOpen = false;
    this.formSlot.textContent = "";
    this.createButton.hidden = false;
    this.createButton.setAttribute("aria-expanded", "false");
    if (restoreFocus) this.createButton.focus();
  };

  KeyManager.prototype.showFieldError = function (message) {
    this.descriptionInput.setAttribute("aria-invalid", "true");
    this.descriptionInput.setAttribute("aria-describedby", this.ids.descriptionHint + " " + this.ids.descriptionError);
    this.descriptionError.textContent = message;
    this.descriptionError.hidden = false;
    this.descriptionInput.focus();
  };

  /** The chosen expiry as epoch millis, null for never, or undefined when the date is invalid. */
  KeyManager.prototype.chosenExpiry = function () {
    var value = this.expirySelect.value;
    if (value === "never") return null;
    if (value === "custom") {
      var date = this.customDateInput.value;
      if (!date) return undefined;
      // The end of the chosen day, in the user's time zone.
      var parts = date.split("-").map(Number);
      var end = new Date(parts[0], parts[1] - 1, parts[2], 23, 59, 59, 999).getTime();
      return end > Date.now() ? end : undefined;
    }
    return Date.now() + Number(value) * DAY_MS;
  };

  KeyManager.prototype.submit = async function () {
    if (this.busy) return;
    var description = this.descriptionInput.value.trim();
    if (!description) {
      this.showFieldError("Enter a description.");
      return;
    }
    var expires = this.chosenExpiry();
    if (expires === undefined) {
      this.customDateInput.setAttribute("aria-invalid", "true");
      this.customDateInput.focus();
      this.announce("Choose an expiry date in the future.");
      return;
    }
    var body = { description: description, expires_at_millis: expires };
    var scopes = (this.scopeInputs || [])
      .filter(function (input) { return input.checked; })
      .map(function (input) { return input.value; });
    if (scopes.length) body.scopes = scopes;
    if (this.owner.type === "user") body.user_id = "me";
    else body.team_id = this.owner.teamId;

    this.busy = true;
    this.submitButton.disabled = true;
    this.submitButton.textContent = "Creating…";
    try {
      var created = await this.api.request("POST", this.keysPath(), { body: body });
      this.closeForm(false);
      this.showReveal(created);
      this.load();
    } catch (error) {
      this.submitButton.disabled = false;
      this.submitButton.textContent = "Create key";
      this.showFieldError(error.message);
    } finally {
      this.busy = false;
    }
  };

  // --- show the new key once -------------------------------------------------------------------

  KeyManager.prototype.clearReveal = function () {
    this.revealSlot.textContent = "";
  };

  KeyManager.prototype.showReveal = function (created) {
    var self = this;
    var secret = h("code", { class: "secret", "data-secret": "", text: created.value });
    var copyLabel = h("span", { text: "Copy" });
    var copyButton = h(
      "button",
      {
        type: "button",
        class: "btn-secondary btn-icon",
        "aria-label": "Copy the new API key",
        onclick: function () { self.copy(created.value, copyButton, copyLabel); },
      },
      icon(ICON_COPY),
      copyLabel
    );
    var heading = h("h3", { id: this.ids.revealHeading, tabindex: "-1", text: "Your new API key: " + (created.description || "Untitled key") });
    var panel = h(
      "div",
      { class: "reveal", role: "region", "aria-labelledby": this.ids.revealHeading },
      heading,
      h(
        "p",
        { class: "warning" },
        icon(ICON_WARNING),
        h("span", {
          text: "Copy this key now and store it somewhere safe. This is the only time it is shown: " +
            "keygate keeps only a fingerprint of it, so it cannot be shown again.",
        })
      ),
      h("div", { class: "secret-row" }, secret, copyButton),
      h(
        "div",
        { class: "actions" },
        h(
          "button",
          {
            type: "button",
            class: "btn-primary",
            onclick: function () {
              self.clearReveal();
              self.createButton.focus();
            },
          },
          "Done, I have stored it"
        )
      )
    );
    this.clearReveal();
    this.revealSlot.appendChild(panel);
    heading.focus();
    this.announce("API key created. Copy it now: it will not be shown again.");
  };

  KeyManager.prototype.copy = async function (value, button, label) {
    var ok = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(value);
        ok = true;
      }
    } catch (_) {
      ok = false;
    }
    if (!ok) {
      // Fallback for pages without the async clipboard (plain http on another host).
      var area = h("textarea", { readonly: true, style: "position:fixed;opacity:0;top:0;left:0" });
      area.value = value;
      this.host.shadowRoot.appendChild(area);
      area.select();
      try {
        ok = document.execCommand("copy");
      } catch (_) {
        ok = false;
      }
      area.remove();
      button.focus();
    }
    if (ok) {
      label.textContent = "Copied";
      button.replaceChild(icon(ICON_CHECK), button.firstChild);
      this.announce("API key copied to the clipboard.");
      setTimeout(function () {
        label.textContent = "Copy";
        button.replaceChild(icon(ICON_COPY), button.firstChild);
      }, 2500);
    } else {
      this.announce("Could not copy automatically. Select the key and copy it by hand.");
    }
  };

  // --- revoke ------------------------------------------------------------------------------------

  KeyManager.prototype.buildDialog = function () {
    var self = this;
    this.dialogTitle = h("h3", { id: this.ids.dialogTitle });
    this.dialogText = h("p", { id: this.ids.dialogText });
    this.dialogError = h("p", { class: "field-error", role: "alert", hidden: true });
    this.dialogCancel = h("button", { type: "button", class: "btn-secondary", onclick: function () { self.dialog.close("cancel"); } }, "Cancel");
    this.dialogConfirm = h(
      "button",
      { type: "button", class: "btn-danger", onclick: function () { if (self.dialogMode === "rotate") self.rotate(); else self.revoke(); } },
      "Revoke key"
    );
    this.graceSelect = h(
      "select",
      { id: this.ids.grace, name: "grace" },
      GRACE_PERIODS.map(function (grace) { return h("option", grace); })
    );
    this.graceField = h(
      "div",
      { class: "field", hidden: true },
      h("label", { for: this.ids.grace, text: "The old key" }),
      this.graceSelect
    );
    var dialog = h(
      "dialog",
      { role: "alertdialog", "aria-modal": "true", "aria-labelledby": this.ids.dialogTitle, "aria-describedby": this.ids.dialogText },
      h("div", { class: "dialog-body" }, this.dialogTitle, this.dialogText, this.graceField, this.dialogError),
      h("div", { class: "dialog-actions" }, this.dialogCancel, this.dialogConfirm)
    );
    dialog.addEventListener("close", function () {
      var done = dialog.returnValue === "revoked" || dialog.returnValue === "rotated";
      if (!done && self.revokeOpener && self.revokeOpener.isConnected) {
        self.revokeOpener.focus();
      }
    });
    return dialog;
  };

  KeyManager.prototype.confirmRotate = function (key, opener) {
    this.dialogMode = "rotate";
    this.pendingRevoke = key;
    this.revokeOpener = opener;
    var description = key.description || "Untitled key";
    var lastFour = key.value && key.value.last_four ? key.value.last_four : "????";
    this.dialogTitle.textContent = "Rotate “" + description + "”?";
    this.dialogText.textContent =
      "A new key with the same settings replaces the key ending in " + lastFour +
      ". It is shown once; update your programs before the old key stops working.";
    this.graceField.hidden = false;
    this.dialogError.hidden = true;
    this.dialogConfirm.disabled = false;
    this.dialogConfirm.className = "btn-primary";
    this.dialogConfirm.textContent = "Rotate key";
    this.dialog.returnValue = "";
    this.dialog.showModal();
    this.graceSelect.focus();
  };

  KeyManager.prototype.rotate = async function () {
    var key = this.pendingRevoke;
    if (!key || this.busy) return;
    this.busy = true;
    this.dialogConfirm.disabled = true;
    this.dialogConfirm.textContent = "Rotating…";
    var query = this.owner.type === "team" ? "?team_id=" + encodeURIComponent(this.owner.teamId) : "";
    var grace = Number(this.graceSelect.value);
    try {
      var created = await this.api.request(
        "POST",
        this.keysPath() + "/" + encodeURIComponent(key.id) + "/rotate" + query,
        { body: { grace_period_millis: grace } }
      );
      this.dialog.close("rotated");
      this.announce("Rotated “" + (key.description || "Untitled key") + "”.");
      this.showReveal(created);
      this.load();
    } catch (error) {
      this.dialogError.textContent = error.message;
      this.dialogError.hidden = false;
      this.dialogConfirm.disabled = false;
      this.dialogConfirm.textContent = "Rotate key";
    } finally {
      this.busy = false;
    }
  };

  KeyManager.prototype.confirmRevoke = function (key, opener) {
    this.dialogMode = "revoke";
    this.graceField.hidden = true;
    this.dialogConfirm.className = "btn-danger";
    this.pendingRevoke = key;
    this.revokeOpener = opener;
    var description = key.description || "Untitled key";
    var lastFour = key.value && key.value.last_four ? key.value.last_four : "????";
    this.dialogTitle.textContent = "Revoke “" + description + "”?";
    this.dialogText.textContent =
      "Programs using the key ending in " + lastFour + " will stop working immediately. This cannot be undone.";
    this.dialogError.hidden = true;
    this.dialogConfirm.disabled = false;
    this.dialogConfirm.textContent = "Revoke key";
    this.dialog.returnValue = "";
    this.dialog.showModal();
    this.dialogCancel.focus();
  };

  KeyManager.prototype.revoke = async function () {
    var key = this.pendingRevoke;
    if (!key || this.busy) return;
    this.busy = true;
    this.dialogConfirm.disabled = true;
    this.dialogConfirm.textContent = "Revoking…";
    var query = this.owner.type === "team" ? "?team_id=" + encodeURIComponent(this.owner.teamId) : "";
    try {
      await this.api.request("PATCH", this.keysPath() + "/" + encodeURIComponent(key.id) + query, { body: { revoked: true } });
      this.dialog.close("revoked");
      this.announce("Revoked “" + (key.description || "Untitled key") + "”.");
      await this.load();
      var heading = this.card.querySelector("h2");
      var next = this.card.querySelector("tbody button[data-action=revoke]");
      (next || this.createButton || heading).focus();
    } catch (error) {
      this.dialogError.textContent = error.message;
      this.dialogError.hidden = false;
      this.dialogConfirm.disabled = false;
      this.dialogConfirm.textContent = "Revoke key";
    } finally {
      this.busy = false;
    }
  };

  // --- the elements ------------------------------------------------------------------------------

  /** Shared behaviour: shadow root, configuration, re-render when configuration changes. */
  class KeygateElement extends HTMLElement {
    static get observedAttributes() {
      return CONFIG_ATTRIBUTES.concat(["team-id", "team-name"]);
    }

    constructor() {
      super();
      this.attachShadow({ mode: "open" });
      adoptStyles(this.shadowRoot);
      this._scheduled = false;
    }

    connectedCallback() {
      this.refresh();
    }

    attributeChangedCallback(_name, oldValue, newValue) {
      if (oldValue !== newValue && this.isConnected) this.refresh();
    }

    /** Re-reads the configuration and reloads; batched so several changes render once. */
    refresh() {
      if (this._scheduled) return;
      this._scheduled = true;
      var self = this;
      Promise.resolve().then(function () {
        self._scheduled = false;
        if (self.isConnected) self.render(new Api(readConfig(self)));
      });
    }

    /** Replaces the shadow content (styles stay adopted). */
    clear() {
      var root = this.shadowRoot;
      Array.prototype.slice.call(root.childNodes).forEach(function (node) {
        if (node.nodeName !== "STYLE") root.removeChild(node);
      });
    }
  }

  ["accessToken", "getAccessToken", "refreshToken", "projectId", "publishableClientKey", "baseUrl", "signInUrl"].forEach(function (name) {
    Object.defineProperty(KeygateElement.prototype, name, {
      get: function () { return this["_" + name]; },
      set: function (value) {
        this["_" + name] = value;
        if (this.isConnected && this.refresh) this.refresh();
      },
      configurable: true,
    });
  });

  /** <keygate-api-keys>: the signed-in user's keys. */
  class KeygateApiKeys extends KeygateElement {
    render(api) {
      this.clear();
      var manager = new KeyManager(api, { type: "user" }, this.shadowRoot, this);
      manager.load();
    }
  }

  /**
   * <keygate-team-api-keys team-id="…">: one team's keys. Without team-id: a section for each
   * team where the user holds $manage_api_keys. Renders nothing (and sets `hidden`) when the
   * project does not allow team keys or the user manages no team.
   */
  class KeygateTeamApiKeys extends KeygateElement {
    async render(api) {
      this.clear();
      var generation = (this._generation = (this._generation || 0) + 1);
      var teamId = this.getAttribute("team-id");
      var container = h("div", { class: "team-list" });
      try {
        var teams = await this.manageableTeams(api, teamId);
        if (generation !== this._generation) return;
        if (teams.length === 0 || !(await this.teamKeysEnabled(api, teams[0].id))) {
          this.hidden = true;
          this.dispatchEvent(new CustomEvent("keygate-empty", { bubbles: true, composed: true }));
          return;
        }
      } catch (error) {
        if (generation !== this._generation) return;
        this.hidden = false;
        var self = this;
        var heading = uid("team-heading");
        this.shadowRoot.appendChild(
          h(
            "section",
            { class: "card", "aria-labelledby": heading },
            h("div", { class: "card-header" }, h("div", null, h("h2", { id: heading, text: "Team API keys" }))),
            errorAlert(error, api.config, function () { self.refresh(); })
          )
        );
        return;
      }
      if (generation !== this._generation) return;
      this.hidden = false;
      this.shadowRoot.appendChild(container);
      var self = this;
      teams.forEach(function (team) {
        var manager = new KeyManager(api, { type: "team", teamId: team.id, teamName: team.display_name }, container, self);
        manager.load();
      });
    }

    /** The teams (id, display_name) where the user may manage keys, optionally only `teamId`. */
    async manageableTeams(api, teamId) {
      var results = await Promise.all([
        api.request("GET", "/teams", { query: { user_id: "me" } }),
        api.request("GET", "/team-permissions", {
          query: { user_id: "me", permission_id: MANAGE_API_KEYS, recursive: "true" },
        }),
      ]);
      var managed = {};
      (results[1].items || []).forEach(function (grant) { managed[grant.team_id] = true; });
      var explicitName = this.getAttribute("team-name");
      return (results[0].items || [])
        .filter(function (team) { return managed[team.id] && (!teamId || team.id === teamId); })
        .map(function (team) {
          return { id: team.id, display_name: teamId && explicitName ? explicitName : team.display_name };
        });
    }

    /** False when the project does not allow team API keys (keygate's 400 plain-text answer). */
    async teamKeysEnabled(api, teamId) {
      try {
        await api.request("GET", "/team-api-keys", { query: { team_id: teamId } });
        return true;
      } catch (error) {
        if (error.status === 400 && error.message === TEAM_KEYS_DISABLED) return false;
        throw error;
      }
    }
  }

  window.customElements.define("keygate-api-keys", KeygateApiKeys);
  window.customElements.define("keygate-team-api-keys", KeygateTeamApiKeys);

  /** Page-wide defaults for every component (used where an element sets nothing itself). */
  window.KeygateComponents = {
    configure: function (options) {
      Object.keys(options || {}).forEach(function (name) { defaults[name] = options[name]; });
      document.querySelectorAll("keygate-api-keys, keygate-team-api-keys").forEach(function (el) { el.refresh(); });
    },
    version: "1",
  };
})();
