//! `Idempotency-Key`: parsing the header and fingerprinting the request.

use actix_web::HttpRequest;
use domain::{IdempotencyKey, IdempotentRequest};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::problem::ApiError;

/// The header's name.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on a replayed answer.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// The key of a request, if it has one; a malformed key is 400 `invalid_header`.
pub fn key_of(req: &HttpRequest, body: &Value) -> Result<Option<IdempotentRequest>, ApiError> {
    let mut values = req.headers().get_all(IDEMPOTENCY_KEY);
    let Some(value) = values.next() else { return Ok(None) };
    let invalid = |why: String| ApiError::InvalidHeader(format!("Idempotency-Key {why}"));
    if values.next().is_some() {
        return Err(invalid("must be sent once".to_owned()));
    }
    let text = value.to_str().map_err(|_| invalid("must be visible ASCII characters".to_owned()))?;
    let key = IdempotencyKey::parse(text).map_err(|e| invalid(e.to_string()))?;
    Ok(Some(IdempotentRequest { key, fingerprint: fingerprint(body) }))
}

/// SHA-256 of the body as a canonical JSON value: member order and
/// whitespace do not change it, any other difference does.
pub fn fingerprint(body: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(body, &mut canonical);
    Sha256::digest(canonical.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(members) => {
            let mut keys: Vec<&String> = members.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(member) = members.get(key) {
                    write_canonical(member, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn member_order_and_whitespace_do_not_matter() {
        let a: Value = serde_json::from_str(r#"{"b": [1, {"y": 2, "x": 1}], "a": "z"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":"z","b":[1,{"x":1,"y":2}]}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 64);
    }

    #[test]
    fn any_other_difference_does() {
        let base = json!({"a": [1, 2], "b": "x"});
        for other in [
            json!({"a": [2, 1], "b": "x"}),
            json!({"a": [1, 2], "b": "X"}),
            json!({"a": [1, 2]}),
            json!({"a": [1, 2], "b": "x", "c": null}),
        ] {
            assert_ne!(fingerprint(&base), fingerprint(&other), "{other}");
        }
    }
}
