//! Offline admission: the checks the API server runs on a ServerlessApp, so `render` rejects a
//! bad manifest with the message `kubectl apply` would print.
//!
//! Three passes over the CRD's own schema, in the API server's order: strict field decoding
//! (unknown fields), OpenAPI (types, ranges, patterns, required), then the CEL rules.

use std::sync::LazyLock;

use kube::CustomResourceExt;
use serde_json::Value;

use crate::api::{API_VERSION, KIND, ServerlessApp};

/// The CRD's openAPIV3Schema, built once.
static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    let crd = ServerlessApp::crd();
    crd.spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Null)
});

/// Why an object was rejected: one line per problem, each starting with the field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub name: String,
    pub causes: Vec<String>,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "The {KIND} \"{}\" is invalid: ", self.name)?;
        if let [only] = self.causes.as_slice() {
            write!(f, "{only}")
        } else {
            write!(f, "[{}]", self.causes.join(", "))
        }
    }
}

impl std::error::Error for Invalid {}

/// Validate one ServerlessApp document as the API server would on create.
pub fn validate(object: &Value) -> Result<(), Invalid> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut causes = Vec::new();
    if object.get("apiVersion").and_then(Value::as_str) != Some(API_VERSION) {
        causes.push(format!(
            "apiVersion: Unsupported value: must be \"{API_VERSION}\""
        ));
    }
    if name.is_empty() {
        causes.push("metadata.name: Required value: name is required".into());
    }
    object_meta(object, &mut causes);
    unknown_fields(&SCHEMA, object, "", &mut causes);
    if causes.is_empty() {
        openapi(object, &mut causes);
        list_map_keys(&SCHEMA, object, "", &mut causes);
    }
    if causes.is_empty() {
        cel(object, &mut causes);
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(Invalid { name, causes })
    }
}

/// The API server refuses a request body above this size before it decodes it.
const MAX_REQUEST_BYTES: usize = 3 * 1024 * 1024;
/// ...and annotations above this total size.
const MAX_ANNOTATION_BYTES: usize = 256 * 1024;
/// Fields of ObjectMeta; strict decoding refuses any other.
const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// What the API server checks of `metadata` itself (the CRD's schema says only `type: object`):
/// known fields, the namespace, label keys and values, annotation size, and the body's size.
fn object_meta(object: &Value, causes: &mut Vec<String>) {
    let size = serde_json::to_vec(object).map_or(0, |b| b.len());
    if size > MAX_REQUEST_BYTES {
        causes.push(format!(
            "<root>: Too long: the object is {size} bytes; the API server takes at most {MAX_REQUEST_BYTES}"
        ));
    }
    let Some(meta) = object.get("metadata").and_then(Value::as_object) else {
        return;
    };
    for key in meta.keys() {
        if !OBJECT_META_FIELDS.contains(&key.as_str()) {
            causes.push(format!("metadata.{key}: unknown field \"metadata.{key}\""));
        }
    }
    if let Some(ns) = meta.get("namespace").and_then(Value::as_str)
        && !is_dns_label(ns)
    {
        causes.push(format!(
            "metadata.namespace: Invalid value: \"{ns}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
        ));
    }
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (key, value) in labels {
            if !is_qualified_name(key) {
                causes.push(format!(
                    "metadata.labels: Invalid value: \"{key}\": a label key is an optional DNS subdomain prefix and '/', and a name of at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character"
                ));
            }
            let value = value.as_str().unwrap_or_default();
            if !is_label_value(value) {
                causes.push(format!(
                    "metadata.labels: Invalid value: \"{value}\": a label value is empty or at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character"
                ));
            }
        }
    }
    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        let total: usize = annotations
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum();
        if total > MAX_ANNOTATION_BYTES {
            causes.push(format!(
                "metadata.annotations: Too long: may not be more than {MAX_ANNOTATION_BYTES} bytes"
            ));
        }
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| p.len() <= 253 && p.split('.').all(is_dns_label));
    prefix_ok && !name.is_empty() && is_label_value(name)
}

/// Strict decoding, as `kubectl apply` requests by default: a field the schema does not know is
/// an error, not silently pruned.
fn unknown_fields(schema: &Value, value: &Value, path: &str, causes: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in map {
                let child_path = join(path, key);
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(child_schema), _) | (None, Some(child_schema)) => {
                        unknown_fields(child_schema, child, &child_path, causes)
                    }
                    // Top-level metadata is checked by the API server's own ObjectMeta.
                    (None, None)
                        if path.is_empty()
                            && matches!(
                                key.as_str(),
                                "apiVersion" | "kind" | "metadata" | "status"
                            ) => {}
                    (None, None) if properties.is_some() => {
                        causes.push(format!("{child_path}: unknown field \"{child_path}\""))
                    }
                    (None, None) => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    unknown_fields(item_schema, item, &format!("{path}[{i}]"), causes);
                }
            }
        }
        _ => {}
    }
}

fn openapi(object: &Value, causes: &mut Vec<String>) {
    // The metadata schema in a CRD is only `type: object`; the API server checks ObjectMeta itself.
    let validator = match jsonschema::draft4::new(&SCHEMA) {
        Ok(v) => v,
        Err(e) => {
            causes.push(format!("internal: the CRD schema does not compile: {e}"));
            return;
        }
    };
    for error in validator.iter_errors(object) {
        let path = error
            .instance_path()
            .as_str()
            .trim_start_matches('/')
            .split('/')
            // JSON Pointer escapes; the API server prints a map key such as a label key as is.
            .map(|seg| seg.replace("~1", "/").replace("~0", "~"))
            .fold(String::new(), |acc, seg| match seg.parse::<usize>() {
                Ok(i) if !acc.is_empty() => format!("{acc}[{i}]"),
                _ => join(&acc, &seg),
            });
        causes.push(format!(
            "{path}: Invalid value: {}: {error}",
            error.instance()
        ));
    }
}

/// The keys of an `x-kubernetes-list-type: map` list are unique, as the API server checks them
/// (worker names, port names): no CEL rule repeats that check.
fn list_map_keys(schema: &Value, value: &Value, path: &str, causes: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            for (key, child) in map {
                if let Some(child_schema) = properties.and_then(|p| p.get(key)) {
                    list_map_keys(child_schema, child, &join(path, key), causes);
                }
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = schema.get("items") else {
                return;
            };
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|keys| keys.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let is_map =
                schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map");
            let mut seen = std::collections::BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                if is_map && !keys.is_empty() {
                    let key: serde_json::Map<String, Value> = keys
                        .iter()
                        .map(|k| (k.to_string(), item.get(*k).cloned().unwrap_or(Value::Null)))
                        .collect();
                    let key = Value::Object(key).to_string();
                    if !seen.insert(key.clone()) {
                        causes.push(format!("{item_path}: Duplicate value: {key}"));
                    }
                }
                list_map_keys(item_schema, item, &item_path, causes);
            }
        }
        _ => {}
    }
}

fn cel(object: &Value, causes: &mut Vec<String>) {
    if let Err(errors) = kube::core::cel::Validator::new().validate(&SCHEMA, object, None) {
        for e in errors.iter() {
            let path = if e.field_path.is_empty() {
                "<root>"
            } else {
                &e.field_path
            };
            // As the API server prints it: the value of a scalar field, none for an object.
            let value = match value_at(object, &e.field_path) {
                Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                    format!("{v}: ")
                }
                _ => String::new(),
            };
            causes.push(format!("{path}: Invalid value: {value}{}", e.message));
        }
    }
}

/// The value at a field path such as `spec.workers[0].name`.
fn value_at<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.replace('[', ".[")
        .split('.')
        .filter(|segment| !segment.is_empty())
        .try_fold(object, |node, segment| {
            match segment.strip_prefix('[').and_then(|i| i.strip_suffix(']')) {
                Some(index) => node.get(index.parse::<usize>().ok()?),
                None => node.get(segment),
            }
        })
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn app(metadata: Value) -> Value {
        json!({
            "apiVersion": API_VERSION, "kind": KIND, "metadata": metadata,
            "spec": {"image": "registry.example/a:1",
                     "master": {"ports": [{"name": "http", "port": 80}], "replicas": {"min": 1, "max": 1}}}
        })
    }

    fn causes(metadata: Value) -> String {
        validate(&app(metadata))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn metadata_is_checked_as_the_api_server_does() {
        assert_eq!(
            causes(json!({"name": "a", "namespace": "team-a",
                "labels": {"app.kubernetes.io/name": "a", "team": ""},
                "annotations": {"note": "x"}})),
            ""
        );
        for (metadata, expected) in [
            (
                json!({"name": "a", "nmespace": "x"}),
                "metadata.nmespace: unknown field",
            ),
            (
                json!({"name": "a", "namespace": "Team_A"}),
                "metadata.namespace: Invalid value",
            ),
            (
                json!({"name": "a", "labels": {"my team": "a"}}),
                "metadata.labels: Invalid value: \"my team\"",
            ),
            (
                json!({"name": "a", "labels": {"Example.com/team": "a"}}),
                "metadata.labels: Invalid value: \"Example.com/team\"",
            ),
            (
                json!({"name": "a", "labels": {"team": "a b"}}),
                "metadata.labels: Invalid value: \"a b\"",
            ),
            (
                json!({"name": "a", "annotations": {"big": "x".repeat(300 * 1024)}}),
                "metadata.annotations: Too long",
            ),
            (
                json!({"name": "a", "annotations": {"a": "x".repeat(200 * 1024),
                    "b": "x".repeat(200 * 1024)}}),
                "metadata.annotations: Too long",
            ),
        ] {
            let message = causes(metadata.clone());
            assert!(message.contains(expected), "{metadata}: {message}");
        }
    }

    #[test]
    fn a_rule_error_shows_a_scalar_value_and_no_object() {
        let mut bad = crate::testing::cases::valid();
        bad["spec"]["workers"][0]["name"] = json!("master");
        bad["spec"]["workers"][0]["replicas"] = json!({"min": 3, "max": 2});
        let message = validate(&bad).unwrap_err().to_string();
        assert!(
            message.contains("spec.workers[0].name: Invalid value: \"master\": spec.workers[].name must not be 'master'"),
            "{message}"
        );
        assert!(
            message
                .contains("spec.workers[0].replicas: Invalid value: replicas.min must not exceed"),
            "{message}"
        );
        assert_eq!(
            value_at(&bad, "spec.workers[0].replicas.min"),
            Some(&json!(3))
        );
        assert_eq!(value_at(&bad, "spec.workers[9].name"), None);
    }

    #[test]
    fn a_body_above_the_request_limit_is_refused() {
        let mut big = app(json!({"name": "a"}));
        big["spec"]["env"] = json!([{"name": "BIG", "value": "x".repeat(4 * 1024 * 1024)}]);
        let message = validate(&big).unwrap_err().to_string();
        assert!(message.contains("<root>: Too long"), "{message}");
    }
}
