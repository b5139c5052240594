//! One error type for the operator: a variant per failed step, carrying which component and which
//! object, and a stable category for metrics and Events.

/// Everything that can go wrong while turning an app into objects or writing them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{component}: no image: set spec.image or the component's own image")]
    MissingImage { component: String },

    #[error("{component}: port `{port}` is not one of the component's ports")]
    UnknownPort { component: String, port: String },

    /// Something the operator's settings do not let an app ask for.
    #[error("{field}: {reason}")]
    NotAllowed { field: String, reason: String },

    #[error("ServerlessApp has no namespace")]
    MissingNamespace,

    #[error("applying {kind} {name}: {}", api_message(source))]
    Apply {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },

    #[error("deleting {kind} {name}: {}", api_message(source))]
    Delete {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },

    /// A same-named object the app does not control: never patched, never deleted.
    #[error(
        "{kind} {name} already exists and is not controlled by this ServerlessApp ({holder}); \
         rename the component or remove that object"
    )]
    NotOwned {
        kind: &'static str,
        name: String,
        holder: String,
    },

    #[error("checking what the app's ServiceAccount may use: {}", api_message(.0))]
    Authorize(#[source] kube::Error),

    #[error("updating status: {}", api_message(.0))]
    Status(#[source] kube::Error),

    #[error("encoding {kind} {name}: {source}")]
    Encode {
        kind: &'static str,
        name: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// Stable, low-cardinality category used as a metric label and an Event reason.
    pub fn category(&self) -> &'static str {
        match self {
            Error::MissingImage { .. } | Error::UnknownPort { .. } | Error::MissingNamespace => {
                "InvalidSpec"
            }
            Error::NotAllowed { .. } => "NotAllowed",
            Error::Apply { .. } => "ApplyFailed",
            Error::Delete { .. } => "PruneFailed",
            Error::NotOwned { .. } => "NotOwned",
            Error::Status(_) => "StatusFailed",
            Error::Authorize(_) => "AuthorizeFailed",
            Error::Encode { .. } => "EncodeFailed",
        }
    }

    /// Whether retrying without a change to the app can help. A spec the builders reject, or an
    /// object another owner holds, stays broken until someone edits something.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::MissingImage { .. }
            | Error::UnknownPort { .. }
            | Error::MissingNamespace
            | Error::NotAllowed { .. }
            | Error::NotOwned { .. }
            | Error::Encode { .. } => true,
            Error::Apply { source, .. } => matches!(
                source,
                kube::Error::Api(s) if matches!(s.code, 400 | 403 | 422)
            ),
            Error::Delete { .. } | Error::Status(_) | Error::Authorize(_) => false,
        }
    }
}

impl Error {
    /// An answer of the API server refusing a write, as opposed to a lost connection or an
    /// overloaded server: the same body will most likely be refused again.
    pub fn is_refusal(&self) -> bool {
        match self {
            Error::Apply { source, .. } | Error::Delete { source, .. } => matches!(
                source,
                kube::Error::Api(s) if s.code >= 400 && !matches!(s.code, 408 | 409 | 429 | 503 | 504)
            ),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The API server's own message for an API error (what `kubectl` would print), or the error
/// itself for transport failures.
pub fn api_message(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => other.to_string(),
    }
}
