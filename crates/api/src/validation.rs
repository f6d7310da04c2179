//! Turning a JSON body into domain values while collecting EVERY problem.
//!
//! Each rule is stated once and applied once: the reader checks the JSON
//! shape (types, unknown members) and hands each value to the domain
//! constructor that owns its rule (`Sku::parse`, `Quantity::parse`…); garde
//! states which members a request must have, and finds them at every depth.
//! Each problem comes out with its JSON path and a stable code.

use domain::ParseError;
use serde::Serialize;
use serde_json::{Map, Value};

/// One invalid field in a 422 problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path, e.g. `items[0].quantity`; empty for the body itself.
    pub field: String,
    /// Stable machine-readable code: `required`, `type`, `unknown_field`, `length`, `range`,
    /// `email`, `pattern`, `control_characters`, `one_of`; for a webhook `url`,
    /// `private_address` or `unresolvable`.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }

    /// A domain rule that the value at `field` breaks.
    pub fn rule(field: impl Into<String>, error: &ParseError) -> Self {
        Self::new(field, error.code(), error.to_string())
    }
}

/// A request body type that can be read from any JSON value, reporting what
/// does not fit instead of stopping at the first problem.
///
/// Its garde rules state presence only (`required`, `dive`): the value rules
/// belong to the domain and are applied while reading.
pub trait FromJson: Sized + garde::Validate<Context = ()> {
    /// The domain value the request stands for.
    type Parsed;

    /// Reads `value` found at `path`, parsing each member with the domain;
    /// records every problem in `errors`. Members that are missing, mistyped
    /// or invalid are left `None`.
    fn from_json(value: Value, path: &str, errors: &mut Vec<FieldError>) -> Self;

    /// The domain value, once every member is there; records the problems
    /// that only the whole request shows.
    fn into_parsed(self, errors: &mut Vec<FieldError>) -> Option<Self::Parsed>;
}

/// Reads a whole body into its domain value, or lists every invalid field
/// (sorted by path, so the same body always gets the same answer).
pub fn read<T: FromJson>(value: Value) -> Result<T::Parsed, Vec<FieldError>> {
    let mut errors = Vec::new();
    let request = T::from_json(value, "", &mut errors);
    if let Err(report) = request.validate() {
        for (path, _) in report.iter() {
            let field = path.to_string();
            // A member already reported as mistyped or invalid (or inside
            // such a member) is absent only because of that.
            if !errors.iter().any(|found| is_within(&field, &found.field)) {
                errors.push(FieldError::new(field, "required", "is required"));
            }
        }
    }
    let parsed = request.into_parsed(&mut errors);
    match parsed {
        Some(parsed) if errors.is_empty() => Ok(parsed),
        _ => {
            errors.sort_by(|a, b| a.field.cmp(&b.field));
            Err(errors)
        }
    }
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

    /// A boolean member.
    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.take(key)? {
            Value::Bool(value) => Some(value),
            other => {
                self.mistyped(key, "a boolean", &other);
                None
            }
        }
    }

    /// A string member, parsed by the domain constructor that owns its rule.
    pub fn text<T>(&mut self, key: &str, parse: fn(&str) -> Result<T, ParseError>) -> Option<T> {
        let text = self.string(key)?;
        self.parsed(key, parse(&text))
    }

    /// An integer member, parsed by the domain constructor that owns its rule.
    pub fn number<T>(&mut self, key: &str, parse: fn(i64) -> Result<T, ParseError>) -> Option<T> {
        let number = self.integer(key)?;
        self.parsed(key, parse(number))
    }

    fn parsed<T>(&mut self, key: &str, result: Result<T, ParseError>) -> Option<T> {
        result.map_err(|error| self.errors.push(FieldError::rule(join(&self.path, key), &error))).ok()
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

/// An array element that must be a string, parsed by the domain
/// constructor that owns its rule.
pub fn text_element<T>(
    value: Value,
    path: &str,
    errors: &mut Vec<FieldError>,
    parse: fn(&str) -> Result<T, ParseError>,
) -> Option<T> {
    match value {
        Value::String(text) => parse(&text).map_err(|e| errors.push(FieldError::rule(path, &e))).ok(),
        other => {
            errors.push(FieldError::new(path, "type", format!("must be a string, not {}", kind(&other))));
            None
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
