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

/// Apply `child` unless `observed`, what the caches show of it, already matches. Returns
/// whether it wrote.
pub(super) async fn apply_if_changed(
    ctx: &Context,
    app: &ServerlessApp,
    ns: &str,
    uid: &str,
    child: &Child,
    observed: Option<caches::ObservedChild>,
) -> Result<bool> {
    let kind = child.kind();
    let name = child.name();
    let body = child.to_json()?;
    match observed {
        Some(observed) => {
            apply_unless_current(ctx, app, ns, uid, kind, &name, body, observed).await
        }
        None => create(ctx, app, ns, uid, kind, &name, body).await,
    }
}

/// Resource version of the apply that creates a child: one no object has (etcd revisions are
/// signed 64-bit), so the apply only ever creates. An object already there, which the caches do
/// not show because it lacks the app's labels, fails it with 409 Conflict instead of being
/// taken over (adopted) by a forced apply; a create-if-absent costs no read before it.
pub(super) const CREATE_ONLY: &str = "18446744073709551615";

/// Create a child the caches do not show. When something of that name is there after all (409),
/// read it: someone else's object is refused, the operator's own (created moments ago, the
/// watch behind) is applied as usual.
async fn create(
    ctx: &Context,
    app: &ServerlessApp,
    ns: &str,
    uid: &str,
    kind: ChildKind,
    name: &str,
    desired: Value,
) -> Result<bool> {
    let manager = &ctx.settings.field_manager;
    let mut body = desired.clone();
    diff::hold_replicas(&mut body, None, manager, app.min_replicas_of(name));
    let mut request = body.clone();
    request["metadata"]["resourceVersion"] = CREATE_ONLY.into();
    match send(ctx, kind, ns, name, &request).await {
        Ok(()) => {
            let replicas = body["spec"]["replicas"]
                .as_i64()
                .and_then(|r| i32::try_from(r).ok());
            ctx.stores.created(
                kind,
                ns,
                name,
                caches::ObservedChild {
                    fingerprint: Some(diff::fingerprint(&body)),
                    replicas,
                    replicas_manager: replicas.map(|_| manager.clone()),
                    controller_uid: Some(uid.to_string()),
                    controller: Some(format!("{KIND} {}", app.name_any())),
                },
            );
            Ok(true)
        }
        Err(Error::Apply {
            source: kube::Error::Api(status),
            ..
        }) if status.code == 409 => {
            match caches::fetch(&ctx.client, &ctx.stores, manager, kind, ns, name).await? {
                Some(observed) => {
                    apply_unless_current(ctx, app, ns, uid, kind, name, desired, observed).await
                }
                // Gone again meanwhile: the retry creates it.
                None => Err(Error::Apply {
                    kind: kind.as_str(),
                    name: name.to_string(),
                    source: kube::Error::Api(status),
                }),
            }
        }
        Err(err) => Err(err),
    }
}

/// Apply `desired` to the child `observed` shows, unless it is not the app's (refused) or
/// already matches. Returns whether it wrote.
#[allow(clippy::too_many_arguments)]
async fn apply_unless_current(
    ctx: &Context,
    app: &ServerlessApp,
    ns: &str,
    uid: &str,
    kind: ChildKind,
    name: &str,
    mut body: Value,
    observed: caches::ObservedChild,
) -> Result<bool> {
    if observed.controller_uid.as_deref() != Some(uid) {
        return Err(Error::NotOwned {
            kind: kind.as_str(),
            name: name.to_string(),
            holder: observed
                .controller
                .map_or("it has no controller".into(), |c| {
                    format!("controlled by {c}")
                }),
        });
    }
    diff::hold_replicas(
        &mut body,
        Some((observed.replicas, observed.replicas_manager.as_deref())),
        &ctx.settings.field_manager,
        app.min_replicas_of(name),
    );
    if observed.fingerprint == Some(diff::fingerprint(&body)) {
        debug!(%ns, app = %app.name_any(), kind = kind.as_str(), %name, "up to date");
        return Ok(false);
    }
    send(ctx, kind, ns, name, &body).await?;
    Ok(true)
}

/// Server-side apply `body`, the child `kind` `ns`/`name`, with the operator's field manager.
async fn send(ctx: &Context, kind: ChildKind, ns: &str, name: &str, body: &Value) -> Result<()> {
    let writer = ctx.writer(ns, kind, name)?;
    with_kind!(kind, ctx.stores, |_store, T| {
        apply::<T>(&writer, &ctx.settings.field_manager, ns, name, body)
            .await
            .map_err(|source| Error::Apply {
                kind: kind.as_str(),
                name: name.to_string(),
                source,
            })
    })
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
