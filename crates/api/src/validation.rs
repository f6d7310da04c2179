//! Turning a JSON body into a request DTO while collecting EVERY problem:
//! missing, mistyped and unknown fields from the shape check, rule violations
//! from garde, each with its JSON path and a stable code.

use std::borrow::Cow;
use std::fmt::Display;

use domain::ParseError;
use garde::i18n::{I18n, InvalidCreditCard, InvalidEmail, InvalidPhoneNumber, InvalidUrl, IpKind};
use serde::Serialize;
use serde_json::{Map, Value};

/// One invalid field in a 422 problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path, e.g. `items[0].quantity`; empty for the body itself.
    pub field: String,
    /// Stable machine-readable code: `required`, `type`, `unknown_field`, `length`, `range`,
    /// `email`, `pattern`, `control_characters`, `one_of`.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

/// A request body type that can be read from any JSON value, reporting what
/// does not fit instead of stopping at the first problem.
pub trait FromJson: Sized + garde::Validate<Context = ()> {
    /// Reads `value` found at `path`; records every shape problem in `errors`.
    /// Fields that are missing or mistyped are left `None`.
    fn from_json(value: Value, path: &str, errors: &mut Vec<FieldError>) -> Self;
}

/// Reads a whole body: shape first, then garde's rules on what could be read.
pub fn read<T: FromJson>(value: Value) -> Result<T, Vec<FieldError>> {
    let mut errors = Vec::new();
    let request = T::from_json(value, "", &mut errors);
    if let Err(report) = garde::with_i18n(CodedMessages, || request.validate()) {
        for (path, error) in report.iter() {
            let field = path.to_string();
            // A field already reported as missing, mistyped or unreadable (or
            // inside such a field) would only be reported again as "required".
            if errors.iter().any(|shape| is_within(&field, &shape.field)) {
                continue;
            }
            let (code, message) = decode(error.message());
            errors.push(FieldError::new(field, code, message));
        }
    }
    if errors.is_empty() { Ok(request) } else { Err(errors) }
}

fn is_within(field: &str, outer: &str) -> bool {
    outer.is_empty()
        || field == outer
        || field.strip_prefix(outer).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// Joins a path and a key the way garde prints paths.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// Reads the members of one JSON object, recording problems as it goes.
#[derive(Debug)]
pub struct ObjectReader<'a> {
    path: String,
    members: Map<String, Value>,
    errors: &'a mut Vec<FieldError>,
}

impl<'a> ObjectReader<'a> {
    /// Starts on `value`; anything but an object is one `type` error (and every
    /// member then reads as absent, without further reports).
    pub fn new(value: Value, path: &str, errors: &'a mut Vec<FieldError>) -> Self {
        let members = match value {
            Value::Object(members) => members,
            other => {
                errors.push(FieldError::new(path, "type", format!("must be a JSON object, not {}", kind(&other))));
                Map::new()
            }
        };
        Self { path: path.to_owned(), members, errors }
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.members.remove(key)
    }

    fn mistyped(&mut self, key: &str, expected: &str, got: &Value) {
        let message = format!("must be {expected}, not {}", kind(got));
        self.errors.push(FieldError::new(join(&self.path, key), "type", message));
    }

    /// A string member.
    pub fn string(&mut self, key: &str) -> Option<String> {
        match self.take(key)? {
            Value::String(text) => Some(text),
            other => {
                self.mistyped(key, "a string", &other);
                None
            }
        }
    }

    /// An integer member: a JSON integer that fits in 64 bits. `2.5`, `1.0`,
    /// `1E2`, `"2"` and `true` are not integers.
    pub fn integer(&mut self, key: &str) -> Option<i64> {
        match self.take(key)? {
            Value::Number(number) if number.is_i64() => number.as_i64(),
            Value::Number(number) if number.is_u64() => {
                let field = join(&self.path, key);
                self.errors.push(FieldError::new(field, "range", "is far too large"));
                None
            }
            other => {
                self.mistyped(key, "an integer", &other);
                None
            }
        }
    }

    /// An array member, each element read by `element` at its indexed path.
    pub fn array<T>(&mut self, key: &str, element: impl Fn(Value, &str, &mut Vec<FieldError>) -> T) -> Option<Vec<T>> {
        match self.take(key)? {
            Value::Array(values) => {
                let path = join(&self.path, key);
                let items = values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| element(v, &format!("{path}[{i}]"), self.errors))
                    .collect();
                Some(items)
            }
            other => {
                self.mistyped(key, "an array", &other);
                None
            }
        }
    }

    /// Reports every member nobody asked for.
    pub fn finish(self) {
        for key in self.members.keys() {
            self.errors.push(FieldError::new(join(&self.path, key), "unknown_field", "is not a known field"));
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// garde carries only a message per error; the code travels in front of it,
/// separated by this character, from here (the only place codes are given)
/// to [`decode`].
const SEPARATOR: char = '\u{1f}';

fn coded(code: &str, message: impl Display) -> Cow<'static, str> {
    Cow::Owned(format!("{code}{SEPARATOR}{message}"))
}

fn decode(message: &str) -> (&'static str, String) {
    let (code, text) = message.split_once(SEPARATOR).unwrap_or(("invalid", message));
    (known_code(code), text.to_owned())
}

/// Codes are `&'static str` in the response type; map back to the static set.
fn known_code(code: &str) -> &'static str {
    const CODES: [&str; 9] =
        ["required", "length", "range", "email", "pattern", "control_characters", "one_of", "format", "invalid"];
    CODES.into_iter().find(|known| *known == code).unwrap_or("invalid")
}

/// garde's message catalogue, replaced by one that carries codes.
#[derive(Debug)]
struct CodedMessages;

impl I18n for CodedMessages {
    fn length_lower_than(&self, min: usize) -> Cow<'static, str> {
        coded("length", format_args!("must have at least {min}"))
    }
    fn length_greater_than(&self, max: usize) -> Cow<'static, str> {
        coded("length", format_args!("must have at most {max}"))
    }
    fn range_lower_than(&self, min: &dyn Display) -> Cow<'static, str> {
        coded("range", format_args!("must be at least {min}"))
    }
    fn range_greater_than(&self, max: &dyn Display) -> Cow<'static, str> {
        coded("range", format_args!("must be at most {max}"))
    }
    fn credit_card_invalid(&self, reason: InvalidCreditCard) -> Cow<'static, str> {
        coded("format", reason)
    }
    fn pattern_no_match(&self, pattern: &dyn Display) -> Cow<'static, str> {
        coded("pattern", format_args!("does not match {pattern}"))
    }
    fn contains_missing(&self, pattern: &dyn Display) -> Cow<'static, str> {
        coded("pattern", format_args!("does not contain {pattern}"))
    }
    fn url_invalid(&self, reason: InvalidUrl) -> Cow<'static, str> {
        coded("format", reason)
    }
    fn prefix_missing(&self, pattern: &dyn Display) -> Cow<'static, str> {
        coded("pattern", format_args!("does not begin with {pattern}"))
    }
    fn suffix_missing(&self, pattern: &dyn Display) -> Cow<'static, str> {
        coded("pattern", format_args!("does not end with {pattern}"))
    }
    fn phone_number_invalid(&self, reason: InvalidPhoneNumber) -> Cow<'static, str> {
        coded("format", reason)
    }
    fn ip_invalid(&self, _: IpKind) -> Cow<'static, str> {
        coded("format", "not a valid IP address")
    }
    fn matches_field_mismatch(&self, field: &dyn Display) -> Cow<'static, str> {
        coded("invalid", format_args!("does not match {field}"))
    }
    fn email_invalid(&self, reason: InvalidEmail) -> Cow<'static, str> {
        coded("email", reason)
    }
    fn ascii_invalid(&self) -> Cow<'static, str> {
        coded("pattern", "must be ASCII")
    }
    fn alphanumeric_invalid(&self) -> Cow<'static, str> {
        coded("pattern", "must be alphanumeric")
    }
    fn required_not_set(&self) -> Cow<'static, str> {
        coded("required", "is required")
    }
}

/// A garde `custom` rule for a text field that accepts exactly what a domain
/// constructor accepts, so the rules live in the domain and the edge reports them.
pub fn text_rule<T>(parse: fn(&str) -> Result<T, ParseError>) -> impl FnOnce(&Option<String>, &()) -> garde::Result {
    move |value, _| report(value.as_deref().map(parse))
}

/// [`text_rule`] for an integer field.
pub fn integer_rule<T>(parse: fn(i64) -> Result<T, ParseError>) -> impl FnOnce(&Option<i64>, &()) -> garde::Result {
    move |value, _| report(value.map(parse))
}

fn report<T>(parsed: Option<Result<T, ParseError>>) -> garde::Result {
    match parsed {
        Some(Err(error)) => Err(garde::Error::new(coded(error.code(), &error))),
        _ => Ok(()),
    }
}
