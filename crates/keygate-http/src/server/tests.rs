//! The real server over raw TCP: what actix-http's parser refuses comes back with keygate's
//! conventions, and everything else passes through untouched.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream as StdTcpStream};
use std::time::Duration;

use serde_json::Value;

use super::*;

/// Sends `request` and reads until the server closes the connection.
fn exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut stream = StdTcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read the answer");
    String::from_utf8(answer).expect("UTF-8 answer")
}

/// Asserts `answer` is one dressed known error with `status` and `code`.
#[track_caller]
fn assert_dressed(answer: &str, status: u16, code: &str) {
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {status} ")),
        "{answer}"
    );
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let head = format!("{}\r\n", head.to_ascii_lowercase());
    for expected in [
        "\r\nx-stack-request-id: ".to_owned(),
        "\r\ncache-control: no-store, max-age=0\r\n".to_owned(),
        "\r\nx-content-type-options: nosniff\r\n".to_owned(),
        "\r\ncontent-type: application/json; charset=utf-8\r\n".to_owned(),
        format!("\r\nx-stack-known-error: {}\r\n", code.to_ascii_lowercase()),
        format!("\r\ncontent-length: {}\r\n", body.len()),
    ] {
        assert!(head.contains(&expected), "{expected:?} missing: {answer}");
    }
    let json: Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(json["code"], code, "{answer}");
    assert!(json["error"].is_string(), "{answer}");
}

crate::http_tests! {
    fn what_the_parser_refuses_is_answered_with_the_conventions(app) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let address = listener.local_addr().expect("address");
        let options = ServerOptions {
            workers: 1,
            worker_max_blocking_threads: 2,
            shutdown_timeout_seconds: 1,
        };
        let server = serve(listener, app.state.clone(), options, std::future::pending())
            .expect("server");
        let handle = server.handle();
        actix_web::rt::spawn(server);

        let exchanges = actix_web::rt::task::spawn_blocking(move || {
            let long_uri = format!(
                "GET /{} HTTP/1.1\r\nhost: t\r\n\r\n",
                "a".repeat(70 * 1024)
            );
            let many_headers = format!(
                "GET /health HTTP/1.1\r\nhost: t\r\n{}\r\n",
                (0..120).map(|i| format!("x-h{i}: v\r\n")).collect::<String>()
            );
            let fine = exchange(address, b"GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
            let pipelined = exchange(
                address,
                b"GET /health HTTP/1.1\r\nhost: t\r\n\r\nthis is not http\r\n\r\n",
            );
            (
                exchange(address, long_uri.as_bytes()),
                exchange(address, many_headers.as_bytes()),
                exchange(address, b"this is not http\r\n\r\n"),
                exchange(address, b"\x00\x01\x02 \r\n\r\n"),
                fine,
                pipelined,
            )
        })
        .await
        .expect("the exchanges");
        handle.stop(false).await;
        let (long_uri, many_headers, garbage, binary, fine, pipelined) = exchanges;

        assert_dressed(&long_uri, 414, "URI_TOO_LONG");
        assert_dressed(&many_headers, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE");
        assert_dressed(&garbage, 400, "MALFORMED_HTTP_REQUEST");
        assert_dressed(&binary, 400, "MALFORMED_HTTP_REQUEST");

        // The app's own answers pass through untouched.
        assert!(fine.starts_with("HTTP/1.1 200 OK\r\n"), "{fine}");
        assert_eq!(fine.matches("x-stack-request-id: ").count(), 1, "{fine}");
        // Pipelined: the app's answer first, as it was; then the refusal, dressed.
        let (first, second) = pipelined
            .split_once("HTTP/1.1 400 ")
            .unwrap_or_else(|| panic!("a 400 after the 200: {pipelined}"));
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{pipelined}");
        assert_dressed(&format!("HTTP/1.1 400 {second}"), 400, "MALFORMED_HTTP_REQUEST");
    }
}

#[test]
fn only_a_bare_answer_at_the_very_end_is_recognised() {
    let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: Sat, 05 Dec 2026 19:00:00 GMT\r\n\r\n";
    assert_eq!(bare_answer(bare), Some((0, 400)));
    let mut after_app =
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-stack-request-id: 1\r\n\r\n{}".to_vec();
    let start = after_app.len();
    after_app.extend_from_slice(bare);
    assert_eq!(bare_answer(&after_app), Some((start, 400)));

    // The app's answers are never touched: they carry a request id, or a body.
    let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-stack-request-id: 1\r\n\r\n";
    assert_eq!(bare_answer(ours), None);
    let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
    assert_eq!(bare_answer(with_body), None);
    let other_status = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
    assert_eq!(bare_answer(other_status), None);
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    assert_eq!(bare_answer(interim), None);
    assert_eq!(
        bare_answer(&bare[..bare.len() - 2]),
        None,
        "an incomplete head"
    );
}

#[test]
fn a_long_line_read_makes_a_bare_400_a_414_until_an_answer_goes_out() {
    let mut io = WireIo::new(Vec::<u8>::new());
    io.note_read(&vec![b'a'; MAX_URI_BYTES + 100]);
    assert!(io.long_line);
    io.held = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec();
    io.dress_bare_answer();
    assert!(!io.long_line, "settled by the app's answer");
    io.note_read(b"\r\nshort line\r\n");
    assert!(!io.long_line);

    io.note_read(&vec![b'a'; MAX_URI_BYTES + 100]);
    io.held = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n".to_vec();
    io.dress_bare_answer();
    let dressed = String::from_utf8(io.held.clone()).unwrap();
    assert_dressed(&dressed, 414, "URI_TOO_LONG");
}
