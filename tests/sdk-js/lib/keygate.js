// Starts and stops real keygate processes and talks to their operator endpoints.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes, randomUUID } from "node:crypto";

import { realFetch } from "./recorder.js";

const suiteDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The keygate binary: `KEYGATE_BIN`, else `../../target/debug/keygate` from this suite. */
export function keygateBinary() {
  const configured = process.env.KEYGATE_BIN;
  const bin = configured ? path.resolve(configured) : path.resolve(suiteDir, "../../target/debug/keygate");
  if (!existsSync(bin)) {
    throw new Error(
      `keygate binary not found at ${bin}. Build it with \`cargo build -p keygate\` or set KEYGATE_BIN.`,
    );
  }
  return bin;
}

/** Environment variables of this suite that are not keygate settings (keygate would warn). */
const NOT_FOR_KEYGATE = new Set([
  "KEYGATE_BIN",
  "KEYGATE_SDK_DATABASE_URL",
  "KEYGATE_TEST_POSTGRES_URL",
  "KEYGATE_CONFIG",
  "KEYGATE_BIND",
]);

/** keygate processes still running: killed if this test process ends without stopping them. */
const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    for (const child of running) child.kill("SIGKILL");
    process.kill(process.pid, signal);
  });
}

const LISTENING = /listening on (http:\/\/[0-9.]+:\d+)/;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

export class KeygateProcess {
  /**
   * @param {{ name: string, databaseUrl?: string, accessTokenTtlSeconds?: number,
   *   operatorToken?: string, startTimeoutMs?: number }} options
   */
  static async start(options) {
    const bin = keygateBinary();
    const workDir = mkdtempSync(path.join(tmpdir(), `keygate-sdk-${options.name}-`));
    const databaseUrl = options.databaseUrl ?? `sqlite://${path.join(workDir, "k.sqlite3")}`;
    const operatorToken = options.operatorToken ?? `op_${randomBytes(24).toString("hex")}`;
    const env = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!NOT_FOR_KEYGATE.has(k)) env[k] = v;
    }
    Object.assign(env, {
      KEYGATE_DATABASE_URL: databaseUrl,
      KEYGATE_OPERATOR_TOKEN: operatorToken,
      NO_COLOR: "1",
    });
    if (options.accessTokenTtlSeconds != null) {
      env.KEYGATE_AUTH__ACCESS_TOKEN_TTL_SECONDS = String(options.accessTokenTtlSeconds);
    }
    const child = spawn(bin, ["--bind", "127.0.0.1:0"], { cwd: workDir, env, stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    child.on("exit", () => running.delete(child));
    const kg = new KeygateProcess(options.name, child, workDir, databaseUrl, operatorToken);
    await kg.#waitUntilListening(options.startTimeoutMs ?? 90_000);
    return kg;
  }

  constructor(name, child, workDir, databaseUrl, operatorToken) {
    this.name = name;
    this.child = child;
    this.workDir = workDir;
    this.databaseUrl = databaseUrl;
    this.operatorToken = operatorToken;
    /** @type {string[]} */
    this.output = [];
    this.url = null;
    this.exit = null;
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    const onData = (chunk) => {
      for (const line of chunk.toString("utf8").split(/\r?\n/)) {
        if (line.trim() === "") continue;
        this.output.push(line.replace(ANSI, ""));
        if (this.output.length > 400) this.output.splice(0, this.output.length - 400);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
  }

  async #waitUntilListening(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const line of this.output) {
        const m = LISTENING.exec(line);
        if (m) {
          this.url = m[1];
          return;
        }
      }
      if (this.exit) {
        throw new Error(
          `keygate (${this.name}) exited (${JSON.stringify(this.exit)}) before listening:\n${this.tail()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.stop();
    throw new Error(`keygate (${this.name}) printed no "listening on http://..." line within ${timeoutMs} ms:\n${this.tail()}`);
  }

  tail(lines = 40) {
    return this.output.slice(-lines).map((l) => `  [keygate ${this.name}] ${l}`).join("\n");
  }

  async stop() {
    if (this.exit) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  cleanup() {
    rmSync(this.workDir, { recursive: true, force: true });
  }

  /** One request to keygate outside the SDK (operator set-up); throws on an unexpected status. */
  async request(method, urlPath, { headers = {}, body, expectStatus } = {}) {
    const res = await realFetch(this.url + urlPath, {
      method,
      headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // plain-text answer
    }
    if (expectStatus != null && res.status !== expectStatus) {
      throw new Error(
        `${method} ${urlPath} answered ${res.status} (expected ${expectStatus}): ${text}\n` +
          `request headers: ${JSON.stringify(headers)}\nrequest body: ${JSON.stringify(body)}`,
      );
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  /**
   * Creates a project with the operator token (wire contract A3) and a publishable client key
   * plus a secret server key for it.
   */
  async createProject(displayName = `sdk-js ${randomUUID()}`) {
    const project = await this.request("POST", "/api/v1/internal/projects", {
      headers: { authorization: `Bearer ${this.operatorToken}` },
      body: {
        display_name: displayName,
        config: { allow_user_api_keys: true, allow_team_api_keys: true, client_team_creation_enabled: true },
      },
      expectStatus: 201,
    });
    const projectId = project.json?.id;
    if (typeof projectId !== "string") throw new Error(`project create answered no id: ${project.text}`);
    const keys = await this.request("POST", "/api/v1/internal/api-keys", {
      headers: { authorization: `Bearer ${this.operatorToken}`, "x-stack-project-id": projectId },
      body: {
        description: "sdk-js suite",
        expires_at_millis: null,
        has_publishable_client_key: true,
        has_secret_server_key: true,
        has_super_secret_admin_key: false,
      },
      expectStatus: 200,
    });
    const { publishable_client_key: publishableClientKey, secret_server_key: secretServerKey } = keys.json ?? {};
    if (typeof publishableClientKey !== "string" || typeof secretServerKey !== "string") {
      throw new Error(`project credentials answer lacks a key: ${keys.text}`);
    }
    return { projectId, publishableClientKey, secretServerKey, baseUrl: this.url };
  }
}

/** The database to use: `KEYGATE_SDK_DATABASE_URL` (e.g. Postgres) or a fresh SQLite file. */
export function configuredDatabaseUrl() {
  const url = process.env.KEYGATE_SDK_DATABASE_URL;
  return url && url.trim() !== "" ? url.trim() : undefined;
}
