//! Tests of the identity routes' request fields.

use super::*;

fn text<T: FieldValue>(input: &str) -> Result<T, Rejection> {
    T::from_text(input, &FieldContext::default())
}

#[test]
fn emails_follow_yups_pattern_and_are_lowercased() {
    assert_eq!(
        text::<Email>("Ada.Lovelace+x@Example.COM").unwrap().0,
        "ada.lovelace+x@example.com"
    );
    for ok in ["a@b", "a@b-c.d", "x!#$%&'*+/=?^_`{|}~-@a1.b2"] {
        assert!(text::<Email>(ok).is_ok(), "{ok}");
    }
    for bad in [
        "a", "@b.c", "a@", "a@-b.c", "a@b-.c", "a@b..c", "a b@c.d", "a@b@c",
    ] {
        assert_eq!(
            text::<Email>(bad),
            Err(Rejection::Invalid("must be a valid email".into())),
            "{bad}"
        );
    }
    assert_eq!(
        text::<Email>(""),
        Err(Rejection::Invalid("must not be empty".into()))
    );
}

#[test]
fn image_urls_must_parse_without_spaces() {
    assert!(text::<ImageUrl>("https://example.com/a.png").is_ok());
    assert!(text::<ImageUrl>("data:image/png;base64,AAAA").is_ok());
    assert_eq!(
        text::<ImageUrl>("https://example.com/a b.png"),
        Err(Rejection::Invalid("contains spaces".into()))
    );
    assert_eq!(
        text::<ImageUrl>("not-a-url"),
        Err(Rejection::Invalid("is not a valid URL".into()))
    );
}

#[test]
fn client_images_must_be_base64_data_urls() {
    assert!(require_client_image(None).is_ok());
    assert!(require_client_image(Some("data:image/png;base64,iVBORw0KGgo=")).is_ok());
    for bad in [
        "https://example.com/a.png",
        "data:image/png;base64,***",
        "data:text/html;base64,PGI+",
        "data:image/svg+xml;base64,PHN2Zy8+",
    ] {
        assert!(require_client_image(Some(bad)).is_err(), "{bad}");
    }
}

#[test]
fn sign_in_fields_accept_only_none() {
    let context = FieldContext::default();
    for none in [Value::Null, Value::Bool(false), serde_json::json!([])] {
        assert_eq!(NoSignIn::from_json(&none, &context), Ok(NoSignIn));
    }
    for some in [Value::Bool(true), serde_json::json!("hunter2")] {
        assert_eq!(
            NoSignIn::from_json(&some, &context),
            Err(Rejection::Invalid(NO_SIGN_IN.into()))
        );
    }
}

#[test]
fn permission_ids_use_upstreams_messages() {
    assert!(text::<PermissionIdField>("$manage_api_keys").is_ok());
    assert!(text::<PermissionIdField>("team_admin").is_ok());
    assert_eq!(
        text::<PermissionIdField>("Bad"),
        Err(Rejection::Message(
            "Only lowercase letters, numbers, \":\", \"_\" and optional \"$\" at the beginning are allowed".into()
        ))
    );
    assert_eq!(
        text::<PermissionIdField>("$nope"),
        Err(Rejection::Message("Invalid system permission".into()))
    );
}

#[test]
fn text_flags_are_exactly_true_or_false() {
    assert_eq!(text::<TextFlag>("true"), Ok(TextFlag(true)));
    assert_eq!(text::<TextFlag>("false"), Ok(TextFlag(false)));
    assert!(text::<TextFlag>("1").is_err());
    assert!(text::<TextFlag>("TRUE").is_err());
}
