//! `render`: every child object of the ServerlessApps in a YAML stream, offline, through the same
//! validation and builders the cluster and the controller use.

use serde_json::Value;

use crate::api::{API_VERSION, KIND, ServerlessApp};
use crate::children;
use crate::validate::{self, Invalid};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("reading YAML: {0}")]
    Yaml(String),
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("ServerlessApp \"{name}\": {source}")]
    Build {
        name: String,
        #[source]
        source: Box<crate::Error>,
    },
    #[error("no ServerlessApp ({API_VERSION}) found in the input")]
    Empty,
    #[error(
        "ServerlessApps \"{first}\" and \"{second}\" both want {kind} \"{name}\" in one namespace: the API server would keep one of them"
    )]
    Collision {
        first: String,
        second: String,
        kind: String,
        name: String,
    },
}

/// The parsed and validated ServerlessApps of a YAML stream, as kubectl reads it: several
/// documents, or a `kind: List` (what `kubectl get -o yaml` prints); other kinds are skipped.
pub fn parse_apps(input: &str) -> Result<Vec<ServerlessApp>, RenderError> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(input).map_err(|e| RenderError::Yaml(e.to_string()))?;
    let mut apps = Vec::new();
    for mut doc in documents.into_iter().flat_map(list_items) {
        if doc.get("kind").and_then(Value::as_str) != Some(KIND) {
            continue;
        }
        integral_floats_as_integers(&mut doc);
        validate::validate(&doc)?;
        // A value the schema allows but the type does not hold (an int32 above 2^31) names
        // its field, as the API server's message does (down to the component: serde's flatten
        // hides the fields of a component from the path).
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let app: ServerlessApp = serde_path_to_error::deserialize(doc).map_err(|e| {
            RenderError::Invalid(Invalid {
                name,
                causes: vec![format!("{}: Invalid value: {}", e.path(), e.inner())],
            })
        })?;
        apps.push(app);
    }
    if apps.is_empty() {
        return Err(RenderError::Empty);
    }
    Ok(apps)
}

/// A `v1` List's items, or the document itself.
fn list_items(doc: Value) -> Vec<Value> {
    match doc {
        Value::Null => Vec::new(),
        Value::Object(ref o)
            if o.get("kind").and_then(Value::as_str) == Some("List")
                && o.get("apiVersion").and_then(Value::as_str) == Some("v1") =>
        {
            match o.get("items") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            }
        }
        doc => vec![doc],
    }
}

/// `3.0` where an integer is expected: the API server's JSON decoding takes it as 3 (and the
/// schema calls it an integer), so render does too.
fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15) {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

/// Multi-document YAML of every child of every app in `input`.
pub fn render(input: &str) -> Result<String, RenderError> {
    let mut out = String::new();
    // (namespace, kind, name) -> the app that wants it
    let mut owners = std::collections::BTreeMap::new();
    for app in parse_apps(input)? {
        let name = app.metadata.name.clone().unwrap_or_default();
        let build = |source| RenderError::Build {
            name: name.clone(),
            source: Box::new(source),
        };
        for child in children::desired(&app).map_err(build)? {
            let key = (
                app.metadata.namespace.clone().unwrap_or_default(),
                format!("{:?}", child.kind()),
                child.name(),
            );
            if let Some(first) = owners.insert(key.clone(), name.clone()) {
                return Err(RenderError::Collision {
                    first,
                    second: name,
                    kind: key.1,
                    name: key.2,
                });
            }
            let value = child.to_json().map_err(build)?;
            let yaml =
                serde_saphyr::to_string(&value).map_err(|e| RenderError::Yaml(e.to_string()))?;
            out.push_str("---\n");
            out.push_str(&yaml);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "apiVersion: serverless-operator.dev/v1alpha1
kind: ServerlessApp
metadata: {name: NAME}
spec:
  image: registry.example/app:1
  master:
    ports: [{name: http, port: 8080}]
    replicas: {min: 1, max: MAX}
WORKERS";

    fn app(name: &str, max: &str, workers: &str) -> String {
        APP.replace("NAME", name)
            .replace("MAX", max)
            .replace("WORKERS", workers)
    }

    #[test]
    fn a_list_renders_like_its_items() {
        let one = app("shop", "1", "");
        let list = format!(
            "apiVersion: v1\nkind: List\nitems:\n- {}",
            one.replace('\n', "\n  ")
        );
        assert_eq!(render(&list).unwrap(), render(&one).unwrap());
    }

    #[test]
    fn integral_floats_are_integers() {
        assert_eq!(
            render(&app("shop", "1.0", "")).unwrap(),
            render(&app("shop", "1", "")).unwrap()
        );
        assert!(matches!(
            render(&app("shop", "1.5", "")),
            Err(RenderError::Invalid(_))
        ));
    }

    #[test]
    fn a_value_out_of_its_type_names_its_field() {
        let input = app("shop", "1", "").replace(
            "replicas: {min: 1, max: 1}",
            "replicas: {min: 1, max: 1}\n    livenessProbe: {tcpSocket: {port: 80}, failureThreshold: 3000000000}",
        );
        let err = render(&input).unwrap_err().to_string();
        assert!(
            err.contains(
                "is invalid: spec.master: Invalid value: invalid value: integer `3000000000`"
            ),
            "{err}"
        );
    }

    #[test]
    fn apps_whose_children_collide_are_refused() {
        let worker = "  workers:\n  - {name: b, replicas: {min: 1, max: 1}, ports: [{name: http, port: 8080}]}\n";
        let input = format!("{}\n---\n{}", app("a", "1", worker), app("a-b", "1", ""));
        let err = render(&input).unwrap_err().to_string();
        assert!(
            err.contains("\"a\" and \"a-b\" both want Deployment \"a-b\""),
            "{err}"
        );
    }
}
