//! Plain secrets in memory: random generation, Crockford base32, and redacted printing.
//!
//! Every type here that holds a plain secret prints itself as at most its prefix and its last
//! four characters, so a secret cannot reach a log line through `{:?}` or `{}`. The only way to
//! read one is to call `expose_secret` or `into_string`, which makes every such place easy to find.

use std::fmt;

/// Crockford's base32 alphabet, as used by upstream's `encodeBase32`.
const CROCKFORD_BASE32_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Random bytes behind a [`SecretToken`]: 256 bits, encoded as 52 base32 characters.
const TOKEN_RANDOM_BYTES: usize = 32;

/// Fills `buffer` from the operating system's cryptographically secure random source.
///
/// # Panics
/// If the operating system cannot supply randomness. That is the same condition under which
/// `Uuid::new_v4` (and so every `*Id::new_random`) panics, and issuing a secret from a weaker
/// source would be worse than failing.
pub(crate) fn fill_random(buffer: &mut [u8]) {
    if let Err(error) = getrandom::fill(buffer) {
        panic!("the operating system's random source is unavailable: {error}");
    }
}

/// Encodes `bytes` as lowercase Crockford base32, most significant bit first, without padding.
/// A final partial group is padded with zero bits on the right, exactly like upstream's
/// `encodeBase32`, so 29 bytes give 47 characters and the last one is `0`, `8`, `g` or `r`.
pub(crate) fn encode_crockford_base32_lower(bytes: &[u8]) -> String {
    let mut encoded = String::with_capacity((bytes.len() * 8).div_ceil(5));
    let mut pending: u32 = 0;
    let mut pending_bits: u32 = 0;
    let mut push = |index: u32| {
        let symbol = CROCKFORD_BASE32_ALPHABET[(index & 31) as usize];
        encoded.push(char::from(symbol.to_ascii_lowercase()));
    };
    for &byte in bytes {
        pending = (pending << 8) | u32::from(byte);
        pending_bits += 8;
        while pending_bits >= 5 {
            pending_bits -= 5;
            push(pending >> pending_bits);
        }
        pending &= (1 << pending_bits) - 1;
    }
    if pending_bits > 0 {
        push(pending << (5 - pending_bits));
    }
    encoded
}

/// Writes `secret` as `prefix_…last` where `prefix` is the part before the first `_` (only when
/// it is a short run of ASCII letters and digits, as in `sk_` or `kgp_`) and `last` is the
/// last four characters (only when the secret is long enough that four characters reveal
/// little). Anything else is left out.
pub(crate) fn write_redacted(f: &mut fmt::Formatter<'_>, secret: &str) -> fmt::Result {
    const MAX_SHOWN_PREFIX_CHARS: usize = 8;
    const MIN_CHARS_TO_SHOW_LAST_FOUR: usize = 20;

    if let Some((prefix, _)) = secret.split_once('_') {
        if !prefix.is_empty()
            && prefix.len() <= MAX_SHOWN_PREFIX_CHARS
            && prefix.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            write!(f, "{prefix}_")?;
        }
    }
    f.write_str("…")?;
    let char_count = secret.chars().count();
    if char_count >= MIN_CHARS_TO_SHOW_LAST_FOUR {
        let last_four_start = secret
            .char_indices()
            .nth(char_count - 4)
            .map_or(secret.len(), |(index, _)| index);
        f.write_str(&secret[last_four_start..])?;
    }
    Ok(())
}

/// A random bearer secret other than an API key: a project credential, an operator token, a
/// refresh token. Shaped `<prefix>_<52 lowercase base32 characters>` (256 random bits).
///
/// Like every plain secret, it is shown once and stored only as a
/// [`KeyHash`](crate::hashing::KeyHash); `Debug` and `Display` print at most the prefix and
/// the last four characters.
#[derive(PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    /// A fresh token `<prefix>_<52 base32 characters>` from 32 bytes of OS randomness. The
    /// prefix names what the token is for (e.g. `"kgp"`); it is not validated and should be a
    /// short ASCII constant.
    ///
    /// # Panics
    /// If the operating system cannot supply randomness (see `ApiKeyId::new_random`).
    pub fn generate(prefix: &str) -> Self {
        let mut random = [0u8; TOKEN_RANDOM_BYTES];
        fill_random(&mut random);
        Self(format!(
            "{prefix}_{}",
            encode_crockford_base32_lower(&random)
        ))
    }

    /// Wraps a secret that came from elsewhere (configuration, a request header) so that it is
    /// printed redacted from then on.
    pub fn from_string(secret: String) -> Self {
        Self(secret)
    }

    /// The full secret. Call only to hash it or to hand it to its owner once.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The full secret, consuming the wrapper.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(")?;
        write_redacted(f, &self.0)?;
        f.write_str(")")
    }
}

impl fmt::Display for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_redacted(f, &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes lowercase Crockford base32 (test-only inverse of the encoder).
    fn decode(encoded: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut pending: u32 = 0;
        let mut pending_bits = 0;
        for c in encoded.bytes() {
            let index = CROCKFORD_BASE32_ALPHABET
                .iter()
                .position(|&a| a.to_ascii_lowercase() == c)
                .expect("character of the alphabet") as u32;
            pending = (pending << 5) | index;
            pending_bits += 5;
            if pending_bits >= 8 {
                pending_bits -= 8;
                bytes.push((pending >> pending_bits) as u8);
                pending &= (1 << pending_bits) - 1;
            }
        }
        bytes
    }

    #[test]
    fn base32_known_vectors() {
        assert_eq!(encode_crockford_base32_lower(&[]), "");
        // 0x00 -> 00000|000 -> "00"; 0xff -> 11111|111(00) -> "zw".
        assert_eq!(encode_crockford_base32_lower(&[0x00]), "00");
        assert_eq!(encode_crockford_base32_lower(&[0xff]), "zw");
        // Five bytes are exactly eight symbols; 0x0842108421 is 00001 repeated.
        assert_eq!(
            encode_crockford_base32_lower(&[0x08, 0x42, 0x10, 0x84, 0x21]),
            "11111111"
        );
        assert_eq!(
            encode_crockford_base32_lower(b"foobar"),
            // RFC 4648 base32 of "foobar" is MZXW6YTBOI, remapped to Crockford's alphabet.
            "csqpyrk1e8"
        );
    }

    #[test]
    fn base32_lengths_and_round_trip() {
        assert_eq!(encode_crockford_base32_lower(&[7u8; 29]).len(), 47);
        assert_eq!(encode_crockford_base32_lower(&[7u8; 32]).len(), 52);
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode_crockford_base32_lower(&bytes)), bytes);
    }

    #[test]
    fn generated_token_has_prefix_and_52_base32_chars() {
        let token = SecretToken::generate("kgp");
        let (prefix, body) = token.expose_secret().split_once('_').unwrap();
        assert_eq!(prefix, "kgp");
        assert_eq!(body.len(), 52);
        assert!(body.bytes().all(
            |b| CROCKFORD_BASE32_ALPHABET.contains(&b.to_ascii_uppercase())
                && !b.is_ascii_uppercase()
        ));
        assert_ne!(SecretToken::generate("kgp"), token);
    }

    #[test]
    fn token_debug_and_display_redact() {
        let token = SecretToken::generate("kgp");
        let secret = token.expose_secret().to_owned();
        let last_four = &secret[secret.len() - 4..];
        let debug = format!("{token:?}");
        let display = token.to_string();
        assert_eq!(debug, format!("SecretToken(kgp_…{last_four})"));
        assert_eq!(display, format!("kgp_…{last_four}"));
        assert!(!debug.contains(&secret[4..20]));
        assert_eq!(token.into_string(), secret);
    }

    #[test]
    fn redaction_of_odd_strings_shows_little_and_never_panics() {
        let show = |s: &str| SecretToken::from_string(s.to_owned()).to_string();
        assert_eq!(show(""), "…");
        assert_eq!(show("short"), "…");
        assert_eq!(show("_"), "…");
        // A long or non-alphanumeric "prefix" is not shown.
        assert_eq!(show("averyverylongprefix_0123456789abcdef"), "…cdef");
        assert_eq!(show("a-b_0123456789abcdefghij"), "…ghij");
        // Multibyte characters are cut on character boundaries.
        assert_eq!(show("éééééééééééééééééééééé"), "…éééé");
    }
}
