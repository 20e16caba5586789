//! What a hostile body costs a worker before it is refused: parsing a JSON object and a form
//! with 100,000 fields (issue 12: each took seconds while parsing was quadratic), next to an
//! ordinary check body.

use actix_web::http::Method;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use keygate_http::request_body::RequestBody;

fn json_with_keys(count: usize) -> String {
    let fields: Vec<String> = (0..count).map(|i| format!("\"k{i}\":{i}")).collect();
    format!("{{{}}}", fields.join(","))
}

fn form_with_fields(count: usize) -> String {
    (0..count)
        .map(|i| format!("f{i}="))
        .collect::<Vec<_>>()
        .join("&")
}

fn parse(content_type: &str, body: &str) -> bool {
    RequestBody::from_parts(&Method::POST, Some(content_type), body.as_bytes()).is_ok()
}

fn bodies(c: &mut Criterion) {
    let check = r#"{"api_key":"sk_0123456789abcdef0123456789abcdef0123456789abcdef"}"#;
    let json = json_with_keys(100_000);
    let form = form_with_fields(100_000);
    c.bench_function("check body (1 field)", |b| {
        b.iter(|| parse("application/json", black_box(check)))
    });
    c.bench_function("JSON, 100,000 fields (1.1 MB), refused", |b| {
        b.iter(|| parse("application/json", black_box(&json)))
    });
    c.bench_function("form, 100,000 fields (0.7 MB), refused", |b| {
        b.iter(|| parse("application/x-www-form-urlencoded", black_box(&form)))
    });
}

criterion_group!(benches, bodies);
criterion_main!(benches);
