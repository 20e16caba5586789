//! Runs the real `keygate` binary: a server on `127.0.0.1:0` over a temporary SQLite file, found
//! through the `listening on http://…` line it prints, and killed when the guard drops — also
//! when an assertion fails halfway through a test.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The operator token the servers of these tests accept.
pub const OPERATOR_TOKEN: &str = "e2e-operator-token-0123456789abcdef";

/// How long a server may take to start (migrations included) or to stop.
const PATIENCE: Duration = Duration::from_secs(60);

/// The binary under test.
pub fn keygate_binary() -> &'static str {
    env!("CARGO_BIN_EXE_keygate")
}

/// A `keygate` command with a clean environment: no inherited `KEYGATE_*` variable can change
/// what the test sees, and the working directory is `dir` (so nothing lands in the repository).
pub fn keygate_command(dir: &Path) -> Command {
    let mut command = Command::new(keygate_binary());
    for (name, _) in std::env::vars() {
        if name.starts_with("KEYGATE_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.current_dir(dir);
    command
}

/// The `sqlite://` URL of a database file in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("keygate.sqlite3").display())
}

/// A running server. Dropping it kills the process.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// What the server printed on standard output before it listened (the first-start banner).
    pub startup_output: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `keygate serve` on `127.0.0.1:0` over `database_url`, in `dir`, with the operator
    /// token and the extra environment variables given; waits until it listens.
    pub fn start(dir: &Path, database_url: &str, env: &[(&str, &str)]) -> Server {
        let mut command = keygate_command(dir);
        command
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .env("KEYGATE_OPERATOR_TOKEN", OPERATOR_TOKEN)
            .env("KEYGATE_LOG__LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start the keygate binary");

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let stderr_sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut chunk = [0_u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                stderr_sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });

        // Stdout is read line by line: the lines before `listening on` are the start-up output;
        // everything is kept, and the pipe is drained until the process ends.
        let stdout = Arc::new(Mutex::new(String::new()));
        let stdout_sink = Arc::clone(&stdout);
        let stdout_pipe = child.stdout.take().expect("piped stdout");
        let (listening_tx, listening_rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            for line in BufReader::new(stdout_pipe).lines() {
                let Ok(line) = line else { break };
                {
                    let mut all = stdout_sink.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
                if let Some(address) = line.strip_prefix("listening on ") {
                    let _ = listening_tx.send(address.trim().to_owned());
                }
            }
        });

        let mut server = Server {
            child,
            base_url: String::new(),
            startup_output: String::new(),
            stdout,
            stderr,
        };
        match listening_rx.recv_timeout(PATIENCE) {
            Ok(base_url) => {
                assert!(
                    base_url.starts_with("http://127.0.0.1:") && !base_url.ends_with(":0"),
                    "the listening line names no real port: {base_url}"
                );
                server.base_url = base_url;
                server.startup_output = server.stdout();
            }
            Err(_) => panic!(
                "keygate did not print `listening on …` within {PATIENCE:?}\nstdout:\n{}\nstderr:\n{}",
                server.stdout(),
                server.stderr()
            ),
        }
        server
    }

    /// Everything printed on standard output so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Everything printed on standard error so far (the logs).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. `TERM`, `INT`) with `kill(1)` and waits for the process to exit.
    pub fn stop_with(&mut self, signal: &str) -> ExitStatus {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
        self.wait_for_exit()
    }

    /// Waits for the process to exit (after a signal).
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for keygate") {
                return status;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "keygate did not exit within {PATIENCE:?}\nstderr:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already exited after a signal: nothing to do. Otherwise (a failed assertion) make sure
        // no server outlives the test.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a one-shot `keygate` command in `dir` and returns (status, stdout, stderr).
pub fn run_keygate(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (ExitStatus, String, String) {
    let mut command = keygate_command(dir);
    command.args(args).stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("run the keygate binary");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A fresh temporary directory for one test.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("keygate-e2e-")
        .tempdir()
        .expect("create a temporary directory")
}

/// The path of a file in `dir`.
pub fn file_in(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// A response read whole: status, the known-error header, and the body as JSON (or `Null`).
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// `x-stack-known-error`, if any.
    pub known_error: Option<String>,
    /// The body parsed as JSON, or `Value::Null` when it is not JSON.
    pub json: Value,
    /// The body as text.
    pub text: String,
}

impl Reply {
    /// Reads a blocking reqwest response.
    pub fn read(response: reqwest::blocking::Response) -> Reply {
        let status = response.status().as_u16();
        let known_error = response
            .headers()
            .get("x-stack-known-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().expect("read the response body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            known_error,
            json,
            text,
        }
    }

    /// Asserts `status` and returns the JSON body.
    #[track_caller]
    pub fn ok(self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        self.json
    }

    /// Asserts a known error: status, header, and the same code in the body.
    #[track_caller]
    pub fn known(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.known_error.as_deref()),
            (status, Some(code)),
            "body: {}",
            self.text
        );
        assert_eq!(self.json["code"], code, "body: {}", self.text);
    }
}

/// The access headers of a project: `(access type, project id, key header, key)`.
#[derive(Debug, Clone)]
pub struct ProjectKeys {
    /// The project id.
    pub project_id: String,
    /// The publishable client key.
    pub client: String,
    /// The secret server key.
    pub server: String,
    /// The super secret admin key.
    pub admin: String,
}

impl ProjectKeys {
    /// Reads the keys of a credential JSON (`publishable_client_key`, …).
    pub fn from_credential(project_id: &str, credential: &Value) -> ProjectKeys {
        let key = |name: &str| {
            credential[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {credential}"))
                .to_owned()
        };
        ProjectKeys {
            project_id: project_id.to_owned(),
            client: key("publishable_client_key"),
            server: key("secret_server_key"),
            admin: key("super_secret_admin_key"),
        }
    }

    /// `request` with client access.
    pub fn client(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        request
            .header("x-stack-access-type", "client")
            .header("x-stack-project-id", &self.project_id)
            .header("x-stack-publishable-client-key", &self.client)
    }

    /// `request` with server access.
    pub fn server(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        request
            .header("x-stack-access-type", "server")
            .header("x-stack-project-id", &self.project_id)
            .header("x-stack-secret-server-key", &self.server)
    }

    /// `request` with admin access.
    pub fn admin(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        request
            .header("x-stack-access-type", "admin")
            .header("x-stack-project-id", &self.project_id)
            .header("x-stack-super-secret-admin-key", &self.admin)
    }
}

/// Reads the value printed after `label` on a line of the first-start banner.
pub fn banner_value(banner: &str, label: &str) -> Option<String> {
    banner.lines().find_map(|line| {
        line.trim_start()
            .strip_prefix(label)
            .map(|rest| rest.trim().to_owned())
    })
}
