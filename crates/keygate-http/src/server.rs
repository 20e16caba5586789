//! The HTTP/1.1 server, and the answers actix-http writes itself.
//!
//! actix-http's h1 dispatcher answers some requests before any service or middleware runs, with
//! a bare head and no body: a request line or header it cannot parse (400), a URI over 65 534
//! bytes (400: `http::Uri` refuses it), more than 96 headers or a head over 128 KiB (431), a
//! head that does not arrive in time (408). Its limits are constants and it has no hook for
//! these answers (`actix-http/src/h1/dispatcher.rs`, `poll_request` and `poll_timers`).
//!
//! **Key decision.** Rather than fork actix-http, [`serve`] builds the same server as actix-web's
//! `HttpServer` (actix-server workers running actix-http's h1 service over the app) but hands the
//! dispatcher every connection wrapped in [`WireIo`]. `WireIo` passes reads through, noting
//! whether a line longer than a URI may be was read, and holds written bytes until the
//! dispatcher flushes; if they then end with such a bare answer (a complete `400`, `408` or `431`
//! head with `content-length: 0` and no `x-stack-request-id`, which every answer of the app has),
//! it replaces that head with keygate's: the same status (414 instead of 400 when the request
//! line was too long), a known-error JSON body, `x-stack-request-id`, `cache-control` and
//! `nosniff`, `connection: close`. Nothing else is ever changed.

use std::future::Future;
use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use actix_http::{HttpService, KeepAlive};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::{AppConfig, Server};
use actix_web::http::StatusCode;
use actix_web::rt::net::TcpStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::app::{build_app, build_metrics_app};
use crate::state::AppState;
use crate::wire_error::{KnownError, JSON_CONTENT_TYPE, KNOWN_ERROR_HEADER};
use crate::wire_middleware::{RequestId, NOSNIFF, NO_STORE, REQUEST_ID_HEADER};

/// The longest URI `http::Uri` accepts; a request line longer than this cannot be served.
pub const MAX_URI_BYTES: usize = u16::MAX as usize - 1;

/// Written bytes held before the dispatcher has to wait for the socket.
const HELD_BYTES_HIGH_WATER: usize = 64 * 1024;

/// How the server runs (what the binary's settings say).
#[derive(Debug, Clone, Copy)]
pub struct ServerOptions {
    /// Worker threads.
    pub workers: usize,
    /// Blocking threads per worker.
    pub worker_max_blocking_threads: usize,
    /// How long requests in flight may take to finish after the shutdown signal.
    pub shutdown_timeout_seconds: u64,
}

/// The server of `state`'s app on `listener`, stopping when `shutdown_signal` resolves; run it
/// with `.await`. Timeouts are actix-web's `HttpServer` defaults.
pub fn serve(
    listener: TcpListener,
    state: AppState,
    options: ServerOptions,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
) -> io::Result<Server> {
    serve_with_metrics(listener, None, state, options, shutdown_signal)
}

/// [`serve`], and, on `metrics_listener`, the private metrics app ([`build_metrics_app`]: only
/// `GET /metrics`) with the same workers, conventions and shutdown.
pub fn serve_with_metrics(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    options: ServerOptions,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
) -> io::Result<Server> {
    let address = listener.local_addr()?;
    // The key-change streams never end by themselves: end them when the shutdown begins, or
    // they would hold the graceful stop until its timeout.
    let feed = std::sync::Arc::clone(state.service().key_change_feed());
    let shutdown_signal = async move {
        shutdown_signal.await;
        feed.close();
    };
    let builder = Server::build()
        .workers(options.workers)
        .worker_max_blocking_threads(options.worker_max_blocking_threads)
        .shutdown_timeout(options.shutdown_timeout_seconds)
        .shutdown_signal(shutdown_signal);
    let graceful = builder.graceful_shutdown_signal();
    let metrics_state = state.clone();
    let builder = builder.listen("keygate-http", listener, move || {
        let app = build_app(state.clone())
            .into_factory()
            .map_err(|error| error.error_response());
        let graceful = graceful.clone();
        let h1 = HttpService::<WireIo<TcpStream>, _, _, _, _>::build()
            .keep_alive(KeepAlive::default())
            .client_request_timeout(Duration::from_secs(5))
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr(address)
            .graceful_shutdown_signal(move || {
                let signal = graceful.clone();
                async move { signal.notified().await }
            })
            // actix-web does not let others build an `AppConfig` of their own; its default
            // differs from `HttpServer`'s only in the host a request without `Host` is given.
            .h1(map_config(app, |_| AppConfig::default()));
        fn_service(|stream: TcpStream| {
            let peer = stream.peer_addr().ok();
            std::future::ready(Ok((WireIo::new(stream), peer)))
        })
        .and_then(h1)
    })?;
    let builder = match metrics_listener {
        None => builder,
        Some(listener) => {
            let address = listener.local_addr()?;
            builder.listen("keygate-metrics", listener, move || {
                let app = build_metrics_app(metrics_state.clone())
                    .into_factory()
                    .map_err(|error| error.error_response());
                let h1 = HttpService::<WireIo<TcpStream>, _, _, _, _>::build()
                    .keep_alive(KeepAlive::default())
                    .client_request_timeout(Duration::from_secs(5))
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .local_addr(address)
                    .h1(map_config(app, |_| AppConfig::default()));
                fn_service(|stream: TcpStream| {
                    let peer = stream.peer_addr().ok();
                    std::future::ready(Ok((WireIo::new(stream), peer)))
                })
                .and_then(h1)
            })?
        }
    };
    Ok(builder.run())
}

/// A connection's socket as the h1 dispatcher sees it; see the module documentation.
#[derive(Debug)]
pub struct WireIo<T> {
    inner: T,
    /// Written bytes not yet on the socket (`held[sent..]`).
    held: Vec<u8>,
    sent: usize,
    /// Bytes read since the last line feed.
    line_bytes: usize,
    /// A line longer than [`MAX_URI_BYTES`] was read since the last answer went out.
    long_line: bool,
}

impl<T> WireIo<T> {
    /// Wraps a socket.
    pub fn new(inner: T) -> Self {
        WireIo {
            inner,
            held: Vec::new(),
            sent: 0,
            line_bytes: 0,
            long_line: false,
        }
    }

    fn note_read(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                self.line_bytes = 0;
            } else {
                self.line_bytes += 1;
                // Once per line, when it grows past what a request line with a URI the parser
                // accepts can be ("GET " + URI + " HTTP/1.1\r").
                if self.line_bytes == MAX_URI_BYTES + 16 {
                    self.long_line = true;
                }
            }
        }
    }

    /// Replaces a bare answer of the dispatcher at the end of the held bytes, if there is one.
    fn dress_bare_answer(&mut self) {
        let unsent = &self.held[self.sent..];
        if unsent.is_empty() {
            return;
        }
        match bare_answer(unsent) {
            Some((start, status)) => {
                let answer = dressed_answer(status, self.long_line);
                let start = self.sent + start;
                self.held.truncate(start);
                self.held.extend_from_slice(&answer);
            }
            // An answer of the app went out: what was read before it is settled.
            None => self.long_line = false,
        }
    }
}

impl<T: AsyncWrite + Unpin> WireIo<T> {
    /// Writes the held bytes to the socket.
    fn poll_send_held(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.held.len() {
            let written =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.held[self.sent..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += written;
        }
        self.held.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WireIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let this = self.get_mut();
        this.note_read(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WireIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.held.len() - this.sent >= HELD_BYTES_HIGH_WATER {
            ready!(this.poll_send_held(cx))?;
        }
        this.held.extend_from_slice(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.dress_bare_answer();
        ready!(this.poll_send_held(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.dress_bare_answer();
        ready!(this.poll_send_held(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Where a bare answer of the dispatcher starts in `unsent`, which it must end, and its status.
fn bare_answer(unsent: &[u8]) -> Option<(usize, u16)> {
    if !unsent.ends_with(b"\r\n\r\n") {
        return None;
    }
    // A bare head is short: look for its status line near the end only.
    let window = unsent.len().saturating_sub(512);
    let start = window
        + unsent[window..]
            .windows(9)
            .rposition(|w| w == b"HTTP/1.1 " || w == b"HTTP/1.0 ")?;
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    let parsed = response.parse(&unsent[start..]).ok()?;
    if parsed != httparse::Status::Complete(unsent.len() - start) {
        return None;
    }
    let status = response.code?;
    let empty = response
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("content-length") && h.value == b"0");
    let ours = response
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case(REQUEST_ID_HEADER));
    (matches!(status, 400 | 408 | 431) && empty && !ours).then_some((start, status))
}

/// keygate's answer in place of the dispatcher's bare `status`.
fn dressed_answer(status: u16, long_line: bool) -> Vec<u8> {
    let error = match status {
        400 if long_line => KnownError::UriTooLong {
            max_bytes: MAX_URI_BYTES,
        },
        408 => KnownError::RequestHeadTimeout,
        431 => KnownError::RequestHeadTooLarge,
        _ => KnownError::MalformedHttpRequest,
    };
    let status: StatusCode = error.status();
    let body = error.to_json_body();
    let request_id = RequestId::new_random();
    tracing::info!(
        request_id = request_id.as_str(),
        status = status.as_u16(),
        code = error.code(),
        "answered a request the HTTP parser refused"
    );
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {JSON_CONTENT_TYPE}\r\n{KNOWN_ERROR_HEADER}: {}\r\n{REQUEST_ID_HEADER}: {}\r\ncache-control: {NO_STORE}\r\nx-content-type-options: {NOSNIFF}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        error.code(),
        request_id.as_str(),
        body.len(),
    );
    let mut answer = head.into_bytes();
    answer.extend_from_slice(body.as_bytes());
    answer
}

#[cfg(test)]
mod tests;
