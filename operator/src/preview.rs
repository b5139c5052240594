//! `serverless-operator diff`: what applying a file of ServerlessApps would change in the
//! children the operator writes, read from the cluster of the current kubeconfig without
//! writing anything. The comparison is the reconciler's own: the desired object against the
//! part of the live one the operator's field manager owns ([`diff::owned_part`]).

use std::collections::BTreeSet;
use std::fmt::Write;

use kube::api::{DynamicObject, ListParams};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

use crate::api::ServerlessApp;
use crate::children::{self, ChildKind};
use crate::diff::{self, Change};
use crate::labels::APP_LABEL;
use crate::render::{self, RenderError};

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("ServerlessApp {name:?}: {source}")]
    Build {
        name: String,
        source: crate::error::Error,
    },
    #[error("reading {what}: {source}")]
    Read { what: String, source: kube::Error },
}

/// What applying the app would do to one child.
#[derive(Debug, PartialEq)]
pub enum Plan {
    Create,
    Change(Vec<Change>),
    Prune,
    /// An object of that name the app does not control: the operator would refuse it.
    NotOwned(String),
}

/// The children of one app that applying it would touch.
#[derive(Debug)]
pub struct AppPlan {
    pub namespace: String,
    pub name: String,
    /// Whether the app exists in the cluster already.
    pub exists: bool,
    pub children: Vec<(ChildKind, String, Plan)>,
}

/// Plan every app of `input` against the cluster. Apps without a namespace go to
/// `default_namespace`, as `kubectl apply` would put them.
pub async fn plan(
    client: &Client,
    input: &str,
    default_namespace: &str,
    field_manager: &str,
) -> Result<Vec<AppPlan>, PreviewError> {
    let mut plans = Vec::new();
    for mut app in render::parse_apps(input)? {
        let name = app.name_any();
        let namespace = app
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| default_namespace.to_string());
        app.metadata.namespace = Some(namespace.clone());
        let live = Api::<ServerlessApp>::namespaced(client.clone(), &namespace)
            .get_opt(&name)
            .await
            .map_err(|source| PreviewError::Read {
                what: format!("ServerlessApp {namespace}/{name}"),
                source,
            })?;
        let uid = live.as_ref().and_then(|a| a.uid());
        app.metadata.uid.clone_from(&uid);
        let desired = children::desired(&app).map_err(|source| PreviewError::Build {
            name: name.clone(),
            source,
        })?;
        let mut children = Vec::new();
        for child in &desired {
            let (kind, child_name) = (child.kind(), child.name());
            let mut body = child.to_json().map_err(|source| PreviewError::Build {
                name: name.clone(),
                source,
            })?;
            let live = get(client, kind, &namespace, &child_name).await?;
            // As the reconciler applies it: with the replicas the operator holds, if any.
            let held = live.as_ref().map(|object| {
                let replicas = object.data["spec"]["replicas"]
                    .as_i64()
                    .and_then(|r| i32::try_from(r).ok());
                (replicas, diff::replicas_manager(object.managed_fields()))
            });
            diff::hold_replicas(
                &mut body,
                held.as_ref().map(|(r, m)| (*r, m.as_deref())),
                field_manager,
                app.min_replicas_of(&child_name),
            );
            let plan = match live {
                None => Plan::Create,
                Some(object) => compare(&object, &body, uid.as_deref(), field_manager),
            };
            if plan != Plan::Change(Vec::new()) {
                children.push((kind, child_name, plan));
            }
        }
        if let Some(uid) = &uid {
            let wanted: BTreeSet<(ChildKind, String)> =
                desired.iter().map(|c| (c.kind(), c.name())).collect();
            for kind in ChildKind::ALL.iter().copied() {
                for owned in list_owned(client, kind, &namespace, &name, uid).await? {
                    if !wanted.contains(&(kind, owned.clone())) {
                        children.push((kind, owned, Plan::Prune));
                    }
                }
            }
        }
        plans.push(AppPlan {
            namespace,
            name,
            exists: live.is_some(),
            children,
        });
    }
    Ok(plans)
}

/// The plan for a child that exists: the fields applying would change, or a refusal when the
/// app does not control it.
fn compare(object: &DynamicObject, desired: &Value, uid: Option<&str>, manager: &str) -> Plan {
    let controller = object
        .owner_references()
        .iter()
        .find(|r| r.controller == Some(true));
    if uid.is_none() || controller.map(|c| c.uid.as_str()) != uid {
        return Plan::NotOwned(controller.map_or("it has no controller".into(), |c| {
            format!("controlled by {} {}", c.kind, c.name)
        }));
    }
    let fields = object
        .managed_fields()
        .iter()
        .find(|m| {
            m.manager.as_deref() == Some(manager)
                && m.operation.as_deref() == Some("Apply")
                && m.subresource.as_deref().unwrap_or_default().is_empty()
        })
        .and_then(|m| m.fields_v1.as_ref())
        .map(|f| f.0.clone());
    let live = serde_json::to_value(object).unwrap_or_default();
    let owned = match fields {
        Some(fields) => diff::owned_part(&live, &fields),
        None => Value::Object(Default::default()),
    };
    let hash = format!("metadata.annotations.{}", diff::HASH_ANNOTATION);
    Plan::Change(
        diff::changes(&owned, desired)
            .into_iter()
            // The hash of the desired object changes with any other field: no news of its own.
            .filter(|c| c.path != hash)
            .collect(),
    )
}

async fn get(
    client: &Client,
    kind: ChildKind,
    ns: &str,
    name: &str,
) -> Result<Option<DynamicObject>, PreviewError> {
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), ns, &kind.dynamic());
    match api.get_opt(name).await {
        Ok(object) => Ok(object),
        // A kind the cluster does not serve (KEDA not installed) has nothing to compare.
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(None),
        Err(source) => Err(PreviewError::Read {
            what: format!("{} {ns}/{name}", kind.as_str()),
            source,
        }),
    }
}

/// Names of the children of `kind` the app with `uid` controls.
async fn list_owned(
    client: &Client,
    kind: ChildKind,
    ns: &str,
    app: &str,
    uid: &str,
) -> Result<Vec<String>, PreviewError> {
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), ns, &kind.dynamic());
    let params = ListParams::default().labels(&format!("{APP_LABEL}={app}"));
    match api.list_metadata(&params).await {
        Ok(list) => Ok(list
            .items
            .into_iter()
            .filter(|o| {
                o.owner_references()
                    .iter()
                    .any(|r| r.controller == Some(true) && r.uid == uid)
            })
            .map(|o| o.name_any())
            .collect()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(Vec::new()),
        Err(source) => Err(PreviewError::Read {
            what: format!("{} in {ns}", kind.as_str()),
            source,
        }),
    }
}

/// The plans as text, like `kubectl diff` reads: `+` created, `~` changed (with each field),
/// `-` pruned, `!` refused. Apps with nothing to change get one line saying so.
pub fn report(plans: &[AppPlan]) -> String {
    let mut out = String::new();
    let show = |v: &Option<Value>| v.as_ref().map_or("(absent)".into(), Value::to_string);
    for plan in plans {
        let new = if plan.exists { "" } else { " (new)" };
        let _ = writeln!(out, "ServerlessApp {}/{}{new}", plan.namespace, plan.name);
        if plan.children.is_empty() {
            let _ = writeln!(out, "  no change");
        }
        for (kind, name, child) in &plan.children {
            let kind = kind.as_str();
            let _ = match child {
                Plan::Create => writeln!(out, "  + {kind} {name}"),
                Plan::Prune => writeln!(out, "  - {kind} {name}"),
                Plan::NotOwned(holder) => writeln!(
                    out,
                    "  ! {kind} {name}: exists and the app does not control it ({holder}); \
                     the operator would refuse it (NotOwned)"
                ),
                Plan::Change(changes) => {
                    let _ = writeln!(out, "  ~ {kind} {name}");
                    for change in changes {
                        let _ = writeln!(
                            out,
                            "      {}: {} -> {}",
                            change.path,
                            show(&change.live),
                            show(&change.desired)
                        );
                    }
                    Ok(())
                }
            };
        }
    }
    out
}

/// Whether any plan changes anything.
pub fn changes_anything(plans: &[AppPlan]) -> bool {
    plans.iter().any(|p| !p.children.is_empty())
}
