//! The CPU work of one key check, without I/O: parsing the key (length, characters, prefix,
//! type, marker, CRC-32 checksum), hashing it (SHA-256, or HMAC-SHA-256 with a pepper) and
//! comparing digests in constant time. Run with `cargo bench -p keygate-domain`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use keygate_domain::{parse_api_key, ApiKeyId, KeyHasher, KeyType, PlainApiKey};

fn key_check(c: &mut Criterion) {
    let plain = PlainApiKey::generate(ApiKeyId::new_random(), KeyType::User, false);
    let key = plain.expose_secret().to_owned();
    let sha256 = KeyHasher::sha256();
    let peppered = KeyHasher::hmac_sha256(b"a pepper kept in the settings");
    let stored = sha256.hash(&key);
    let stored_peppered = peppered.hash(&key);
    // Same length and format, last character of the checksum changed.
    let mut bad_checksum = key.clone();
    let last = bad_checksum.pop().expect("non-empty");
    bad_checksum.push(if last == '0' { '1' } else { '0' });

    c.bench_function("parse", |b| b.iter(|| parse_api_key(black_box(&key))));
    c.bench_function("parse, bad checksum", |b| {
        b.iter(|| parse_api_key(black_box(&bad_checksum)))
    });
    c.bench_function("hash sha256", |b| b.iter(|| sha256.hash(black_box(&key))));
    c.bench_function("hash hmac-sha256", |b| {
        b.iter(|| peppered.hash(black_box(&key)))
    });
    c.bench_function("parse + hash + verify (sha256)", |b| {
        b.iter(|| {
            let parsed = parse_api_key(black_box(&key)).expect("a valid key");
            black_box(parsed.id);
            sha256.verify(black_box(&key), &stored)
        })
    });
    c.bench_function("parse + hash + verify (hmac-sha256)", |b| {
        b.iter(|| {
            let parsed = parse_api_key(black_box(&key)).expect("a valid key");
            black_box(parsed.id);
            peppered.verify(black_box(&key), &stored_peppered)
        })
    });
}

criterion_group!(benches, key_check);
criterion_main!(benches);
