// Upstream's official JS SDK (@stackframe/js, two versions) against a real keygate binary: every
// flow of the seed's API Keys app (../../shared/seed/api-keys-app.txt, issue #7), configured with
// nothing but keygate's base URL, the project id and the project's keys.
//
// One process runs everything, so the keygate servers are started once and the slow part (a real
// access token ageing to within 20 s of its expiry) overlaps with the other flows:
//   * "main": default settings (10-minute access tokens);
//   * "ttl60": KEYGATE_AUTH__ACCESS_TOKEN_TTL_SECONDS=60, whose sessions are created in `before`
//     and used by the refresh flows at the end, once their tokens have ≤ 20 s to live.
// With KEYGATE_SDK_DATABASE_URL set (e.g. a Postgres URL), both servers use that database;
// otherwise each gets a fresh SQLite file.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { KeygateProcess, configuredDatabaseUrl } from "../lib/keygate.js";
import { recorder } from "../lib/recorder.js";
import {
  SDKS,
  accessTokenClaimProblems,
  clientApp,
  decodeJwt,
  keyShape,
  serverApp,
  sleep,
  userWithSession,
} from "../lib/sdk.js";

const DAY = 24 * 60 * 60 * 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The SDK refreshes an access token that has this long or less to live. */
const SDK_REFRESH_MARGIN_MS = 20_000;

recorder.install();

/** @type {KeygateProcess | undefined} */ let main;
/** @type {KeygateProcess | undefined} */ let ttl60;
let mainProject;
let ttl60Project;
/** version → { user, tokens } | Error: sessions on the ttl60 server, created early. */
const refreshSessions = new Map();

before(async () => {
  const databaseUrl = configuredDatabaseUrl();
  main = await KeygateProcess.start({ name: "main", databaseUrl });
  recorder.allowOrigin(main.url);
  mainProject = await main.createProject("sdk-js main");
  // Started after "main" so that, on a shared database, migrations never race.
  ttl60 = await KeygateProcess.start({ name: "ttl60", databaseUrl, accessTokenTtlSeconds: 60 });
  recorder.allowOrigin(ttl60.url);
  ttl60Project = await ttl60.createProject("sdk-js ttl60");
  for (const sdk of SDKS) {
    recorder.reset();
    try {
      refreshSessions.set(sdk.version, await userWithSession(serverApp(sdk, ttl60Project), { displayName: `refresh ${sdk.version}` }));
    } catch (error) {
      const message = `preparing a session on the ttl60 server failed: ${error instanceof Error ? error.message : error}`;
      refreshSessions.set(sdk.version, new Error(`${message}\n\n${recorder.format()}`, { cause: error }));
    }
  }
}, { timeout: 240_000 });

after(async () => {
  for (const kg of [main, ttl60]) {
    if (!kg) continue;
    await kg.stop();
    if (kg.exit && kg.exit.signal !== "SIGTERM" && kg.exit.code !== 0) {
      console.error(`keygate ${kg.name} ended with ${JSON.stringify(kg.exit)}:\n${kg.tail()}`);
    }
    kg.cleanup();
  }
});

/**
 * A test whose failure message carries the HTTP exchanges of the flow (what the SDK sent, what
 * keygate answered) and keygate's last log lines if it died.
 */
function flow(name, fn, { timeout = 90_000 } = {}) {
  test(name, { timeout }, async () => {
    recorder.reset();
    try {
      await fn();
    } catch (error) {
      const notes = [recorder.format()];
      for (const kg of [main, ttl60]) {
        if (kg?.exit) notes.push(`keygate ${kg.name} is not running (${JSON.stringify(kg.exit)}):\n${kg.tail()}`);
      }
      const message = error instanceof Error ? error.message : String(error);
      const wrapped = new Error(`${message}\n\n${notes.join("\n\n")}`, { cause: error });
      throw wrapped;
    }
  });
}

/** The call must be refused by keygate with a 4xx on `method path`. */
async function assertRefused(call, method, path, what) {
  let error;
  try {
    await call();
  } catch (e) {
    error = e;
  }
  assert.ok(error, `${what}: the SDK call succeeded, but keygate should have refused it`);
  const exchange = recorder.last(method, path);
  assert.ok(exchange, `${what}: the SDK threw before sending ${method} ${path}: ${error}`);
  assert.ok(
    exchange.actualStatus >= 400 && exchange.actualStatus < 500,
    `${what}: expected a 4xx from keygate, got ${exchange.actualStatus}`,
  );
}

function assertRecent(date, what) {
  assert.ok(date instanceof Date && !Number.isNaN(date.getTime()), `${what} is a valid Date`);
  assert.ok(Math.abs(date.getTime() - Date.now()) < 5 * 60_000, `${what} (${date.toISOString()}) is close to now`);
}

for (const sdk of SDKS) {
  describe(`@stackframe/js@${sdk.version} (sends ${sdk.headerPrefix}* headers)`, () => {
    const server = () => serverApp(sdk, mainProject);
    const client = (tokens) => clientApp(sdk, mainProject, tokens);

    /** A user created on the server, signed in on a client app with a server-created session. */
    async function signedInUser(displayName) {
      const srv = server();
      const { user, tokens } = await userWithSession(srv, { displayName });
      const app = client(tokens);
      const me = await app.getUser({ or: "throw" });
      return { srv, user, tokens, app, me };
    }

    flow("a server-created user's session is handed to a client app (tokenStore: { accessToken, refreshToken })", async () => {
      const srv = server();
      const user = await srv.createUser({ displayName: "Ada Lovelace" });
      assert.match(user.id, UUID);
      assert.equal(user.displayName, "Ada Lovelace");
      const tokens = await (await user.createSession({ expiresInMillis: 60 * 60 * 1000 })).getTokens();
      assert.equal(typeof tokens.accessToken, "string", "session has an access token");
      assert.equal(typeof tokens.refreshToken, "string", "session has a refresh token");

      const claims = decodeJwt(tokens.accessToken);
      assert.deepEqual(accessTokenClaimProblems(claims), [], "the access token carries every claim the SDK requires");
      assert.equal(claims.sub, user.id);
      assert.equal(claims.aud, mainProject.projectId);
      assert.equal(claims.project_id, mainProject.projectId);

      const me = await client(tokens).getUser({ or: "throw" });
      assert.equal(me.id, user.id);
      assert.equal(me.displayName, "Ada Lovelace");
      assert.equal(me.isAnonymous, false);
      assertRecent(me.signedUpAt, "signedUpAt");

      const byId = await srv.getUser(user.id);
      assert.equal(byId?.id, user.id, "serverApp.getUser(id) finds the user");
    });

    flow("the customer's backend identifies the client's user from user.getAuthHeaders() (x-stack-auth)", async () => {
      const { srv, user, me } = await signedInUser("forwarded");
      const authHeaders = await me.getAuthHeaders();
      assert.equal(typeof authHeaders["x-stack-auth"], "string");
      const onServer = await srv.getUser({ tokenStore: { headers: new Headers(authHeaders) }, or: "throw" });
      assert.equal(onServer.id, user.id, "serverApp.getUser({ tokenStore: request }) is the client's user");
      assert.equal(typeof onServer.serverMetadata, "object", "a server user (GET /users/me with server access)");
    });

    flow("a backend request carrying the stack-refresh-<projectId> cookie resolves to the user (cookie token stores)", async () => {
      const srv = server();
      const { user, tokens } = await userWithSession(srv, { displayName: "cookie" });
      const cookie = `stack-refresh-${mainProject.projectId}=${encodeURIComponent(tokens.refreshToken)}`;
      const onServer = await srv.getUser({ tokenStore: { headers: new Headers({ cookie }) }, or: "throw" });
      assert.equal(onServer.id, user.id);
      const refresh = recorder.last("POST", "/api/v1/auth/oauth/token");
      assert.equal(refresh?.status, 200, "the SDK got an access token for the cookie's refresh token");
    });

    flow(`every request carries the ${sdk.headerPrefix}* header family`, async () => {
      const { me } = await signedInUser("headers");
      await me.listApiKeys();
      const apiExchanges = recorder.exchanges.filter((e) => e.path.startsWith("/api/v1/") && !e.path.startsWith("/api/v1/auth/oauth/token"));
      assert.ok(apiExchanges.length >= 4, "the SDK made requests");
      const other = sdk.headerPrefix === "x-stack-" ? "x-hexclave-" : "x-stack-";
      for (const e of apiExchanges) {
        const names = Object.keys(e.requestHeaders);
        assert.ok(names.includes(`${sdk.headerPrefix}access-type`), `${e.method} ${e.path} has ${sdk.headerPrefix}access-type`);
        assert.deepEqual(names.filter((n) => n.startsWith(other)), [], `${e.method} ${e.path} has no ${other}* header`);
        assert.ok(e.actualStatus < 400, `${e.method} ${e.path} succeeded (got ${e.actualStatus})`);
      }
    });

    flow("create a user key with a description and an expiry and read it back (expiresAt exact to the millisecond)", async () => {
      const { srv, user, me } = await signedInUser("creator");
      const expiresAt = new Date(Date.now() + 90 * DAY);
      const created = await me.createApiKey({ description: "My client application", expiresAt });
      assert.equal(typeof created.value, "string", "the first view carries the full secret");
      assert.match(created.value, keyShape("user"));
      assert.equal(created.description, "My client application");
      assert.equal(created.type, "user");
      assert.equal(created.userId, user.id);
      assert.equal(created.expiresAt?.getTime(), expiresAt.getTime(), "expiresAt on create");
      assert.equal(created.manuallyRevokedAt, null);
      assertRecent(created.createdAt, "createdAt");
      assert.equal(created.isValid(), true);
      assert.equal(created.whyInvalid(), null);

      const listed = (await me.listApiKeys()).find((k) => k.id === created.id);
      assert.ok(listed, "the new key is listed");
      assert.equal(listed.description, "My client application");
      assert.equal(listed.expiresAt?.getTime(), expiresAt.getTime(), "expiresAt read back");
      assert.equal(listed.createdAt.getTime(), created.createdAt.getTime());
      assert.deepEqual(listed.value, { lastFour: created.value.slice(-4) }, "a read shows only the last four characters");
      assert.equal(listed.type, "user");
      assert.equal(listed.userId, user.id);
      assert.equal(listed.isValid(), true);

      const serverListed = (await (await srv.getUser(user.id)).listApiKeys()).find((k) => k.id === created.id);
      assert.ok(serverListed, "the server lists the key too");
      assert.equal(serverListed.expiresAt?.getTime(), expiresAt.getTime(), "expiresAt read back on the server");
    });

    flow("list a user's keys", async () => {
      const { me } = await signedInUser("lister");
      assert.deepEqual(await me.listApiKeys(), [], "a new user has no keys");
      const first = await me.createApiKey({ description: "never expires", expiresAt: null });
      await sleep(5);
      const second = await me.createApiKey({ description: "expires", expiresAt: new Date(Date.now() + DAY) });
      const { me: other } = await signedInUser("someone else");
      await other.createApiKey({ description: "not yours", expiresAt: null });

      const keys = await me.listApiKeys();
      assert.deepEqual(keys.map((k) => k.id).sort(), [first.id, second.id].sort(), "exactly this user's two keys");
      const never = keys.find((k) => k.id === first.id);
      assert.equal(never.expiresAt, undefined, "a key without expiry has expiresAt undefined");
      assert.equal(never.whyInvalid(), null);
      for (const k of keys) assert.match(k.value.lastFour, /^[0-9a-f]{4}$/);
      assert.deepEqual(keys.map((k) => k.id), [second.id, first.id], "newest first");
    });

    flow("update a key's description (client, then server)", async () => {
      const { srv, user, me } = await signedInUser("renamer");
      const created = await me.createApiKey({ description: "before", expiresAt: null });
      await created.update({ description: "renamed by the client" });
      let listed = (await me.listApiKeys()).find((k) => k.id === created.id);
      assert.equal(listed.description, "renamed by the client");

      const serverKey = (await (await srv.getUser(user.id)).listApiKeys()).find((k) => k.id === created.id);
      await serverKey.update({ description: "renamed by the server" });
      listed = (await me.listApiKeys()).find((k) => k.id === created.id);
      assert.equal(listed.description, "renamed by the server");
      assert.equal(listed.isValid(), true, "renaming does not revoke");
    });

    flow('revoke a key: isValid() is false and whyInvalid() is "manually-revoked"', async () => {
      const { me } = await signedInUser("revoker");
      const created = await me.createApiKey({ description: "to revoke", expiresAt: new Date(Date.now() + DAY) });
      await created.revoke();
      const listed = (await me.listApiKeys()).find((k) => k.id === created.id);
      assert.ok(listed, "a revoked key stays listed");
      assert.equal(listed.isValid(), false);
      assert.equal(listed.whyInvalid(), "manually-revoked");
      assertRecent(listed.manuallyRevokedAt, "manuallyRevokedAt");
    });

    flow("serverApp.getUser({ apiKey }) returns the owner while the key is valid, null once revoked or expired", async () => {
      const { srv, user, me } = await signedInUser("owner");
      const key = await me.createApiKey({ description: "valid", expiresAt: new Date(Date.now() + DAY) });
      const owner = await srv.getUser({ apiKey: key.value });
      assert.equal(owner?.id, user.id, "a valid key resolves to its owner");
      assert.equal(owner.displayName, "owner");

      await key.revoke();
      assert.equal(await srv.getUser({ apiKey: key.value }), null, "a revoked key resolves to null");

      const shortLived = await me.createApiKey({ description: "short-lived", expiresAt: new Date(Date.now() + 3000) });
      assert.equal((await srv.getUser({ apiKey: shortLived.value }))?.id, user.id, "valid before its expiry");
      await sleep(Math.max(0, shortLived.expiresAt.getTime() - Date.now()) + 300);
      assert.equal(await srv.getUser({ apiKey: shortLived.value }), null, "an expired key resolves to null");
      const expired = (await me.listApiKeys()).find((k) => k.id === shortLived.id);
      assert.equal(expired.whyInvalid(), "expired");

      const bornExpired = await me.createApiKey({ description: "already expired", expiresAt: new Date(Date.now() - 60_000) });
      assert.equal(bornExpired.whyInvalid(), "expired");
      assert.equal(await srv.getUser({ apiKey: bornExpired.value }), null, "a key created already expired resolves to null");

      const valid = await me.createApiKey({ description: "tampered", expiresAt: null });
      const last = valid.value.slice(-1);
      const tampered = valid.value.slice(0, -1) + (last === "0" ? "1" : "0");
      assert.equal(await srv.getUser({ apiKey: tampered }), null, "a tampered key resolves to null");
      assert.equal(await srv.getUser({ apiKey: "not-an-api-key" }), null, "garbage resolves to null");
    });

    flow("revoke a key from the server side", async () => {
      const { srv, user, me } = await signedInUser("server revokes");
      const clientKey = await me.createApiKey({ description: "client-made", expiresAt: null });
      const serverUser = await srv.getUser(user.id);
      const serverKey = (await serverUser.listApiKeys()).find((k) => k.id === clientKey.id);
      assert.ok(serverKey, "the server lists the client's key");
      await serverKey.revoke();
      assert.equal(await srv.getUser({ apiKey: clientKey.value }), null, "revoked by the server");
      const listed = (await me.listApiKeys()).find((k) => k.id === clientKey.id);
      assert.equal(listed.whyInvalid(), "manually-revoked", "the client sees the revocation");

      const expiresAt = new Date(Date.now() + 30 * DAY);
      const provisioned = await serverUser.createApiKey({ description: "Admin-provisioned API key", expiresAt });
      assert.match(provisioned.value, keyShape("user"));
      assert.equal(provisioned.userId, user.id);
      assert.equal(provisioned.expiresAt?.getTime(), expiresAt.getTime());
      assert.equal((await srv.getUser({ apiKey: provisioned.value }))?.id, user.id, "a server-created key resolves to its owner");
      assert.ok((await me.listApiKeys()).some((k) => k.id === provisioned.id), "the client lists the server-created key");
    });

    flow("user.createTeam → team.createApiKey → serverApp.getTeam({ apiKey }) returns the team", async () => {
      const { srv, app, me } = await signedInUser("team creator");
      const team = await me.createTeam({ displayName: "Integrations" });
      assert.match(team.id, UUID);
      assert.equal(team.displayName, "Integrations");

      const myTeam = await me.getTeam(team.id);
      assert.ok(myTeam, "the creator's team list contains the team");
      const expiresAt = new Date(Date.now() + 60 * DAY);
      const teamKey = await myTeam.createApiKey({ description: "Team integration service", expiresAt });
      assert.equal(typeof teamKey.value, "string");
      assert.match(teamKey.value, keyShape("team"));
      assert.equal(teamKey.type, "team");
      assert.equal(teamKey.teamId, team.id);
      assert.equal(teamKey.expiresAt?.getTime(), expiresAt.getTime());

      const listed = (await myTeam.listApiKeys()).find((k) => k.id === teamKey.id);
      assert.ok(listed, "team.listApiKeys() lists the key");
      assert.equal(listed.description, "Team integration service");
      assert.equal(listed.expiresAt?.getTime(), expiresAt.getTime());
      assert.deepEqual(listed.value, { lastFour: teamKey.value.slice(-4) });

      const found = await srv.getTeam({ apiKey: teamKey.value });
      assert.equal(found?.id, team.id, "serverApp.getTeam({ apiKey }) returns the team");
      assert.equal(found.displayName, "Integrations");
      assert.equal(await srv.getUser({ apiKey: teamKey.value }), null, "a team key is not a user key");

      const userKey = await me.createApiKey({ description: "user key", expiresAt: null });
      assert.equal(await srv.getTeam({ apiKey: userKey.value }), null, "a user key is not a team key");

      await listed.revoke();
      assert.equal(await srv.getTeam({ apiKey: teamKey.value }), null, "a revoked team key resolves to null");

      const serverTeam = await srv.getTeam(team.id);
      assert.equal(serverTeam?.id, team.id, "serverApp.getTeam(id) finds the team");
      const provisioned = await serverTeam.createApiKey({ description: "Admin-provisioned team API key", expiresAt: new Date(Date.now() + 30 * DAY) });
      assert.equal(provisioned.teamId, team.id);
      assert.equal((await srv.getTeam({ apiKey: provisioned.value }))?.id, team.id, "a server-created team key resolves to the team");

      const meAgain = await app.getUser({ or: "throw" });
      assert.equal(meAgain.selectedTeam?.id, team.id, "createTeam selected the new team (PATCH /users/me selected_team_id)");
    });

    flow("a team member without $manage_api_keys is refused on team.createApiKey and team.listApiKeys", async () => {
      const { srv, me } = await signedInUser("team admin");
      const team = await me.createTeam({ displayName: "Guarded" });
      const { user: member, tokens: memberTokens } = await userWithSession(srv, { displayName: "plain member" });
      const serverTeam = await srv.getTeam(team.id);
      assert.ok(serverTeam, "serverApp.getTeam(id) finds the team");
      await serverTeam.addUser(member.id);

      const memberMe = await client(memberTokens).getUser({ or: "throw" });
      const memberTeam = await memberMe.getTeam(team.id);
      assert.ok(memberTeam, "the member's team list contains the team");
      await assertRefused(
        () => memberTeam.createApiKey({ description: "not allowed", expiresAt: null }),
        "POST",
        "/api/v1/team-api-keys",
        "team.createApiKey by a plain member",
      );
      await assertRefused(() => memberTeam.listApiKeys(), "GET", "/api/v1/team-api-keys", "team.listApiKeys by a plain member");

      const myTeam = await me.getTeam(team.id);
      assert.ok(Array.isArray(await myTeam.listApiKeys()), "the creator (team_admin) may list");

      const serverMember = await srv.getUser(member.id);
      await serverMember.grantPermission(serverTeam, "$manage_api_keys");
      const granted = await memberTeam.createApiKey({ description: "allowed now", expiresAt: null });
      assert.equal(granted.teamId, team.id, "with $manage_api_keys granted the member may create team keys");
    });

    flow("an unknown refresh token leaves the client signed out (REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED)", async () => {
      const app = client({ accessToken: null, refreshToken: "not-a-refresh-token-keygate-issued" });
      assert.equal(await app.getUser(), null);
      const exchange = recorder.last("POST", "/api/v1/auth/oauth/token");
      assert.ok(exchange, "the SDK tried to refresh");
      assert.equal(exchange.actualStatus, 401);
      assert.equal(exchange.responseHeaders["x-stack-known-error"], "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    });
  });
}

describe("access tokens close to expiry (server with KEYGATE_AUTH__ACCESS_TOKEN_TTL_SECONDS=60)", () => {
  for (const sdk of SDKS) {
    flow(`@stackframe/js@${sdk.version}: a token with ≤ 20 s left is refreshed through POST /api/v1/auth/oauth/token and the flow continues`, async () => {
      let prepared = refreshSessions.get(sdk.version);
      if (prepared instanceof Error) throw prepared;
      assert.ok(prepared, "a session was prepared");
      // If the flows before took so long that the prepared token is (nearly) dead, start afresh.
      if (decodeJwt(prepared.tokens.accessToken).exp * 1000 - Date.now() < 3000) {
        prepared = await userWithSession(serverApp(sdk, ttl60Project), { displayName: `refresh ${sdk.version}` });
      }
      const { user, tokens } = prepared;
      const old = decodeJwt(tokens.accessToken);
      assert.ok(old.exp - old.iat <= 61, `the ttl60 server issues 60-second tokens (exp - iat = ${old.exp - old.iat})`);
      const expMs = old.exp * 1000;
      const wait = expMs - SDK_REFRESH_MARGIN_MS + 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      const left = expMs - Date.now();
      assert.ok(left > 0 && left < SDK_REFRESH_MARGIN_MS, `the token is close to expiry but still valid (${left} ms left)`);

      recorder.reset();
      const app = clientApp(sdk, ttl60Project, tokens);
      const me = await app.getUser({ or: "throw" });
      assert.equal(me.id, user.id);

      const refreshes = recorder.matching("POST", "/api/v1/auth/oauth/token");
      assert.ok(refreshes.length >= 1, "the SDK refreshed the token");
      const refresh = refreshes[0];
      assert.equal(refresh.status, 200, "the token endpoint answers exactly 200");
      const form = new URLSearchParams(refresh.requestBody ?? "");
      assert.equal(form.get("grant_type"), "refresh_token");
      assert.equal(form.get("refresh_token"), tokens.refreshToken);
      assert.equal(form.get("client_id"), ttl60Project.projectId);
      const fresh = JSON.parse(refresh.responseBody).access_token;
      assert.notEqual(fresh, tokens.accessToken, "a new access token");
      assert.deepEqual(accessTokenClaimProblems(decodeJwt(fresh)), [], "the refreshed token carries every claim the SDK requires");
      assert.equal(decodeJwt(fresh).sub, user.id);
      assert.ok(decodeJwt(fresh).exp * 1000 - Date.now() > SDK_REFRESH_MARGIN_MS, "the refreshed token lives longer than the SDK's margin");

      const meRequest = recorder.last("GET", "/api/v1/users/me");
      assert.equal(meRequest.requestHeaders[`${sdk.headerPrefix}access-token`], fresh, "users/me was sent with the refreshed token");
      assert.ok(recorder.exchanges.indexOf(refresh) < recorder.exchanges.indexOf(meRequest), "refreshed before the request");

      const key = await me.createApiKey({ description: "after refresh", expiresAt: null });
      assert.ok((await me.listApiKeys()).some((k) => k.id === key.id), "the client keeps working");
      assert.equal((await serverApp(sdk, ttl60Project).getUser({ apiKey: key.value }))?.id, user.id, "the key resolves to its owner");
    }, { timeout: 150_000 });
  }
});
