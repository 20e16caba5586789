"""Drives the seed's own Django, FastAPI and Flask snippets against a real keygate server.

Usage: python run.py [KEYGATE_BINARY]   (default: $KEYGATE_BIN, else target/debug/keygate)

The runner builds nothing. It starts the given binary on a free port with a fresh SQLite file,
sets up a project through the operator token, then, for each framework, calls the seed's views
through that framework's own test client with the `stack-access-token` cookie, as a browser
would: create a user key, list it, check it, revoke it, check it again, and create a team key.
It asserts every step, prints `N passed, N failed` last, and exits non-zero on any failure.
"""

import atexit
import importlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass

import requests

LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
START_TIMEOUT_SECONDS = 60
KEY_LENGTH = 102
DAY_MILLIS = 24 * 60 * 60 * 1000


class SetupError(Exception):
    """The server or the fixtures could not be set up; nothing past it can be tested."""


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, label, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {label}")
        else:
            self.failed += 1
            print(f"FAIL {label}" + (f": {detail}" if detail else ""))
        return ok

    def expect(self, label, actual, expected):
        return self.check(label, actual == expected, f"expected {expected!r}, got {actual!r}")


# --- the keygate server ---------------------------------------------------------------------------


class Server:
    """One keygate process on 127.0.0.1:0 with its own SQLite file; `stop` may be called twice."""

    def __init__(self, binary):
        self.binary = binary
        self.operator_token = f"seed-snippets-{uuid.uuid4().hex}"
        self.output = []
        self.base_url = None
        self.process = None
        self._listening = threading.Event()
        self._tmp = tempfile.TemporaryDirectory(prefix="keygate-seed-")

    def start(self):
        if not os.access(self.binary, os.X_OK):
            raise SetupError(f"no keygate binary at {self.binary} (build it with `cargo build -p keygate`)")
        # The server sees only the settings given here, not KEYGATE_* variables of the caller.
        env = {name: value for name, value in os.environ.items() if not name.startswith("KEYGATE_")}
        env.update(
            KEYGATE_DATABASE_URL=f"sqlite://{self._tmp.name}/keygate.sqlite3",
            KEYGATE_OPERATOR_TOKEN=self.operator_token,
            NO_COLOR="1",
        )
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1:0"],
            cwd=self._tmp.name,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read_output, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._listening.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SetupError(
                    "keygate did not print its listening line; its output:\n" + "".join(self.output)
                )
        return self.base_url

    def _read_output(self):
        for line in self.process.stdout:
            self.output.append(line)
            match = LISTENING.search(line)
            if match and not self._listening.is_set():
                self.base_url = match.group(1)
                self._listening.set()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._tmp.cleanup()


class Keygate:
    """keygate's own API, called directly: the operator's and the project's server calls."""

    def __init__(self, base_url, operator_token):
        self.base_url = base_url
        self.operator_token = operator_token
        self.project_id = None
        self.server_key = None
        self.client_key = None

    def call(self, method, path, headers, json=None):
        return requests.request(method, self.base_url + path, headers=headers, json=json, timeout=10)

    def setup_call(self, method, path, headers, json, status):
        response = self.call(method, path, headers, json)
        if response.status_code != status:
            raise SetupError(
                f"{method} {path} answered {response.status_code} (expected {status}): {response.text}"
            )
        return response.json()

    def create_project(self):
        operator = {"authorization": f"Bearer {self.operator_token}"}
        project = self.setup_call(
            "POST",
            "/api/v1/internal/projects",
            operator,
            {
                "display_name": "seed snippets",
                "config": {"allow_user_api_keys": True, "allow_team_api_keys": True},
            },
            201,
        )
        self.project_id = project["id"]
        credentials = self.setup_call(
            "POST",
            "/api/v1/internal/api-keys",
            {**operator, "x-stack-project-id": self.project_id},
            {
                "description": "seed snippets",
                "expires_at_millis": None,
                "has_publishable_client_key": True,
                "has_secret_server_key": True,
                "has_super_secret_admin_key": False,
            },
            200,
        )
        self.client_key = credentials["publishable_client_key"]
        self.server_key = credentials["secret_server_key"]

    def server_headers(self):
        return {
            "x-stack-access-type": "server",
            "x-stack-project-id": self.project_id,
            "x-stack-secret-server-key": self.server_key,
        }

    def server_call(self, method, path, json):
        return self.call(method, path, self.server_headers(), json)

    def new_user(self, display_name):
        headers = self.server_headers()
        user = self.setup_call("POST", "/api/v1/users", headers, {"display_name": display_name}, 201)
        session = self.setup_call("POST", "/api/v1/auth/sessions", headers, {"user_id": user["id"]}, 200)
        return Person(user["id"], session["access_token"])

    def new_team(self, display_name, creator, member):
        """A team created by `creator` (team_admin, so $manage_api_keys) with `member` as a plain member."""
        headers = self.server_headers()
        team = self.setup_call(
            "POST", "/api/v1/teams", headers, {"display_name": display_name, "creator_user_id": creator.id}, 201
        )
        self.setup_call("POST", f"/api/v1/team-memberships/{team['id']}/{member.id}", headers, {}, 201)
        return team["id"]


@dataclass
class Person:
    id: str
    access_token: str


# --- the seed's apps, each behind its framework's test client ----------------------------------------


@dataclass
class Reply:
    status: int
    body: object  # the JSON the app answered; None when the view raised
    text: str  # the raw answer, or the message of the exception the view raised


def cookie_headers(person):
    return {"Cookie": f"stack-access-token={person.access_token}"} if person else {}


class DjangoApp:
    name = "Django"

    def __init__(self):
        from django.test import Client

        importlib.import_module("django_views")
        self.client = Client(raise_request_exception=True)

    def request(self, method, path, person):
        try:
            response = self.client.generic(method, path, headers=cookie_headers(person))
        except Exception as exc:  # the seed's views raise on any keygate error; Django answers 500
            return Reply(500, None, str(exc))
        return Reply(response.status_code, response.json(), response.content.decode())

    @staticmethod
    def no_cookie_status(path):
        # The seed's Django views have no "not authenticated" branch: they forward the missing
        # token, keygate refuses the call and the view raises, except the validity check, which
        # answers 404 to any failure.
        return 404 if path.startswith("/api/check-api-key/") else 500


class FastAPIApp:
    name = "FastAPI"

    def __init__(self):
        from fastapi.testclient import TestClient

        self.client = TestClient(importlib.import_module("fastapi_main").app)

    def request(self, method, path, person):
        response = self.client.request(method, path, headers=cookie_headers(person))
        return Reply(response.status_code, response.json(), response.text)

    @staticmethod
    def no_cookie_status(path):
        return 401


class FlaskApp:
    name = "Flask"

    def __init__(self):
        # Without its own cookie jar, Werkzeug's client passes the Cookie header on as sent.
        self.client = importlib.import_module("flask_app").app.test_client(use_cookies=False)

    def request(self, method, path, person):
        response = self.client.open(path, method=method, headers=cookie_headers(person))
        return Reply(response.status_code, response.get_json(), response.get_data(as_text=True))

    @staticmethod
    def no_cookie_status(path):
        return 401


def load_apps(keygate):
    """Imports the snippet modules, which read the base URL and the project from the environment."""
    os.environ.update(
        KEYGATE_BASE_URL=keygate.base_url,
        STACK_PROJECT_ID=keygate.project_id,
        STACK_PUBLISHABLE_CLIENT_KEY=keygate.client_key,
    )
    return [DjangoApp(), FastAPIApp(), FlaskApp()]


# --- the flows ------------------------------------------------------------------------------------

CREATE_USER_KEY = "/api/create-user-api-key"
LIST_USER_KEYS = "/api/user-api-keys"


def revoke_path(key_id):
    return f"/api/user-api-keys/{key_id}"


def validity_path(key_id):
    return f"/api/check-api-key/{key_id}"


def team_key_path(team_id):
    return f"/api/teams/{team_id}/api-keys"


def check_new_key(results, label, key, owner_field, owner_id, days):
    value = key.get("value")
    results.check(
        f"{label}: the first view holds the full key",
        isinstance(value, str) and len(value) == KEY_LENGTH and value.startswith("sk_"),
        f"value {value!r}",
    )
    results.expect(f"{label}: {owner_field}", key.get(owner_field), owner_id)
    expires = key.get("expires_at_millis")
    expected = time.time() * 1000 + days * DAY_MILLIS
    results.check(
        f"{label}: expires in {days} days",
        isinstance(expires, int) and abs(expires - expected) < 60_000,
        f"expires_at_millis {expires!r}",
    )
    results.check(f"{label}: not revoked", "manually_revoked_at_millis" not in key, f"key {key!r}")


def user_key_flow(results, keygate, app, owner, team_id):
    name = app.name

    reply = app.request("POST", CREATE_USER_KEY, owner)
    if not results.expect(f"{name}: create user key answers", reply.status, 200):
        print(f"     {reply.text}")
        return
    key = reply.body
    check_new_key(results, f"{name}: created user key", key, "user_id", owner.id, 90)

    reply = app.request("GET", LIST_USER_KEYS, owner)
    results.expect(f"{name}: list answers", reply.status, 200)
    listed = [item for item in (reply.body or {}).get("items", []) if item.get("id") == key["id"]]
    results.expect(f"{name}: list holds the key once", len(listed), 1)
    if listed:
        results.expect(f"{name}: listed value", listed[0].get("value"), {"last_four": key["value"][-4:]})
    results.check(f"{name}: list never shows the full key", key["value"] not in reply.text)

    for method, path in [
        ("POST", CREATE_USER_KEY),
        ("GET", LIST_USER_KEYS),
        ("DELETE", revoke_path(key["id"])),
        ("GET", validity_path(key["id"])),
        ("POST", team_key_path(team_id)),
    ]:
        reply = app.request(method, path, None)
        results.expect(f"{name}: {method} {path} without a cookie", reply.status, app.no_cookie_status(path))

    reply = app.request("GET", validity_path(key["id"]), owner)
    results.expect(f"{name}: check validity answers", reply.status, 200)
    results.expect(f"{name}: the new key is valid", reply.body, {"valid": True})

    response = keygate.server_call("POST", "/api/v1/user-api-keys/check", {"api_key": key["value"]})
    results.expect(f"{name}: server-side check answers", response.status_code, 200)
    if response.status_code == 200:
        results.expect(f"{name}: server-side check names the owner", response.json().get("user_id"), owner.id)
        results.expect(f"{name}: server-side check names the key", response.json().get("id"), key["id"])

    reply = app.request("DELETE", revoke_path(key["id"]), owner)
    results.expect(f"{name}: revoke answers", reply.status, 200)
    results.expect(f"{name}: revoke message", reply.body, {"message": "API key revoked successfully"})

    reply = app.request("GET", validity_path(key["id"]), owner)
    results.expect(f"{name}: check validity after revoke answers", reply.status, 200)
    results.expect(f"{name}: the revoked key is invalid", reply.body, {"valid": False, "reason": "manually-revoked"})

    response = keygate.server_call("POST", "/api/v1/user-api-keys/check", {"api_key": key["value"]})
    results.expect(f"{name}: server-side check after revoke answers", response.status_code, 401)
    results.expect(
        f"{name}: server-side check after revoke says",
        response.headers.get("x-stack-known-error"),
        "API_KEY_REVOKED",
    )


def team_key_flow(results, keygate, app, admin, member, team_id):
    name = app.name

    reply = app.request("POST", team_key_path(team_id), admin)
    if not results.expect(f"{name}: create team key (team admin) answers", reply.status, 200):
        print(f"     {reply.text}")
        return
    key = reply.body
    check_new_key(results, f"{name}: created team key", key, "team_id", team_id, 60)

    response = keygate.server_call("POST", "/api/v1/team-api-keys/check", {"api_key": key["value"]})
    results.expect(f"{name}: server-side team check answers", response.status_code, 200)
    if response.status_code == 200:
        results.expect(f"{name}: server-side team check names the team", response.json().get("team_id"), team_id)
        results.expect(f"{name}: server-side team check names the key", response.json().get("id"), key["id"])

    reply = app.request("POST", team_key_path(team_id), member)
    results.check(
        f"{name}: create team key without $manage_api_keys is refused",
        reply.status != 200 and "API_KEY_NOT_FOUND" in reply.text,
        f"status {reply.status}: {reply.text}",
    )


def run_framework(results, keygate, app):
    owner = keygate.new_user(f"{app.name} owner")
    member = keygate.new_user(f"{app.name} member")
    team_id = keygate.new_team(f"{app.name} team", owner, member)
    for flow, args in [(user_key_flow, (owner, team_id)), (team_key_flow, (owner, member, team_id))]:
        try:
            flow(results, keygate, app, *args)
        except Exception:  # an answer of an unexpected shape ends that flow, not the run
            results.check(f"{app.name}: {flow.__name__} completes", False, traceback.format_exc())


def main():
    binary = os.path.abspath(
        sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KEYGATE_BIN", "target/debug/keygate")
    )
    results = Results()
    server = Server(binary)
    atexit.register(server.stop)
    # A SIGTERM ends the run through `finally` (and atexit), so the server never outlives it.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        keygate = Keygate(server.start(), server.operator_token)
        print(f"keygate at {keygate.base_url} ({binary})")
        keygate.create_project()
        for app in load_apps(keygate):
            run_framework(results, keygate, app)
    except SetupError as exc:
        results.check("setup", False, str(exc))
    except Exception:
        results.check("run completes", False, traceback.format_exc())
    finally:
        server.stop()
    if results.failed and server.output:
        print("--- keygate's output, last 40 lines ---")
        print("".join(server.output[-40:]), end="")
    print(f"{results.passed} passed, {results.failed} failed")
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
