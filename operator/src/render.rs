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
}

/// The parsed and validated ServerlessApps of a YAML stream; other kinds are skipped.
pub fn parse_apps(input: &str) -> Result<Vec<ServerlessApp>, RenderError> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(input).map_err(|e| RenderError::Yaml(e.to_string()))?;
    let mut apps = Vec::new();
    for doc in documents.into_iter().filter(|d| !d.is_null()) {
        if doc.get("kind").and_then(Value::as_str) != Some(KIND) {
            continue;
        }
        validate::validate(&doc)?;
        let app: ServerlessApp =
            serde_json::from_value(doc).map_err(|e| RenderError::Yaml(e.to_string()))?;
        apps.push(app);
    }
    if apps.is_empty() {
        return Err(RenderError::Empty);
    }
    Ok(apps)
}

/// Multi-document YAML of every child of every app in `input`.
pub fn render(input: &str) -> Result<String, RenderError> {
    let mut out = String::new();
    for app in parse_apps(input)? {
        let name = app.metadata.name.clone().unwrap_or_default();
        let build = |source| RenderError::Build {
            name: name.clone(),
            source: Box::new(source),
        };
        for child in children::desired(&app).map_err(build)? {
            let value = child.to_json().map_err(build)?;
            let yaml =
                serde_saphyr::to_string(&value).map_err(|e| RenderError::Yaml(e.to_string()))?;
            out.push_str("---\n");
            out.push_str(&yaml);
        }
    }
    Ok(out)
}
