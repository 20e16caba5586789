//! A project's scope catalogue: the scopes its API keys may be created with
//! (`config.api_key_scopes`, `[{"id": "invoices:read", "description": "…"}]`).
//!
//! **Key decision:** the catalogue is the project's, stored as JSON text beside its switches
//! (`projects.api_key_scopes`) and read only here. A key's scopes are checked against it once,
//! at creation; after that the key carries its scopes itself (`keygate_domain::KeyPolicy`), so a
//! check needs nothing but the key's row, and removing a scope from the catalogue narrows no
//! existing key (rotate the key for that).

use serde_json::{json, Value};

/// The most scopes one project may declare.
pub const MAX_SCOPES_PER_PROJECT: usize = 100;

/// One scope of a catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDefinition {
    /// The scope id (`keygate_domain::is_scope_id`).
    pub id: String,
    /// What it allows, for people.
    pub description: String,
}

/// The catalogue stored as `text`; what cannot be read is left out (keygate writes it).
pub fn parse_catalogue(text: &str) -> Vec<ScopeDefinition> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            Some(ScopeDefinition {
                id: item.get("id")?.as_str()?.to_owned(),
                description: item
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            })
        })
        .collect()
}

/// The text `scopes` is stored as.
pub fn catalogue_text(scopes: &[ScopeDefinition]) -> String {
    Value::Array(
        scopes
            .iter()
            .map(|scope| json!({"id": scope.id, "description": scope.description}))
            .collect(),
    )
    .to_string()
}

/// The ids of `requested` that `catalogue` does not declare, in the order given.
pub fn unknown_scopes(catalogue: &[ScopeDefinition], requested: &[String]) -> Vec<String> {
    requested
        .iter()
        .filter(|id| !catalogue.iter().any(|scope| &scope.id == *id))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogues_round_trip_and_unknown_scopes_are_named() {
        let catalogue = vec![
            ScopeDefinition {
                id: "invoices:read".into(),
                description: "Read invoices".into(),
            },
            ScopeDefinition {
                id: "invoices:write".into(),
                description: String::new(),
            },
        ];
        assert_eq!(parse_catalogue(&catalogue_text(&catalogue)), catalogue);
        assert!(parse_catalogue("[]").is_empty());
        assert!(parse_catalogue("not json").is_empty());
        let requested = ["invoices:read", "users:read"].map(String::from).to_vec();
        assert_eq!(unknown_scopes(&catalogue, &requested), ["users:read"]);
    }
}
