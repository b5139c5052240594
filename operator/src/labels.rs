//! Names the operator stamps on what it creates: labels, the field manager, the controller name.
//! One place, so the builders, the reconciler and the tests agree.

use std::collections::BTreeMap;

/// Field manager of every server-side apply the operator sends.
pub const FIELD_MANAGER: &str = "serverless-operator";
/// Name reported in Events and in `app.kubernetes.io/managed-by`.
pub const CONTROLLER_NAME: &str = "serverless-operator";

/// Selector label: the ServerlessApp a child belongs to. Used to find children to prune.
pub const APP_LABEL: &str = "serverless-operator.dev/app";
/// Selector label: `master` or the worker's name.
pub const COMPONENT_LABEL: &str = "serverless-operator.dev/component";

pub const NAME: &str = "app.kubernetes.io/name";
pub const INSTANCE: &str = "app.kubernetes.io/instance";
pub const COMPONENT: &str = "app.kubernetes.io/component";
pub const PART_OF: &str = "app.kubernetes.io/part-of";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// Labels that select a component's pods. Immutable once a Deployment exists, so they hold
/// nothing that can change.
pub fn selector(app: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (APP_LABEL.to_string(), app.to_string()),
        (COMPONENT_LABEL.to_string(), component.to_string()),
    ])
}

/// Every label a child object carries: the selector plus the standard `app.kubernetes.io/*` set.
pub fn standard(app: &str, component: &str) -> BTreeMap<String, String> {
    let mut labels = selector(app, component);
    labels.extend([
        (NAME.to_string(), app.to_string()),
        (INSTANCE.to_string(), app.to_string()),
        (COMPONENT.to_string(), component.to_string()),
        (PART_OF.to_string(), app.to_string()),
        (MANAGED_BY.to_string(), CONTROLLER_NAME.to_string()),
    ]);
    labels
}
