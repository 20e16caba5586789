//! The API-key string format (contract A2/B3), kept identical to upstream's so that existing
//! secret scanners, SDKs and parsers recognise keygate's keys:
//!
//! ```text
//! <prefix>_<secret:45><id-hex:32><type:4><scanner-flag:1>574ck4u7h<crc32-hex:8>
//! ```
//!
//! 102 ASCII characters. `prefix` is `sk` (secret) or `pk` (public); the secret is 45 lowercase
//! Crockford base32 characters of OS randomness; the id is the key's own [`ApiKeyId`] as 32
//! lowercase hex digits; the type is `user` or `team`; the scanner flag is `1` (self-hosted
//! secret) or `3` (self-hosted public); the checksum is the CRC-32 of everything before it.

use std::fmt;

use uuid::Uuid;

use crate::ids::ApiKeyId;
use crate::owner::KeyType;
use crate::secret::{encode_crockford_base32_lower, fill_random, write_redacted};

/// Length of every API key, in characters (all ASCII, so also in bytes).
pub const API_KEY_LENGTH: usize = 102;

/// The fixed marker ("stackauth" in leetspeak) that secret scanners look for.
pub const SCANNER_MARKER: &str = "574ck4u7h";

/// Random bytes behind the secret part: 29 bytes give 47 base32 characters, of which the last
/// 45 are kept (upstream's `generateSecureRandomString(224)`).
const SECRET_RANDOM_BYTES: usize = 29;

// Byte offsets of the parts of a key.
const SEPARATOR_AT: usize = 2;
const SECRET_START: usize = SEPARATOR_AT + 1;
const SECRET_LENGTH: usize = 45;
const ID_START: usize = SECRET_START + SECRET_LENGTH;
const ID_END: usize = ID_START + 32;
const TYPE_END: usize = ID_END + 4;
const SCANNER_FLAG_AT: usize = TYPE_END;
const MARKER_START: usize = SCANNER_FLAG_AT + 1;
const CHECKSUM_START: usize = MARKER_START + SCANNER_MARKER.len();
const _: () = assert!(CHECKSUM_START + 8 == API_KEY_LENGTH);

/// A freshly generated API key in plain text. It exists only between generation and the create
/// response: keygate stores its hash and last four characters, never the key.
///
/// `Debug` and `Display` print only the prefix and the last four characters, e.g.
/// `PlainApiKey(sk_…53a0)`.
#[derive(PartialEq, Eq)]
pub struct PlainApiKey(String);

impl PlainApiKey {
    /// Generates the key string for the key `id` from OS randomness: prefix `sk` / scanner flag
    /// `1`, or `pk` / `3` when `is_public`.
    ///
    /// # Panics
    /// If the operating system cannot supply randomness (see `ApiKeyId::new_random`).
    pub fn generate(id: ApiKeyId, key_type: KeyType, is_public: bool) -> Self {
        let mut random = [0u8; SECRET_RANDOM_BYTES];
        fill_random(&mut random);
        Self(assemble_from_random(&random, id, key_type, is_public))
    }

    /// The full key. Call only to hash it or to put it in the create response.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The full key, consuming the wrapper.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The last four characters (the last four hex digits of the checksum), which keygate
    /// stores and shows in listings.
    pub fn last_four(&self) -> &str {
        &self.0[API_KEY_LENGTH - 4..]
    }
}

impl fmt::Debug for PlainApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainApiKey(")?;
        write_redacted(f, &self.0)?;
        f.write_str(")")
    }
}

impl fmt::Display for PlainApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_redacted(f, &self.0)
    }
}

/// Builds the key string from the 29 random bytes of the secret part.
fn assemble_from_random(
    random: &[u8; SECRET_RANDOM_BYTES],
    id: ApiKeyId,
    key_type: KeyType,
    is_public: bool,
) -> String {
    let encoded = encode_crockford_base32_lower(random);
    let secret = &encoded[encoded.len() - SECRET_LENGTH..];
    assemble(secret, id, key_type, is_public)
}

/// Builds the key string around a given secret part, appending the checksum.
fn assemble(secret: &str, id: ApiKeyId, key_type: KeyType, is_public: bool) -> String {
    let (prefix, scanner_flag) = if is_public { ("pk", '3') } else { ("sk", '1') };
    let mut key = String::with_capacity(API_KEY_LENGTH);
    key.push_str(prefix);
    key.push('_');
    key.push_str(secret);
    key.push_str(&id.simple_hex());
    key.push_str(key_type.as_str());
    key.push(scanner_flag);
    key.push_str(SCANNER_MARKER);
    let checksum = checksum_hex(&key);
    key.push_str(&checksum);
    key
}

/// CRC-32 (IEEE, as zlib) of `checksummed_part`'s UTF-8 bytes, as 8 lowercase hex digits.
fn checksum_hex(checksummed_part: &str) -> String {
    format!("{:08x}", crc32fast::hash(checksummed_part.as_bytes()))
}

/// What a well-formed key string says about itself. Nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedApiKey {
    /// `true` for a `pk_` key, `false` for an `sk_` key.
    pub is_public: bool,
    /// The id embedded in the key: the id of the key's row.
    pub id: ApiKeyId,
    /// `user` or `team`, from the type field.
    pub key_type: KeyType,
    /// The scanner flag character: `1`/`3` for keys issued by a self-hosted server (keygate
    /// issues only these), `0`/`2` for keys of upstream's cloud.
    pub scanner_flag: char,
    /// The last four characters of the key.
    pub last_four: String,
}

impl ParsedApiKey {
    /// `"pk"` or `"sk"`.
    pub fn prefix(&self) -> &'static str {
        if self.is_public {
            "pk"
        } else {
            "sk"
        }
    }
}

/// Why a string is not a well-formed API key. The messages never contain the string itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// The string does not have exactly [`API_KEY_LENGTH`] characters.
    #[error("an API key has {API_KEY_LENGTH} characters, this string has {length}")]
    WrongLength {
        /// The string's length in characters.
        length: usize,
    },
    /// A character other than an ASCII letter, digit or `_`.
    #[error("character {position} is not an ASCII letter, digit or underscore")]
    InvalidCharacter {
        /// Byte offset of the first such character.
        position: usize,
    },
    /// No `_` after the two-letter prefix.
    #[error("the prefix is not followed by '_'")]
    MissingSeparator,
    /// The prefix is neither `sk` nor `pk`.
    #[error("the prefix is neither \"sk\" nor \"pk\"")]
    UnknownPrefix,
    /// The id part is not 32 lowercase hex digits.
    #[error("the embedded id is not 32 lowercase hex digits")]
    InvalidEmbeddedId,
    /// The type part is neither `user` nor `team`.
    #[error("the key type is neither \"user\" nor \"team\"")]
    UnknownKeyType,
    /// The scanner flag is not one of `0`–`3`, or says public on an `sk_` key or secret on a
    /// `pk_` key.
    #[error("the scanner flag does not match the prefix")]
    ScannerFlagMismatch,
    /// The fixed marker `574ck4u7h` is not where it belongs.
    #[error("the marker \"{SCANNER_MARKER}\" is missing")]
    MissingMarker,
    /// The CRC-32 does not match the rest of the key (a typo or a truncated copy).
    #[error("the checksum does not match")]
    ChecksumMismatch,
}

/// Parses and validates a key string: length, characters, prefix, embedded id, type, scanner
/// flag, marker and checksum. Never panics, whatever the input.
///
/// Compared with upstream's parser (its regex plus the type and CRC checks), this one is
/// stricter in ways no key upstream or keygate issues can hit: the prefix must be `sk`/`pk`,
/// the id must be lowercase hex, and the scanner flag must agree with the prefix (`0`/`1` for
/// `sk`, `2`/`3` for `pk`; cloud flags are accepted so that upstream-issued keys still parse).
pub fn parse(key: &str) -> Result<ParsedApiKey, KeyFormatError> {
    let length = key.chars().count();
    if length != API_KEY_LENGTH {
        return Err(KeyFormatError::WrongLength { length });
    }
    if let Some(position) = key
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(KeyFormatError::InvalidCharacter { position });
    }
    // From here on every character is one ASCII byte, so byte slicing is safe.
    let bytes = key.as_bytes();
    if bytes[SEPARATOR_AT] != b'_' {
        return Err(KeyFormatError::MissingSeparator);
    }
    let is_public = match &key[..SEPARATOR_AT] {
        "sk" => false,
        "pk" => true,
        _ => return Err(KeyFormatError::UnknownPrefix),
    };
    if &key[MARKER_START..CHECKSUM_START] != SCANNER_MARKER {
        return Err(KeyFormatError::MissingMarker);
    }
    let key_type = key[ID_END..TYPE_END]
        .parse::<KeyType>()
        .map_err(|_| KeyFormatError::UnknownKeyType)?;
    let scanner_flag = char::from(bytes[SCANNER_FLAG_AT]);
    let flag_matches_prefix = match scanner_flag {
        '0' | '1' => !is_public,
        '2' | '3' => is_public,
        _ => false,
    };
    if !flag_matches_prefix {
        return Err(KeyFormatError::ScannerFlagMismatch);
    }
    let id_hex = &key[ID_START..ID_END];
    if !id_hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(KeyFormatError::InvalidEmbeddedId);
    }
    let id = Uuid::try_parse(id_hex)
        .map(ApiKeyId::from_uuid)
        .map_err(|_| KeyFormatError::InvalidEmbeddedId)?;
    if key[CHECKSUM_START..] != checksum_hex(&key[..CHECKSUM_START]) {
        return Err(KeyFormatError::ChecksumMismatch);
    }
    Ok(ParsedApiKey {
        is_public,
        id,
        key_type,
        scanner_flag,
        last_four: key[API_KEY_LENGTH - 4..].to_owned(),
    })
}

/// Whether `s` looks like it is meant to be an API key: it contains `_` and the marker
/// `574ck4u7h` (upstream's `isApiKey`). Says nothing about validity; use [`parse`] for that.
pub fn is_api_key_like(s: &str) -> bool {
    s.contains('_') && s.contains(SCANNER_MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE_SECRET: &str = "0123456789abcdefghjkmnpqrstvwxyz0123456789abc";
    const EXAMPLE_ID_HEX: &str = "3241a28583294d698f3d316e08cf140c";
    const EXAMPLE_CHECKSUMMED_PART: &str = "sk_0123456789abcdefghjkmnpqrstvwxyz0123456789abc3241a28583294d698f3d316e08cf140cuser1574ck4u7h";

    fn example_id() -> ApiKeyId {
        ApiKeyId::from_uuid(Uuid::try_parse(EXAMPLE_ID_HEX).unwrap())
    }

    fn example_key() -> String {
        format!("{EXAMPLE_CHECKSUMMED_PART}347553a0")
    }

    /// Replaces the character at byte offset `at` of an ASCII key by `replacement`.
    fn with_char_replaced(key: &str, at: usize, replacement: char) -> String {
        let mut changed = String::with_capacity(key.len() + 4);
        changed.push_str(&key[..at]);
        changed.push(replacement);
        changed.push_str(&key[at + 1..]);
        changed
    }

    /// Recomputes the checksum of a (possibly tampered) key so that a test can reach the checks
    /// behind it.
    fn with_fixed_checksum(key: &str) -> String {
        let body = &key[..CHECKSUM_START];
        format!("{body}{}", checksum_hex(body))
    }

    #[test]
    fn crc32_standard_check_value() {
        assert_eq!(checksum_hex("123456789"), "cbf43926");
        assert_eq!(checksum_hex(""), "00000000");
    }

    #[test]
    fn worked_example_from_the_contract() {
        assert_eq!(checksum_hex(EXAMPLE_CHECKSUMMED_PART), "347553a0");
        assert_eq!(
            assemble(EXAMPLE_SECRET, example_id(), KeyType::User, false),
            example_key()
        );
        let parsed = parse(&example_key()).unwrap();
        assert_eq!(
            parsed,
            ParsedApiKey {
                is_public: false,
                id: example_id(),
                key_type: KeyType::User,
                scanner_flag: '1',
                last_four: "53a0".to_owned(),
            }
        );
        assert_eq!(parsed.prefix(), "sk");
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        for key_type in [KeyType::User, KeyType::Team] {
            for is_public in [false, true] {
                let id = ApiKeyId::new_random();
                let key = PlainApiKey::generate(id, key_type, is_public);
                let s = key.expose_secret();
                assert_eq!(s.len(), API_KEY_LENGTH);
                assert_eq!(&s[..3], if is_public { "pk_" } else { "sk_" });
                assert!(s[SECRET_START..ID_START]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
                assert_eq!(&s[ID_START..ID_END], id.simple_hex());
                assert_eq!(&s[ID_END..TYPE_END], key_type.as_str());
                assert_eq!(
                    &s[SCANNER_FLAG_AT..CHECKSUM_START],
                    if is_public {
                        "3574ck4u7h"
                    } else {
                        "1574ck4u7h"
                    }
                );
                assert!(is_api_key_like(s));
                assert_eq!(key.last_four(), &s[98..]);
            }
        }
    }

    #[test]
    fn two_generated_keys_differ() {
        let id = ApiKeyId::new_random();
        assert_ne!(
            PlainApiKey::generate(id, KeyType::User, false),
            PlainApiKey::generate(id, KeyType::User, false)
        );
    }

    #[test]
    fn plain_key_debug_and_display_redact() {
        let key = PlainApiKey::generate(ApiKeyId::new_random(), KeyType::Team, false);
        let last_four = key.last_four().to_owned();
        assert_eq!(format!("{key:?}"), format!("PlainApiKey(sk_…{last_four})"));
        assert_eq!(key.to_string(), format!("sk_…{last_four}"));
        let public = PlainApiKey::generate(ApiKeyId::new_random(), KeyType::User, true);
        assert_eq!(
            format!("{public:?}"),
            format!("PlainApiKey(pk_…{})", public.last_four())
        );
        let full = key.expose_secret().to_owned();
        assert_eq!(key.into_string(), full);
    }

    #[test]
    fn each_rejection_reason() {
        let key = example_key();
        assert_eq!(
            parse(&key[1..]),
            Err(KeyFormatError::WrongLength { length: 101 })
        );
        assert_eq!(parse(""), Err(KeyFormatError::WrongLength { length: 0 }));
        assert_eq!(
            parse(&with_char_replaced(&key, 10, '-')),
            Err(KeyFormatError::InvalidCharacter { position: 10 })
        );
        // 102 characters, but one of them is two bytes long.
        assert_eq!(
            parse(&with_char_replaced(&key, 10, 'é')),
            Err(KeyFormatError::InvalidCharacter { position: 10 })
        );
        assert_eq!(
            parse(&with_fixed_checksum(&with_char_replaced(&key, 2, 'x'))),
            Err(KeyFormatError::MissingSeparator)
        );
        assert_eq!(
            parse(&with_fixed_checksum(&with_char_replaced(&key, 0, 'x'))),
            Err(KeyFormatError::UnknownPrefix)
        );
        assert_eq!(
            parse(&with_fixed_checksum(&with_char_replaced(&key, 1, '_'))),
            Err(KeyFormatError::UnknownPrefix)
        );
        assert_eq!(
            parse(&with_fixed_checksum(&with_char_replaced(
                &key, ID_START, 'A'
            ))),
            Err(KeyFormatError::InvalidEmbeddedId)
        );
        assert_eq!(
            parse(&with_fixed_checksum(&with_char_replaced(
                &key, ID_START, 'g'
            ))),
            Err(KeyFormatError::InvalidEmbeddedId)
        );
        assert_eq!(
            parse(&with_fixed_checksum(&with_char_replaced(&key, ID_END, 'U'))),
            Err(KeyFormatError::UnknownKeyType)
        );
        assert_eq!(
            parse(&with_fixed_checksum(&with_char_replaced(
                &key,
                MARKER_START,
                '6'
            ))),
            Err(KeyFormatError::MissingMarker)
        );
        assert_eq!(
            parse(&with_char_replaced(&key, 101, '1')),
            Err(KeyFormatError::ChecksumMismatch)
        );
        // An uppercase checksum is a mismatch, as upstream compares strings.
        let upper = format!("{EXAMPLE_CHECKSUMMED_PART}347553A0");
        assert_eq!(parse(&upper), Err(KeyFormatError::ChecksumMismatch));
    }

    #[test]
    fn scanner_flag_must_agree_with_the_prefix() {
        let key = example_key();
        let with_flag = |prefix: &str, flag: char| {
            let mut changed = with_char_replaced(&key, SCANNER_FLAG_AT, flag);
            changed.replace_range(..2, prefix);
            parse(&with_fixed_checksum(&changed))
        };
        assert_eq!(with_flag("sk", '0').unwrap().scanner_flag, '0');
        assert_eq!(with_flag("sk", '1').unwrap().scanner_flag, '1');
        assert!(with_flag("pk", '2').unwrap().is_public);
        assert!(with_flag("pk", '3').unwrap().is_public);
        for (prefix, flag) in [
            ("sk", '2'),
            ("sk", '3'),
            ("pk", '0'),
            ("pk", '1'),
            ("sk", '4'),
            ("pk", 'z'),
        ] {
            assert_eq!(
                with_flag(prefix, flag),
                Err(KeyFormatError::ScannerFlagMismatch),
                "{prefix} with flag {flag}"
            );
        }
    }

    #[test]
    fn every_single_character_substitution_is_rejected() {
        let keys = [
            example_key(),
            PlainApiKey::generate(ApiKeyId::new_random(), KeyType::Team, true).into_string(),
        ];
        let replacements: Vec<char> = (0x20u8..0x7f)
            .map(char::from)
            .chain(['é', '€', '\u{0}', '\n', '😀'])
            .collect();
        for key in &keys {
            for at in 0..key.len() {
                for &replacement in &replacements {
                    if key.as_bytes()[at] == replacement as u8 && replacement.is_ascii() {
                        continue;
                    }
                    let changed = with_char_replaced(key, at, replacement);
                    assert!(parse(&changed).is_err(), "{changed:?} parsed");
                }
            }
        }
    }

    #[test]
    fn is_api_key_like_needs_underscore_and_marker() {
        assert!(is_api_key_like(&example_key()));
        assert!(is_api_key_like("x_574ck4u7h"));
        assert!(!is_api_key_like("x574ck4u7h"));
        assert!(!is_api_key_like("sk_abc"));
        assert!(!is_api_key_like(""));
    }

    #[test]
    fn parse_errors_do_not_contain_the_key() {
        let key = with_char_replaced(&example_key(), 101, '1');
        let message = parse(&key).unwrap_err().to_string();
        assert!(!message.contains(EXAMPLE_SECRET));
        assert!(!message.contains(&key[90..]));
    }

    fn any_key_type() -> impl Strategy<Value = KeyType> {
        prop_oneof![Just(KeyType::User), Just(KeyType::Team)]
    }

    proptest! {
        #[test]
        fn generate_then_parse_round_trips(
            random in any::<[u8; SECRET_RANDOM_BYTES]>(),
            id_bytes in any::<[u8; 16]>(),
            key_type in any_key_type(),
            is_public in any::<bool>(),
        ) {
            let id = ApiKeyId::from_uuid(Uuid::from_bytes(id_bytes));
            let key = assemble_from_random(&random, id, key_type, is_public);
            let parsed = parse(&key).unwrap();
            prop_assert_eq!(parsed.id, id);
            prop_assert_eq!(parsed.key_type, key_type);
            prop_assert_eq!(parsed.is_public, is_public);
            prop_assert_eq!(parsed.scanner_flag, if is_public { '3' } else { '1' });
            prop_assert_eq!(&parsed.last_four, &key[98..]);
            // The secret's last character carries 2 random bits and 3 zero bits.
            let last_secret_char = key.as_bytes()[ID_START - 1];
            prop_assert!(b"08gr".contains(&last_secret_char));
        }

        #[test]
        fn os_generated_keys_round_trip(
            key_type in any_key_type(),
            is_public in any::<bool>(),
        ) {
            let id = ApiKeyId::new_random();
            let key = PlainApiKey::generate(id, key_type, is_public);
            let parsed = parse(key.expose_secret()).unwrap();
            prop_assert_eq!(parsed.id, id);
            prop_assert_eq!(parsed.key_type, key_type);
            prop_assert_eq!(parsed.is_public, is_public);
            prop_assert_eq!(parsed.last_four.as_str(), key.last_four());
            prop_assert!(b"08gr".contains(&key.expose_secret().as_bytes()[ID_START - 1]));
        }

        #[test]
        fn a_random_substitution_is_rejected(
            at in 0..API_KEY_LENGTH,
            replacement in any::<char>(),
            is_public in any::<bool>(),
        ) {
            let key = PlainApiKey::generate(ApiKeyId::new_random(), KeyType::User, is_public)
                .into_string();
            prop_assume!(key.as_bytes()[at] as char != replacement);
            prop_assert!(parse(&with_char_replaced(&key, at, replacement)).is_err());
        }

        #[test]
        fn deleting_or_inserting_a_character_is_rejected(
            at in 0..API_KEY_LENGTH,
            inserted in any::<char>(),
        ) {
            let key = example_key();
            let mut deleted = key.clone();
            deleted.remove(at);
            prop_assert!(parse(&deleted).is_err());
            let mut longer = key.clone();
            longer.insert(at, inserted);
            prop_assert!(parse(&longer).is_err());
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            let _ = parse(&s);
            let _ = is_api_key_like(&s);
        }

        #[test]
        fn strings_of_key_length_never_panic(
            s in "\\PC{102}",
            ascii in "[a-zA-Z0-9_]{102}",
        ) {
            let _ = parse(&s);
            prop_assert!(parse(&ascii).is_err() || ascii.contains(SCANNER_MARKER));
        }

        #[test]
        fn near_keys_never_panic_and_parse_only_with_a_valid_checksum(
            near in "(sk|pk|s_|_k|SK)_[a-z0-9_]{45}[0-9a-fA-F_]{32}(user|team|usex)[0-4a]574ck4u7h[0-9a-f]{8}",
        ) {
            if let Ok(parsed) = parse(&near) {
                prop_assert_eq!(&near[CHECKSUM_START..], checksum_hex(&near[..CHECKSUM_START]));
                prop_assert_eq!(&near[..2], parsed.prefix());
            }
            let fixed = with_fixed_checksum(&near);
            let _ = parse(&fixed);
        }
    }
}
