//! The user and team API-key JSON and the list cursor, shared with the `keygate keys …`
//! commands so that they print exactly what `GET /api/v1/internal/keys` answers and take the
//! cursors it hands out (the shapes themselves live in `routes::api_keys::wire`).

use std::collections::HashMap;

use keygate_domain::{ApiKey, ApiKeyId, EpochMillis};
use keygate_service::api_keys::KeyPosition;
use serde_json::Value;

use crate::routes::api_keys::input::ListCursor;
use crate::routes::api_keys::wire::{list_object, read_object};

/// A key's read object (`value` as `{"last_four"}`).
///
/// # Errors
/// Never in practice: the object is plain data.
pub fn key_json(
    key: &ApiKey,
    last_used_at_millis: Option<EpochMillis>,
) -> Result<Value, serde_json::Error> {
    serde_json::to_value(read_object(key, last_used_at_millis))
}

/// A page of keys: `{"items", "is_paginated": true, "pagination": {"next_cursor"}}`.
///
/// # Errors
/// Never in practice: the object is plain data.
pub fn key_page_json(
    keys: &[ApiKey],
    last_used: &HashMap<ApiKeyId, EpochMillis>,
    next: Option<KeyPosition>,
) -> Result<Value, serde_json::Error> {
    serde_json::to_value(list_object(
        keys,
        last_used,
        Some(next.map(ListCursor::encode)),
        // The operator's command line sees the whole key object.
        keygate_permissions::AccessType::Admin,
    ))
}

/// The position a `next_cursor` names, if it is one keygate handed out.
pub fn decode_cursor(text: &str) -> Option<KeyPosition> {
    ListCursor::decode(text)
}
