//! The request fields the identity routes (users, teams, team permissions) share, with
//! upstream's validation messages: e-mails, profile image URLs (and the rule that clients may
//! only send base64 image data URLs), permission ids, text flags, and fields that must not be
//! sent.

use actix_web::http::StatusCode;
use base64::Engine;
use keygate_permissions::{PermissionId, SystemPermission};
use serde_json::Value;

use crate::validation::{FieldContext, FieldValue, Rejection};
use crate::wire_error::{ApiError, PlainError};

/// Upstream's 400 for a client that sets a profile image which is not a base64 image data URL
/// (clients may not point profile images at arbitrary URLs).
pub(crate) fn require_client_image(url: Option<&str>) -> Result<(), ApiError> {
    match url {
        Some(url) if !is_base64_image(url) => {
            Err(PlainError::new(StatusCode::BAD_REQUEST, "Invalid profile image URL").into())
        }
        _ => Ok(()),
    }
}

/// Whether `url` is a `data:image/<png|jpeg|jpg|gif|webp>;base64,<data>` URL whose data is
/// valid base64.
fn is_base64_image(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("data:image/") else {
        return false;
    };
    let Some((subtype, data)) = rest.split_once(";base64,") else {
        return false;
    };
    matches!(subtype, "png" | "jpeg" | "jpg" | "gif" | "webp")
        && !data.is_empty()
        && base64::engine::general_purpose::STANDARD
            .decode(data)
            .is_ok()
}

/// What keygate answers for a request field about signing in.
const NO_SIGN_IN: &str = "is not supported: keygate has no password, OTP, passkey or OAuth sign-in";

/// A request field about a sign-in method keygate does not have (`password`,
/// `otp_auth_enabled`, …). Only the values that mean "none" are accepted (`null`, `false`,
/// `[]`); anything else is refused with a message saying why, rather than silently ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoSignIn;

impl FieldValue for NoSignIn {
    const TYPE_NAME: &'static str = "mixed";
    const NULLABLE: bool = true;
    fn placeholder() -> Self {
        NoSignIn
    }
    fn from_json(value: &Value, _: &FieldContext) -> Result<Self, Rejection> {
        match value {
            Value::Null | Value::Bool(false) => Ok(NoSignIn),
            Value::Array(items) if items.is_empty() => Ok(NoSignIn),
            _ => Err(Rejection::Invalid(NO_SIGN_IN.to_owned())),
        }
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        if text == "false" {
            Ok(NoSignIn)
        } else {
            Err(Rejection::Invalid(NO_SIGN_IN.to_owned()))
        }
    }
}

/// A primary e-mail address: yup's `email()` pattern, not empty, stored lowercased (upstream
/// normalises e-mails before storing and comparing them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Email(pub(crate) String);

impl FieldValue for Email {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        Email(String::new())
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        let text = value.as_str().ok_or(Rejection::NotType)?;
        Self::from_text(text, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        if text.is_empty() {
            return Err(Rejection::Invalid("must not be empty".to_owned()));
        }
        if !is_yup_email(text) {
            return Err(Rejection::Invalid("must be a valid email".to_owned()));
        }
        Ok(Email(text.to_lowercase()))
    }
}

/// yup's e-mail pattern (the HTML living standard's):
/// `^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@label(\.label)*$`, where a label is 1–63 letters, digits
/// and hyphens that neither starts nor ends with a hyphen.
fn is_yup_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&b));
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        (1..=63).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
    };
    local_ok && domain.split('.').all(label_ok)
}

/// A profile image URL: upstream's URL schema (no spaces, a URL the WHATWG parser accepts —
/// `https://…` or a `data:` URL); combine with `max_chars(1_000_000)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageUrl(pub(crate) String);

impl FieldValue for ImageUrl {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        ImageUrl(String::new())
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        let text = value.as_str().ok_or(Rejection::NotType)?;
        Self::from_text(text, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        if text.contains(' ') {
            return Err(Rejection::Invalid("contains spaces".to_owned()));
        }
        if text.contains('\0') || url::Url::parse(text).is_err() {
            return Err(Rejection::Invalid("is not a valid URL".to_owned()));
        }
        Ok(ImageUrl(text.to_owned()))
    }
    fn js_len(&self) -> Option<usize> {
        self.0.js_len()
    }
}

/// A team permission id (upstream's `permissionDefinitionIdSchema`): `[a-z0-9_:]+`, or one of
/// the system permissions with its `$`. Its messages do not name the field, as upstream's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PermissionIdField(pub(crate) PermissionId);

impl FieldValue for PermissionIdField {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        PermissionIdField(SystemPermission::ReadMembers.into())
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        let text = value.as_str().ok_or(Rejection::NotType)?;
        Self::from_text(text, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        PermissionId::parse(text)
            .map(PermissionIdField)
            .map_err(|error| Rejection::Message(error.to_string()))
    }
}

/// A flag sent as the text `"true"` or `"false"` and nothing else (upstream's
/// `yupString().oneOf(["true", "false"])` query flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TextFlag(pub(crate) bool);

impl FieldValue for TextFlag {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        TextFlag(false)
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        let text = value.as_str().ok_or(Rejection::NotType)?;
        Self::from_text(text, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        match text {
            "true" => Ok(TextFlag(true)),
            "false" => Ok(TextFlag(false)),
            _ => Err(Rejection::Invalid(
                "must be one of the following values: true, false".to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
