//! JavaScript's ways of turning values into text and text into numbers, as far as upstream's
//! validation messages show them (yup's `printValue`, `Number.prototype.toString`, unary `+`).
//!
//! Validation messages quote the offending value, so to produce upstream's messages byte for byte
//! keygate must print values the way yup does under Node.js.

use serde_json::Value;

/// Formats a number like JavaScript's `String(number)`, except that `-0` prints as `-0`
/// (yup's `printNumber` special case).
pub(crate) fn js_number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let magnitude = x.abs();
    if (1e-6..1e21).contains(&magnitude) {
        // Rust's Display prints the shortest round-trip digits without an exponent, like JS in
        // this range.
        return format!("{x}");
    }
    // Outside it JS switches to exponent form and always signs the exponent: 1e+21, 1.5e-7.
    let text = format!("{x:e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) if !exponent.starts_with('-') => {
            format!("{mantissa}e+{exponent}")
        }
        _ => text,
    }
}

/// Prints a JSON number as JavaScript would after `JSON.parse`.
fn js_json_number(number: &serde_json::Number) -> String {
    if let Some(i) = number.as_i64() {
        // Integers beyond 2^53 lose precision in JS; print through f64 to match it.
        if i.unsigned_abs() <= 1 << 53 {
            return i.to_string();
        }
    }
    js_number(number.as_f64().unwrap_or(f64::NAN))
}

/// yup's `printSimpleValue(value, quoteStrings = true)`: `None` for arrays and objects.
fn print_simple(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("null".to_owned()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(js_json_number(n)),
        // Quoted without escaping, exactly as yup does.
        Value::String(s) => Some(format!("\"{s}\"")),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// yup's `printValue(value, quoteStrings = true)`: scalars printed directly; arrays and objects
/// through `JSON.stringify(value, replacer, 2)` whose replacer turns every scalar into the
/// string yup prints for it (so `[1]` prints as `[\n  "1"\n]`).
pub(crate) fn print_value(value: &Value) -> String {
    if let Some(simple) = print_simple(value) {
        return simple;
    }
    fn stringify_leaves(value: &Value) -> Value {
        match value {
            Value::Array(items) => Value::Array(items.iter().map(stringify_leaves).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), stringify_leaves(v)))
                    .collect(),
            ),
            scalar => Value::String(print_simple(scalar).unwrap_or_default()),
        }
    }
    serde_json::to_string_pretty(&stringify_leaves(value)).unwrap_or_default()
}

/// Prints a text value (query string, path segment, form field) as yup quotes it.
pub(crate) fn print_text(text: &str) -> String {
    format!("\"{text}\"")
}

/// JavaScript's unary `+` on a string after yup removed all whitespace (yup's number cast).
/// Empty text is `NaN` (yup's rule, where JS would say 0).
pub(crate) fn js_string_to_number(text: &str) -> f64 {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return f64::NAN;
    }
    match compact.as_str() {
        "Infinity" | "+Infinity" => return f64::INFINITY,
        "-Infinity" => return f64::NEG_INFINITY,
        _ => {}
    }
    for (prefixes, radix) in [(["0x", "0X"], 16), (["0o", "0O"], 8), (["0b", "0B"], 2)] {
        for prefix in prefixes {
            if let Some(digits) = compact.strip_prefix(prefix) {
                return integer_in_radix(digits, radix);
            }
        }
    }
    if is_decimal_literal(&compact) {
        compact.parse::<f64>().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    }
}

fn integer_in_radix(digits: &str, radix: u32) -> f64 {
    if digits.is_empty() {
        return f64::NAN;
    }
    let mut value = 0.0_f64;
    for c in digits.chars() {
        match c.to_digit(radix) {
            Some(d) => value = value * f64::from(radix) + f64::from(d),
            None => return f64::NAN,
        }
    }
    value
}

/// `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`
fn is_decimal_literal(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let mut mantissa_digits = i - int_start;
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        mantissa_digits += i - frac_start;
    }
    if mantissa_digits == 0 {
        return false;
    }
    if i < bytes.len() && matches!(bytes[i], b'e' | b'E') {
        i += 1;
        if i < bytes.len() && matches!(bytes[i], b'+' | b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == bytes.len()
}

/// The length JavaScript reports for a string (UTF-16 code units), which yup's `max` compares.
pub(crate) fn js_length(text: &str) -> usize {
    text.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn numbers_print_like_javascript() {
        assert_eq!(js_number(123.0), "123");
        assert_eq!(js_number(1.5), "1.5");
        assert_eq!(js_number(-0.0), "-0");
        assert_eq!(js_number(0.1), "0.1");
        assert_eq!(js_number(1e20), "100000000000000000000");
        assert_eq!(js_number(1e21), "1e+21");
        assert_eq!(js_number(1.5e-7), "1.5e-7");
        assert_eq!(js_number(0.000001), "0.000001");
        assert_eq!(js_number(f64::NAN), "NaN");
        assert_eq!(js_number(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn values_print_like_yup() {
        assert_eq!(print_value(&json!(123)), "123");
        assert_eq!(print_value(&json!("abc")), "\"abc\"");
        assert_eq!(print_value(&json!(null)), "null");
        assert_eq!(print_value(&json!(true)), "true");
        assert_eq!(print_value(&json!([])), "[]");
        assert_eq!(print_value(&json!({})), "{}");
        assert_eq!(
            print_value(&json!([1, "x"])),
            "[\n  \"1\",\n  \"\\\"x\\\"\"\n]"
        );
        assert_eq!(print_value(&json!({"a": null})), "{\n  \"a\": \"null\"\n}");
    }

    #[test]
    fn strings_become_numbers_like_unary_plus() {
        assert_eq!(js_string_to_number("12"), 12.0);
        assert_eq!(js_string_to_number(" 1 2 "), 12.0);
        assert_eq!(js_string_to_number("-1.5e3"), -1500.0);
        assert_eq!(js_string_to_number(".5"), 0.5);
        assert_eq!(js_string_to_number("5."), 5.0);
        assert_eq!(js_string_to_number("0x1F"), 31.0);
        assert_eq!(js_string_to_number("0b101"), 5.0);
        assert_eq!(js_string_to_number("Infinity"), f64::INFINITY);
        for nan in [
            "", "abc", "12abc", "inf", "nan", "1e", "-", ".", "0x", "--1", "1.2.3",
        ] {
            assert!(js_string_to_number(nan).is_nan(), "{nan:?}");
        }
    }

    #[test]
    fn lengths_count_utf16_units() {
        assert_eq!(js_length("abc"), 3);
        assert_eq!(js_length("é"), 1);
        assert_eq!(js_length("😀"), 2);
    }

    proptest! {
        #[test]
        fn number_conversion_never_panics(text in ".{0,40}") {
            let _ = js_string_to_number(&text);
        }

        #[test]
        fn finite_numbers_round_trip_through_their_text(x in proptest::num::f64::NORMAL) {
            prop_assert_eq!(js_string_to_number(&js_number(x)), x);
        }
    }
}
