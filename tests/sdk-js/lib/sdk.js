// The two SDK versions under test and small helpers around them.
import * as stack102 from "stack-js-2-8-102";
import * as stack108 from "stack-js-2-8-108";

/**
 * 2.8.102 is the last version that sends `x-stack-*` request headers; 2.8.108 (the newest 2.8.x)
 * sends `x-hexclave-*`. keygate must accept both (wire contract A6).
 */
export const SDKS = [
  { version: "2.8.102", headerPrefix: "x-stack-", module: stack102 },
  { version: "2.8.108", headerPrefix: "x-hexclave-", module: stack108 },
];

/** A server app configured with nothing but keygate's base URL, the project id and its keys. */
export function serverApp(sdk, project) {
  return new sdk.module.StackServerApp({
    baseUrl: project.baseUrl,
    projectId: project.projectId,
    publishableClientKey: project.publishableClientKey,
    secretServerKey: project.secretServerKey,
    tokenStore: null,
  });
}

/**
 * A client app for a user whose session the customer's server created (`user.createSession()`),
 * handed over as `tokenStore: { accessToken, refreshToken }`.
 */
export function clientApp(sdk, project, tokens) {
  return new sdk.module.StackClientApp({
    baseUrl: project.baseUrl,
    projectId: project.projectId,
    publishableClientKey: project.publishableClientKey,
    tokenStore: { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken },
  });
}

/** Creates a user on the server and a session for it; returns the server user and the tokens. */
export async function userWithSession(server, { displayName, expiresInMillis = 60 * 60 * 1000 } = {}) {
  const user = await server.createUser({ displayName: displayName ?? `sdk user ${Math.random().toString(36).slice(2, 8)}` });
  const session = await user.createSession({ expiresInMillis });
  const tokens = await session.getTokens();
  return { user, tokens };
}

/** The JWT payload, decoded without verification (as the SDK does). */
export function decodeJwt(token) {
  const parts = String(token).split(".");
  if (parts.length !== 3) throw new Error(`not a JWT: ${token}`);
  return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
}

/**
 * Every claim the SDK's `accessTokenPayloadSchema` requires (stack-shared `schema-fields`): a
 * token missing any of them is treated by the SDK as no token at all. Returns a list of problems.
 */
export function accessTokenClaimProblems(payload) {
  const problems = [];
  const expect = (name, ok, what) => {
    if (!ok(payload[name])) problems.push(`${name}: expected ${what}, got ${JSON.stringify(payload[name])}`);
  };
  const str = (v) => typeof v === "string";
  const num = (v) => typeof v === "number" && Number.isFinite(v);
  const bool = (v) => typeof v === "boolean";
  const strOrNull = (v) => v === null || typeof v === "string";
  expect("sub", str, "a string");
  expect("exp", (v) => v === undefined || num(v), "a number (or absent)");
  expect("iat", num, "a number");
  expect("iss", str, "a string");
  expect("aud", str, "a string");
  expect("project_id", str, "a string");
  expect("branch_id", str, "a string");
  expect("refresh_token_id", str, "a string");
  expect("role", (v) => v === "authenticated", '"authenticated"');
  expect("name", strOrNull, "a string or null");
  expect("email", strOrNull, "a string or null");
  expect("email_verified", bool, "a boolean");
  expect("selected_team_id", strOrNull, "a string or null");
  expect("signed_up_at", num, "a number");
  expect("is_anonymous", bool, "a boolean");
  expect("is_restricted", bool, "a boolean");
  expect("restricted_reason", (v) => v === null || (typeof v === "object" && typeof v.type === "string"), "null");
  expect("requires_totp_mfa", bool, "a boolean");
  return problems;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The shape of a user or team API key secret (wire contract A2 / B3). */
export function keyShape(type, { isPublic = false } = {}) {
  const prefix = isPublic ? "pk" : "sk";
  const flag = isPublic ? "3" : "1";
  return new RegExp(`^${prefix}_[a-z0-9]{45}[0-9a-f]{32}${type}${flag}574ck4u7h[0-9a-f]{8}$`);
}
