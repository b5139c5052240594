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
    unknown_fields(&SCHEMA, object, "", &mut causes);
    if causes.is_empty() {
        openapi(object, &mut causes);
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
            .fold(String::new(), |acc, seg| match seg.parse::<usize>() {
                Ok(i) if !acc.is_empty() => format!("{acc}[{i}]"),
                _ => join(&acc, seg),
            });
        causes.push(format!(
            "{path}: Invalid value: {}: {error}",
            error.instance()
        ));
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
            causes.push(format!("{path}: Invalid value: \"object\": {}", e.message));
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}
