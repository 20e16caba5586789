/*
 * keygate's hosted account-settings page (/handler/account-settings): mounts the components
 * the server rendered into <template id="keygate-account-components">, configured with a
 * getAccessToken that asks this server (POST /handler/access-token, same origin) for the
 * signed-in user's access token. The session's cookies are HttpOnly: this script never sees the
 * refresh token, and the access token only in memory.
 *
 * Load after /ui/keygate-components.js.
 */
(function () {
  "use strict";

  var TOKEN_PATH = "/handler/access-token";
  // Renew this long before the server said the token expires (measured on this clock).
  var RENEW_BEFORE_MS = 30 * 1000;

  var template = document.getElementById("keygate-account-components");
  if (!template || !window.KeygateComponents) return;
  var projectElement = template.content.querySelector("[project-id]");
  var projectId = projectElement ? projectElement.getAttribute("project-id") : "";

  var token = null;
  var renewAt = 0;
  var pending = null;

  async function fetchToken() {
    try {
      var response = await fetch(TOKEN_PATH, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        body: new URLSearchParams({ project_id: projectId }),
      });
      if (!response.ok) return null;
      var body = await response.json();
      if (!body.access_token) return null;
      token = body.access_token;
      renewAt = Date.now() + Math.max(0, body.expires_in_seconds * 1000 - RENEW_BEFORE_MS);
      return token;
    } catch (_) {
      return null;
    }
  }

  /** The access token: the one held while it is fresh, else one fetched (once for everyone). */
  function getAccessToken() {
    if (token && Date.now() < renewAt) return Promise.resolve(token);
    if (!pending) {
      pending = fetchToken().finally(function () {
        pending = null;
      });
    }
    return pending;
  }

  window.KeygateComponents.configure({ getAccessToken: getAccessToken });
  template.replaceWith(template.content.cloneNode(true));
})();
