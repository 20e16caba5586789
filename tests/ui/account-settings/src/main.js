// A customer's page as upstream's docs write it: `StackClientApp` with the cookie token store,
// `StackProvider`, `StackTheme` and `<AccountSettings fullPage />`, pointed at keygate. Only the
// base URL and the project's id and publishable client key differ from upstream's example; the
// browser tests pass them in the query string (kept for reloads in sessionStorage).
//
// What the tests read back: `window.keygateTest.errors` (uncaught errors and rejections, and
// what the error boundary caught) and `window.keygateTest.alerts` (the SDK shows some failures
// with `alert()`, which would block a real user's page).
import React, { Component, Suspense } from "react";
import { createRoot } from "react-dom/client";
import { AccountSettings, StackClientApp, StackProvider, StackTheme } from "@stackframe/react";

const h = React.createElement;

window.keygateTest = { errors: [], alerts: [] };
window.addEventListener("error", (event) => window.keygateTest.errors.push(String(event.message)));
window.addEventListener("unhandledrejection", (event) =>
  window.keygateTest.errors.push(String(event.reason && (event.reason.stack || event.reason))),
);
window.alert = (message) => window.keygateTest.alerts.push(String(message));

function configuration() {
  const query = new URLSearchParams(window.location.search);
  if (query.get("base_url")) {
    const fromQuery = {
      baseUrl: query.get("base_url"),
      projectId: query.get("project_id"),
      publishableClientKey: query.get("publishable_client_key"),
    };
    sessionStorage.setItem("keygate-test-configuration", JSON.stringify(fromQuery));
    return fromQuery;
  }
  return JSON.parse(sessionStorage.getItem("keygate-test-configuration") || "null");
}

class CrashReport extends Component {
  constructor(props) {
    super(props);
    this.state = { error: null };
  }
  static getDerivedStateFromError(error) {
    return { error };
  }
  componentDidCatch(error) {
    window.keygateTest.errors.push(String(error && (error.stack || error)));
  }
  render() {
    if (this.state.error) {
      return h("pre", { id: "crash" }, String(this.state.error));
    }
    return this.props.children;
  }
}

const settings = configuration();
const root = createRoot(document.getElementById("root"));
if (!settings) {
  root.render(h("p", { id: "unconfigured" }, "Open this page with base_url, project_id and publishable_client_key."));
} else {
  const app = new StackClientApp({
    ...settings,
    tokenStore: "cookie",
    redirectMethod: "window",
  });
  window.keygateTest.app = app;
  root.render(
    h(
      CrashReport,
      null,
      h(
        StackProvider,
        { app },
        h(StackTheme, null, h(Suspense, { fallback: h("p", { id: "loading" }, "Loading…") }, h(AccountSettings, { fullPage: true }))),
      ),
    ),
  );
}
