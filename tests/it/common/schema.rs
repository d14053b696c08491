//! The `--json` outputs checked against their JSON Schemas (`docs/schemas/*.schema.json`). A small validator of
//! the draft 2020-12 keywords those schemas use; a keyword it does not know fails the check, so a schema can never
//! silently say less than it seems to. It is stricter than the schemas in one way: an object may hold only the
//! properties its schema names (the schemas themselves allow more, for fields added later within a version), so
//! every field the program prints is documented.

use std::path::Path;

use serde_json::{Map, Value};

/// Parses `stdout` as the output of a `--json` command and checks it against `docs/schemas/NAME.schema.json`.
pub fn checked_json(stdout: &[u8], name: &str) -> Value {
    let value: Value = serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(stdout)));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/schemas/{name}.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut errors = Vec::new();
    Validator { root: &schema }.check(&schema, &value, "$", &mut errors);
    assert!(errors.is_empty(), "{name}.schema.json: {}\n{value:#}", errors.join("\n"));
    value
}

/// `doctor --json`'s checks, checked against its schema.
pub fn doctor_checks(stdout: &[u8]) -> Vec<Value> {
    checked_json(stdout, "doctor")["checks"].as_array().cloned().unwrap_or_default()
}

/// `status --json`'s instances, checked against its schema.
pub fn status_instances(stdout: &[u8]) -> Vec<Value> {
    checked_json(stdout, "status")["instances"].as_array().cloned().unwrap_or_default()
}

struct Validator<'a> {
    root: &'a Value,
}

const KNOWN: &[&str] = &[
    "$schema",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "const",
    "minimum",
    "format",
    "pattern",
    "anyOf",
    "$ref",
    "$defs",
];

impl Validator<'_> {
    fn check(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let Some(schema) = schema.as_object() else { panic!("{at}: a schema must be an object") };
        if let Some(unknown) = schema.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            panic!("{at}: the test's validator does not know the keyword {unknown:?}");
        }
        if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
            let name = target.strip_prefix("#/$defs/").unwrap_or_else(|| panic!("{at}: unsupported $ref {target}"));
            return self.check(&self.root["$defs"][name], value, at, errors);
        }
        if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
            let fits = options.iter().any(|option| {
                let mut own = Vec::new();
                self.check(option, value, at, &mut own);
                own.is_empty()
            });
            if !fits {
                errors.push(format!("{at}: fits none of anyOf"));
            }
        }
        self.check_value(schema, value, at, errors);
        if let (Some(object), Value::Object(map)) = (schema.get("properties"), value) {
            self.check_object(schema, object.as_object().unwrap(), map, at, errors);
        }
        if let (Some(items), Value::Array(list)) = (schema.get("items"), value) {
            for (i, item) in list.iter().enumerate() {
                self.check(items, item, &format!("{at}[{i}]"), errors);
            }
        }
    }

    fn check_value(&self, schema: &Map<String, Value>, value: &Value, at: &str, errors: &mut Vec<String>) {
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(one) => vec![one],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => panic!("{at}: bad type"),
            };
            if !types.iter().any(|t| is_type(value, t)) {
                errors.push(format!("{at}: {value} is not {types:?}"));
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.contains(value)
        {
            errors.push(format!("{at}: {value} is not one of {options:?}"));
        }
        if let Some(constant) = schema.get("const")
            && constant != value
        {
            errors.push(format!("{at}: {value} is not {constant}"));
        }
        if let (Some(minimum), Some(number)) = (schema.get("minimum").and_then(Value::as_f64), value.as_f64())
            && number < minimum
        {
            errors.push(format!("{at}: {number} is below {minimum}"));
        }
        if let (Some("date-time"), Some(text)) = (schema.get("format").and_then(Value::as_str), value.as_str())
            && !(text.parse::<jiff::Timestamp>().is_ok() && text.ends_with('Z'))
        {
            errors.push(format!("{at}: {text:?} is not an RFC 3339 time in UTC"));
        }
        if let (Some(pattern), Some(text)) = (schema.get("pattern").and_then(Value::as_str), value.as_str()) {
            let allowed = pattern.strip_prefix("^[a-z0-9_]").unwrap_or_else(|| panic!("{at}: unsupported pattern"));
            assert!(matches!(allowed, "*$" | "+$"), "{at}: unsupported pattern {pattern}");
            let ok = text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok || (allowed == "+$" && text.is_empty()) {
                errors.push(format!("{at}: {text:?} does not match {pattern}"));
            }
        }
    }

    fn check_object(
        &self,
        schema: &Map<String, Value>,
        properties: &Map<String, Value>,
        map: &Map<String, Value>,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let key = required.as_str().unwrap();
            if !map.contains_key(key) {
                errors.push(format!("{at}: {key} is missing"));
            }
        }
        for (key, item) in map {
            match properties.get(key) {
                Some(sub) => self.check(sub, item, &format!("{at}.{key}"), errors),
                None => errors.push(format!("{at}.{key}: printed but not in the schema")),
            }
        }
    }
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        other => panic!("unknown type {other}"),
    }
}
