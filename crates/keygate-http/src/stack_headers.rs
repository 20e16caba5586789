//! The request headers of upstream's that keygate reads, each under both of its names: the SDK
//! sends `x-stack-<name>` (up to 2.8.102) or `x-hexclave-<name>` (later versions) (A6).

use std::borrow::Cow;

use actix_web::http::header::{HeaderMap, HeaderName};

/// A request header of upstream's, which the SDK sends as `x-stack-<name>` (up to 2.8.102) or
/// `x-hexclave-<name>` (later versions) (A6). The names are built at compile time, so reading a
/// header on the hot path neither allocates nor parses a name.
#[derive(Debug)]
pub struct StackHeader {
    stack: HeaderName,
    hexclave: HeaderName,
}

impl StackHeader {
    const fn new(stack: &'static str, hexclave: &'static str) -> Self {
        StackHeader {
            stack: HeaderName::from_static(stack),
            hexclave: HeaderName::from_static(hexclave),
        }
    }

    /// Both names, lowercase.
    pub fn names(&self) -> [&str; 2] {
        [self.stack.as_str(), self.hexclave.as_str()]
    }
}

/// `x-stack-access-type`.
pub const ACCESS_TYPE: StackHeader =
    StackHeader::new("x-stack-access-type", "x-hexclave-access-type");
/// `x-stack-project-id`.
pub const PROJECT_ID: StackHeader = StackHeader::new("x-stack-project-id", "x-hexclave-project-id");
/// `x-stack-publishable-client-key`.
pub const PUBLISHABLE_CLIENT_KEY: StackHeader = StackHeader::new(
    "x-stack-publishable-client-key",
    "x-hexclave-publishable-client-key",
);
/// `x-stack-secret-server-key`.
pub const SECRET_SERVER_KEY: StackHeader =
    StackHeader::new("x-stack-secret-server-key", "x-hexclave-secret-server-key");
/// `x-stack-super-secret-admin-key`.
pub const SUPER_SECRET_ADMIN_KEY: StackHeader = StackHeader::new(
    "x-stack-super-secret-admin-key",
    "x-hexclave-super-secret-admin-key",
);
/// `x-stack-access-token`.
pub const ACCESS_TOKEN: StackHeader =
    StackHeader::new("x-stack-access-token", "x-hexclave-access-token");
/// `x-stack-refresh-token`.
pub const REFRESH_TOKEN: StackHeader =
    StackHeader::new("x-stack-refresh-token", "x-hexclave-refresh-token");
/// `x-stack-override-error-status`.
pub const OVERRIDE_ERROR_STATUS: StackHeader = StackHeader::new(
    "x-stack-override-error-status",
    "x-hexclave-override-error-status",
);

/// Reads request header `header` under its `x-stack-` name, or its `x-hexclave-` name when the
/// first is absent.
///
/// The first value of a repeated header is used. Bytes that are not UTF-8 are replaced (U+FFFD),
/// so a garbled value is still seen — and refused — rather than mistaken for a missing header.
pub fn stack_header<'a>(headers: &'a HeaderMap, header: &StackHeader) -> Option<Cow<'a, str>> {
    headers
        .get(&header.stack)
        .or_else(|| headers.get(&header.hexclave))
        .map(|value| String::from_utf8_lossy(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{self, HeaderValue};

    use super::*;

    #[test]
    fn header_lookup_accepts_both_prefixes() {
        let mut headers = HeaderMap::new();
        assert_eq!(stack_header(&headers, &ACCESS_TYPE), None);
        headers.insert(
            header::HeaderName::from_static("x-hexclave-access-type"),
            HeaderValue::from_static("client"),
        );
        assert_eq!(
            stack_header(&headers, &ACCESS_TYPE).as_deref(),
            Some("client")
        );
        headers.insert(
            header::HeaderName::from_static("x-stack-access-type"),
            HeaderValue::from_static("server"),
        );
        assert_eq!(
            stack_header(&headers, &ACCESS_TYPE).as_deref(),
            Some("server"),
            "x-stack wins"
        );
        headers.insert(
            header::HeaderName::from_static("x-stack-access-token"),
            HeaderValue::from_bytes(b"ab\xffcd").unwrap(),
        );
        assert_eq!(
            stack_header(&headers, &ACCESS_TOKEN).as_deref(),
            Some("ab\u{fffd}cd")
        );
    }
}
