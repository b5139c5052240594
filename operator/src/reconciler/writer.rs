//! The writer: every request that changes the cluster (apply, delete, status) and the Events
//! that tell of them.

use std::time::Duration;

use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::{debug, warn};

use super::Context;
use super::caches::{self, with_kind};
use crate::api::{API_VERSION, KIND, ServerlessApp};
use crate::children::{Child, ChildKind};
use crate::diff;
use crate::error::{Error, Result};
use crate::status::{self, Observed};

/// Apply `child` unless the cache shows it already matches. Returns whether it wrote.
pub(super) async fn apply_if_changed(
    ctx: &Context,
    app: &ServerlessApp,
    ns: &str,
    uid: &str,
    child: &Child,
) -> Result<bool> {
    let kind = child.kind();
    let name = child.name();
    let mut body = child.to_json()?;
    let observed = match ctx.stores.lookup(kind, ns, &name) {
        Some(observed) => Some(observed),
        // One read per child not created yet: what keeps a force-apply from taking over
        // (adopting) someone else's object of the same name.
        None => {
            let manager = &ctx.settings.field_manager;
            caches::fetch(&ctx.client, &ctx.stores, manager, kind, ns, &name).await?
        }
    };
    diff::hold_replicas(
        &mut body,
        observed
            .as_ref()
            .map(|o| (o.replicas, o.replicas_manager.as_deref())),
        &ctx.settings.field_manager,
        app.min_replicas_of(&name),
    );
    apply_unless_current(ctx, app, ns, uid, kind, &name, &body, observed).await
}

#[allow(clippy::too_many_arguments)]
async fn apply_unless_current(
    ctx: &Context,
    app: &ServerlessApp,
    ns: &str,
    uid: &str,
    kind: ChildKind,
    name: &str,
    body: &Value,
    observed: Option<caches::ObservedChild>,
) -> Result<bool> {
    let name = name.to_string();
    if let Some(observed) = observed {
        if observed.controller_uid.as_deref() != Some(uid) {
            return Err(Error::NotOwned {
                kind: kind.as_str(),
                name,
                holder: observed
                    .controller
                    .map_or("it has no controller".into(), |c| {
                        format!("controlled by {c}")
                    }),
            });
        }
        if observed.fingerprint == Some(diff::fingerprint(body)) {
            debug!(%ns, app = %app.name_any(), kind = kind.as_str(), %name, "up to date");
            return Ok(false);
        }
    }
    let writer = ctx.writer(ns, kind, &name)?;
    with_kind!(kind, ctx.stores, |_store, T| {
        apply::<T>(&writer, &ctx.settings.field_manager, ns, &name, body)
            .await
            .map_err(|source| Error::Apply {
                kind: kind.as_str(),
                name: name.clone(),
                source,
            })
    })?;
    Ok(true)
}

async fn apply<K>(
    client: &Client,
    field_manager: &str,
    ns: &str,
    name: &str,
    body: &Value,
) -> kube::Result<()>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let params = PatchParams::apply(field_manager).force();
    Api::<K>::namespaced(client.clone(), ns)
        .patch(name, &params, &Patch::Apply(body))
        .await
        .map(|_| ())
}

pub(super) async fn delete(
    ctx: &Context,
    kind: ChildKind,
    ns: &str,
    name: &str,
    uid: String,
) -> Result<()> {
    // The uid precondition keeps us from deleting a same-named object created since we looked.
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    let writer = ctx.writer(ns, kind, name)?;
    let result = with_kind!(kind, ctx.stores, |_store, T| {
        Api::<T>::namespaced(writer.clone(), ns)
            .delete(name, &params)
            .await
            .map(|_| ())
    });
    match result {
        Ok(()) => Ok(()),
        // Already gone, or replaced by a new object (uid mismatch): nothing of ours to delete.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(source) => Err(Error::Delete {
            kind: kind.as_str(),
            name: name.to_string(),
            source,
        }),
    }
}

/// Write the computed status if it differs from the stored one, then the Events its
/// transitions produce ([`status::transitions`]). Progress alone (the headline unchanged) waits
/// for `status_interval`, then for its turn in the progress budget; the return value says when
/// to come back for it. Ready and Stalled
/// flips are written at once: GitOps tools wait on them.
pub(super) async fn write_status(
    app: &ServerlessApp,
    ctx: &Context,
    observed: &Observed<'_>,
) -> Result<Option<Duration>> {
    let current = ctx.memory.current_status(app);
    let previous = current.as_ref();
    let next = status::compute(app, observed, previous, jiff::Timestamp::now());
    let after_change = ctx
        .memory
        .changed_since_ready(app, status::headline(Some(&next)).0);
    if previous == Some(&next) {
        return Ok(None);
    }
    // A failure is news at once; progress alone waits.
    if status::headline(previous) == status::headline(Some(&next)) && observed.retrying.is_none() {
        let wait = ctx
            .memory
            .status_wait(app, ctx.settings.status_interval)
            .or_else(|| {
                ctx.memory
                    .progress_wait(app, ctx.settings.progress_writes_per_second)
            });
        if let Some(wait) = wait {
            debug!(ns = app.namespace(), app = %app.name_any(), ?wait, "status write deferred");
            return Ok(Some(wait));
        }
    }
    let body = json!({ "apiVersion": API_VERSION, "kind": KIND, "status": next });
    let ns = app.namespace().unwrap_or_default();
    let written = Api::<ServerlessApp>::namespaced(ctx.client.clone(), &ns)
        .patch_status(
            &app.name_any(),
            &PatchParams::apply(&ctx.settings.field_manager).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(Error::Status)?;
    // Events tell of transitions the status now shows, never of one that failed to be written.
    for transition in status::transitions(previous, &next, after_change) {
        let type_ = if transition.warning {
            EventType::Warning
        } else {
            EventType::Normal
        };
        publish(
            ctx,
            app,
            type_,
            &transition.reason,
            "Reconcile",
            transition.message,
        )
        .await;
    }
    ctx.memory
        .record_status(app, written.metadata.resource_version, next);
    Ok(None)
}

/// Publish an Event about the app; a failure to record it is logged, never fatal.
pub(super) async fn publish(
    ctx: &Context,
    app: &ServerlessApp,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    // Event notes are limited to 1 kB.
    let note: String = note.chars().take(1000).collect();
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&event, &app.object_ref(&())).await {
        warn!(ns = app.namespace().unwrap_or_default(), app = %app.name_any(), error = %err, "cannot record event");
    }
}
