//! Real peers for the delivery tests: an SMTP server (`mailin-embedded`) that keeps every
//! message it accepts, and an HTTP receiver (actix-web) that records every webhook request and
//! answers 500 to the first few. Both listen on `127.0.0.1` at a free port, each on threads of
//! its own, for the life of the test process.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use mailin_embedded::response::{Response, OK};
use mailin_embedded::{Handler, Server, SslConfig};

/// A message the SMTP server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender.
    pub from: String,
    /// The envelope recipients.
    pub to: Vec<String>,
    /// The message as sent (headers and body).
    pub data: String,
}

#[derive(Clone, Default)]
struct MailHandler {
    inbox: Arc<Mutex<Vec<ReceivedMail>>>,
    current: Option<ReceivedMail>,
}

impl Handler for MailHandler {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(ReceivedMail {
            from: from.to_owned(),
            to: to.to_vec(),
            data: String::new(),
        });
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(mail) = &mut self.current {
            mail.data.push_str(&String::from_utf8_lossy(buf));
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(mail) = self.current.take() {
            self.inbox
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(mail);
        }
        OK
    }
}

/// A running SMTP server.
#[derive(Debug, Clone)]
pub struct MailServer {
    port: u16,
    inbox: Arc<Mutex<Vec<ReceivedMail>>>,
}

impl MailServer {
    /// Starts one (plain SMTP, no TLS, no authentication).
    pub fn start() -> MailServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP server");
        let port = listener.local_addr().expect("its address").port();
        let handler = MailHandler::default();
        let inbox = Arc::clone(&handler.inbox);
        let mut server = Server::new(handler);
        server
            .with_name("smtp.test")
            .with_ssl(SslConfig::None)
            .expect("no TLS")
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        MailServer { port, inbox }
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message accepted so far.
    pub fn inbox(&self) -> Vec<ReceivedMail> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits up to `within` for at least `count` messages; returns them all.
    pub fn wait_for(&self, count: usize, within: Duration) -> Vec<ReceivedMail> {
        wait_until(within, || {
            let inbox = self.inbox();
            (inbox.len() >= count).then_some(inbox)
        })
        .unwrap_or_else(|| panic!("{count} messages within {within:?}: got {:?}", self.inbox()))
    }
}

/// A webhook request the receiver got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedWebhook {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
    /// The body.
    pub body: String,
    /// What the receiver answered.
    pub status: u16,
}

#[derive(Default)]
struct ReceiverState {
    requests: Mutex<Vec<ReceivedWebhook>>,
    failures_left: Mutex<usize>,
}

/// A running webhook receiver.
#[derive(Clone)]
pub struct WebhookReceiver {
    port: u16,
    state: Arc<ReceiverState>,
}

impl std::fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let status = {
        let mut left = state
            .failures_left
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if *left > 0 {
            *left -= 1;
            500
        } else {
            204
        }
    };
    state
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(ReceivedWebhook {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body: String::from_utf8_lossy(&body).into_owned(),
            status,
        });
    match status {
        500 => HttpResponse::InternalServerError().body("down for maintenance"),
        _ => HttpResponse::NoContent().finish(),
    }
}

impl WebhookReceiver {
    /// Starts one that answers 500 to its first `failures` requests and 204 after.
    pub fn start(failures: usize) -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let port = listener.local_addr().expect("its address").port();
        let state = Arc::new(ReceiverState {
            requests: Mutex::new(Vec::new()),
            failures_left: Mutex::new(failures),
        });
        let data = web::Data::from(Arc::clone(&state));
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .default_service(web::to(receive))
                })
                .workers(1)
                .listen(listener)
                .expect("serve the receiver")
                .run();
                let _ = server.await;
            });
        });
        WebhookReceiver { port, state }
    }

    /// The receiver's URL (`path` appended).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<ReceivedWebhook> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The requests it accepted (answered 204).
    pub fn accepted(&self) -> Vec<ReceivedWebhook> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == 204)
            .collect()
    }

    /// Waits up to `within` for at least `count` accepted requests; returns them all.
    pub fn wait_for_accepted(&self, count: usize, within: Duration) -> Vec<ReceivedWebhook> {
        wait_until(within, || {
            let accepted = self.accepted();
            (accepted.len() >= count).then_some(accepted)
        })
        .unwrap_or_else(|| {
            panic!(
                "{count} accepted within {within:?}: got {:?}",
                self.requests()
            )
        })
    }
}

/// Polls `ready` every 20 ms until it answers or `within` passes.
fn wait_until<T>(within: Duration, mut ready: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = ready() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
