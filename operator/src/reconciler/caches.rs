//! The caches: what the operator knows of the cluster without asking. Watches fill one store
//! per child kind (only objects carrying the app label) and one of CRD metadata; reconciles
//! read these instead of the API server.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::marker::PhantomData;

use kube::api::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;

use super::cold_start::{ColdStarts, Scale};
use crate::children::keda::KedaStatus;
use crate::children::{ChildKind, HTTPScaledObject, ScaledObject};
use crate::diff;
use crate::error::{Error, Result};

macro_rules! stores {
    ($($kind:ident: $ty:ty, $field:ident, $crd:expr;)*) => {
        /// One store per child kind (`child_kinds!`), and CRD metadata to know whether KEDA is
        /// installed. Only the controller's `own_children` fills one, and it starts the watch
        /// feeding each: a kind cannot be cached without being watched.
        #[derive(Clone)]
        pub struct Stores {
            $(pub $field: Store<<$ty as Cacheable>::Cached>,)*
            pub crds: Store<PartialObjectMeta<CustomResourceDefinition>>,
            /// Timed on the Deployment watch, as it fills its cache.
            pub cold_starts: std::sync::Arc<ColdStarts>,
            /// Children created and not yet in their cache.
            pub unseen: std::sync::Arc<Unseen>,
        }
    };
}
crate::children::child_kinds!(stores);

/// Runs `$body` with `$store` bound to the store of `$kind` and `$T` to its Rust type: the one
/// place that maps a kind to its type, so a new kind does not compile until it has both.
macro_rules! with_kind {
    ($kind:expr, $stores:expr, |$store:ident, $T:ident| $body:expr) => {
        match $kind {
            ChildKind::Deployment => {
                type $T = k8s_openapi::api::apps::v1::Deployment;
                let $store = &$stores.deployments;
                $body
            }
            ChildKind::Service => {
                type $T = k8s_openapi::api::core::v1::Service;
                let $store = &$stores.services;
                $body
            }
            ChildKind::PodDisruptionBudget => {
                type $T = k8s_openapi::api::policy::v1::PodDisruptionBudget;
                let $store = &$stores.pod_disruption_budgets;
                $body
            }
            ChildKind::HorizontalPodAutoscaler => {
                type $T = k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
                let $store = &$stores.horizontal_pod_autoscalers;
                $body
            }
            ChildKind::ScaledObject => {
                type $T = crate::children::ScaledObject;
                let $store = &$stores.scaled_objects;
                $body
            }
            ChildKind::HTTPScaledObject => {
                type $T = crate::children::HTTPScaledObject;
                let $store = &$stores.http_scaled_objects;
                $body
            }
            ChildKind::Ingress => {
                type $T = k8s_openapi::api::networking::v1::Ingress;
                let $store = &$stores.ingresses;
                $body
            }
        }
    };
}
pub(crate) use with_kind;

/// What a child's `managedFields` tell, kept in its cached type once they are dropped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Owned {
    /// The [`diff::fingerprint`] of the part of the child the operator's field manager owns;
    /// None when it owns nothing.
    pub fingerprint: Option<u64>,
    /// The field manager that last set `spec.replicas` (Deployments).
    pub replicas_manager: Option<String>,
    /// Whether that is the operator: its own field manager, or the handover manager through
    /// which earlier versions held an autoscaled Deployment's starting replicas.
    pub replicas_ours: bool,
}

/// A child as its cache keeps it: its metadata slimmed by [`cache`] (name, namespace, uid,
/// generation, the controller), what its `managedFields` tell ([`Owned`]), and of its spec and
/// status only what the status reads, in a type no larger than that. Whole Kubernetes types
/// cost their full size before any field is set (2.4 KB for a Deployment), in each of thousands,
/// and so does a label or annotation map (half a kilobyte for one entry).
/// Equal when the reconciler would read the same from either: a watch event equal to what the
/// cache holds changes nothing and reconciles nothing.
pub trait Cached: Resource<DynamicType = ()> + Clone + PartialEq + Send + Sync + 'static {
    /// Whether the status shows who set its `spec.replicas`.
    const TRACKS_REPLICAS: bool = false;
    /// What its `managedFields` told.
    fn owned(&self) -> &Owned;
    /// `spec.replicas`, which the operator holds for an autoscaled Deployment until its
    /// autoscaler first sets them.
    fn replicas(&self) -> Option<i32> {
        None
    }
    /// Replicas wanted and ready, to time cold starts.
    fn scale(&self) -> Option<Scale> {
        None
    }
}

/// A child kind as the API serves it, and the type its cache keeps.
pub trait Cacheable:
    Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
    + Serialize
    + serde::de::DeserializeOwned
    + Clone
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    type Cached: Cached;
    /// What the cache keeps of it, its metadata already slimmed.
    fn into_cached(self, owned: Owned) -> Self::Cached;
}

/// The [`Resource`] of a cached type: that of the API type it stands for, `$api`.
macro_rules! resource_as {
    ($api:ty) => {
        type DynamicType = ();
        type Scope = kube::core::NamespaceResourceScope;
        fn kind(dt: &()) -> Cow<'_, str> {
            <$api>::kind(dt)
        }
        fn group(dt: &()) -> Cow<'_, str> {
            <$api>::group(dt)
        }
        fn version(dt: &()) -> Cow<'_, str> {
            <$api>::version(dt)
        }
        fn plural(dt: &()) -> Cow<'_, str> {
            <$api>::plural(dt)
        }
        fn meta(&self) -> &ObjectMeta {
            &self.metadata
        }
        fn meta_mut(&mut self) -> &mut ObjectMeta {
            &mut self.metadata
        }
    };
}

/// A cached Deployment: what the status, the replicas the operator holds and the cold-start
/// timing read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedDeployment {
    pub metadata: ObjectMeta,
    pub owned: Owned,
    /// `spec.replicas`.
    pub replicas: Option<i32>,
    /// Of its conditions, only those the status reads.
    pub status: Option<DeploymentStatus>,
}

impl Resource for CachedDeployment {
    resource_as!(Deployment);
}

impl Cached for CachedDeployment {
    const TRACKS_REPLICAS: bool = true;
    fn owned(&self) -> &Owned {
        &self.owned
    }
    fn replicas(&self) -> Option<i32> {
        self.replicas
    }
    fn scale(&self) -> Option<Scale> {
        Some(Scale {
            // The API server defaults a missing `replicas` to 1.
            desired: self.replicas.unwrap_or(1),
            ready: self
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0),
        })
    }
}

impl Cacheable for Deployment {
    type Cached = CachedDeployment;
    fn into_cached(self, owned: Owned) -> CachedDeployment {
        // Of its conditions, only the two the status reads, without their times: a rollout's
        // Available and Progressing take a few hundred bytes in each of thousands.
        let status = self.status.map(|mut status| {
            let kept: Vec<_> = status
                .conditions
                .take()
                .unwrap_or_default()
                .into_iter()
                .filter(|c| {
                    let is = |type_: &str| c.type_.as_deref() == Some(type_);
                    (is("ReplicaFailure") && c.status.as_deref() == Some("True"))
                        || (is("Progressing")
                            && c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
                })
                .map(|c| DeploymentCondition {
                    last_transition_time: None,
                    last_update_time: None,
                    ..c
                })
                .collect();
            status.conditions = (!kept.is_empty()).then_some(kept);
            status
        });
        CachedDeployment {
            metadata: self.metadata,
            owned,
            replicas: self.spec.replicas,
            status,
        }
    }
}

/// A cached ScaledObject: its status tells whether a trigger is active.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CachedScaledObject {
    pub metadata: ObjectMeta,
    pub owned: Owned,
    pub status: Option<KedaStatus>,
}

impl Resource for CachedScaledObject {
    resource_as!(ScaledObject);
}

impl Cached for CachedScaledObject {
    fn owned(&self) -> &Owned {
        &self.owned
    }
}

impl Cacheable for ScaledObject {
    type Cached = CachedScaledObject;
    fn into_cached(self, owned: Owned) -> CachedScaledObject {
        CachedScaledObject {
            metadata: self.metadata,
            owned,
            status: self.status,
        }
    }
}

/// A cached child of a kind whose status is not read: its metadata and what its
/// `managedFields` told.
pub struct CachedMeta<K> {
    pub metadata: ObjectMeta,
    pub owned: Owned,
    kind: PhantomData<fn() -> K>,
}

// By hand: derived, they would require `K` itself to be `Clone` and `Debug`.
impl<K> Clone for CachedMeta<K> {
    fn clone(&self) -> Self {
        CachedMeta {
            metadata: self.metadata.clone(),
            owned: self.owned.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> PartialEq for CachedMeta<K> {
    fn eq(&self, other: &Self) -> bool {
        self.metadata == other.metadata && self.owned == other.owned
    }
}

impl<K> std::fmt::Debug for CachedMeta<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedMeta")
            .field("metadata", &self.metadata)
            .field("owned", &self.owned)
            .finish()
    }
}

macro_rules! cached_as_metadata {
    ($($ty:ty),*) => {$(
        impl Resource for CachedMeta<$ty> {
            resource_as!($ty);
        }

        impl Cached for CachedMeta<$ty> {
            fn owned(&self) -> &Owned {
                &self.owned
            }
        }

        impl Cacheable for $ty {
            type Cached = CachedMeta<$ty>;
            fn into_cached(self, owned: Owned) -> Self::Cached {
                CachedMeta {
                    metadata: self.metadata,
                    owned,
                    kind: PhantomData,
                }
            }
        }
    )*};
}
cached_as_metadata!(
    Service,
    PodDisruptionBudget,
    HorizontalPodAutoscaler,
    HTTPScaledObject,
    Ingress
);

/// What the cache keeps of `obj`; `manager` is the operator's field manager.
pub fn cache<K: Cacheable>(mut obj: K, manager: &str) -> K::Cached {
    let owned = slim_down(&mut obj, manager);
    obj.into_cached(owned)
}

/// A watch event of full objects as one of cached objects.
pub fn cache_event<K: Cacheable>(
    event: watcher::Event<K>,
    manager: &str,
) -> watcher::Event<K::Cached> {
    match event {
        watcher::Event::Apply(obj) => watcher::Event::Apply(cache(obj, manager)),
        watcher::Event::Delete(obj) => watcher::Event::Delete(cache(obj, manager)),
        watcher::Event::InitApply(obj) => watcher::Event::InitApply(cache(obj, manager)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

/// Whether `event` brings a version of an object the same, once cached, as the one `cache`
/// holds: a status write of a kind whose status is not read, a Deployment's rollout condition
/// moving on, a `managedFields` time. Such events need neither the cache nor a reconcile.
pub fn unchanged<K: Cached>(event: &watcher::Event<K>, cache: &Store<K>) -> bool {
    match event {
        watcher::Event::Apply(obj) => cache
            .get(&ObjectRef::from_obj(obj))
            .is_some_and(|cached| *cached == *obj),
        _ => false,
    }
}

/// Slim `obj`'s metadata down to what the cache keeps of it, and return what its
/// `managedFields` told.
fn slim_down<K: Cacheable>(obj: &mut K, manager: &str) -> Owned {
    let managed = obj.meta_mut().managed_fields.take().unwrap_or_default();
    let owned = managed
        .iter()
        .find(|m| {
            m.manager.as_deref() == Some(manager)
                && m.operation.as_deref() == Some("Apply")
                && m.subresource.as_deref().unwrap_or_default().is_empty()
        })
        .and_then(|m| m.fields_v1.as_ref());
    // Before the labels and annotations go: the operator sets some of them.
    let fingerprint = owned.and_then(|fields| {
        let value = serde_json::to_value(&*obj).ok()?;
        Some(diff::fingerprint(&diff::owned_part(&value, &fields.0)))
    });
    let replicas_manager = K::Cached::TRACKS_REPLICAS
        .then(|| diff::replicas_manager(&managed))
        .flatten();
    let replicas_ours = replicas_manager
        .as_deref()
        .is_some_and(|m| m == manager || m.strip_prefix(manager) == Some("-handover"));
    let meta = obj.meta_mut();
    // Only what the reconciler reads: the controller (whose child: the app's uid says which
    // app), the uid and generation. The watch tracks its resource version itself, and its label
    // selector already chose the objects with the app label.
    meta.annotations = None;
    meta.labels = None;
    meta.creation_timestamp = None;
    meta.finalizers = None;
    meta.resource_version = None;
    if let Some(owners) = meta.owner_references.as_mut() {
        owners.retain(|owner| owner.controller == Some(true));
    }
    Owned {
        fingerprint,
        replicas_manager,
        replicas_ours,
    }
}

/// A child as the diff and the ownership check need it.
#[derive(Clone, Debug, PartialEq, Hash)]
pub(super) struct ObservedChild {
    /// Fingerprint of what the operator owns of it; None when it owns nothing.
    pub fingerprint: Option<u64>,
    pub replicas: Option<i32>,
    /// The field manager that holds `spec.replicas` (Deployments), if any.
    pub replicas_manager: Option<String>,
    pub controller_uid: Option<String>,
    pub controller: Option<String>,
}

impl ObservedChild {
    fn of<K: Cached>(obj: &K) -> Self {
        let controller = obj
            .owner_references()
            .iter()
            .find(|r| r.controller == Some(true));
        ObservedChild {
            fingerprint: obj.owned().fingerprint,
            replicas: obj.replicas(),
            replicas_manager: obj.owned().replicas_manager.clone(),
            controller_uid: controller.map(|r| r.uid.clone()),
            controller: controller.map(|r| format!("{} {}", r.kind, r.name)),
        }
    }
}

impl Stores {
    /// Whether every cache holds a full list (KEDA caches count only once their CRD exists).
    pub fn is_ready(&self) -> bool {
        use futures::FutureExt;
        fn listed<K>(store: &Store<K>) -> bool
        where
            K: kube::runtime::reflector::Lookup + Clone + 'static,
            K::DynamicType: std::hash::Hash + Eq + Clone,
        {
            store.wait_until_ready().now_or_never().is_some()
        }
        listed(&self.crds)
            && ChildKind::ALL.iter().all(|&kind| {
                !self.serves(kind) || with_kind!(kind, self, |store, _T| listed(store))
            })
    }

    /// Wait (bounded) until the caches hold a full list, so the first reconciles after a start do
    /// not re-apply objects only because the cache was still empty. Polls: the caches fill from
    /// the controller's own streams.
    pub async fn wait_until_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.is_ready() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        true
    }

    /// How many objects each child kind's cache holds.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        ChildKind::ALL
            .iter()
            .map(|&kind| {
                (
                    kind.as_str(),
                    with_kind!(kind, self, |store, _T| store.state().len()),
                )
            })
            .collect()
    }

    /// Whether the cluster serves the CRD named `crd`.
    pub fn has_crd(&self, crd: &str) -> bool {
        self.crds.get(&ObjectRef::new(crd)).is_some()
    }

    /// Whether the cluster serves `kind` (KEDA's kinds only once KEDA is installed).
    pub fn serves(&self, kind: ChildKind) -> bool {
        kind.required_crd().is_none_or(|crd| self.has_crd(crd))
    }

    /// The child `kind` `ns`/`name` as cached, or as this operator created it when its watch
    /// has not delivered it yet.
    pub(super) fn lookup(&self, kind: ChildKind, ns: &str, name: &str) -> Option<ObservedChild> {
        self.cached(kind, ns, name)
            .or_else(|| self.unseen.get(kind, ns, name))
    }

    fn cached(&self, kind: ChildKind, ns: &str, name: &str) -> Option<ObservedChild> {
        with_kind!(kind, self, |store, T| {
            Some(ObservedChild::of(&*store.get(
                &ObjectRef::<<T as Cacheable>::Cached>::new(name).within(ns),
            )?))
        })
    }

    /// Remember that this operator created `kind` `ns`/`name` as `observed` says, until its
    /// cache shows it.
    pub(super) fn created(&self, kind: ChildKind, ns: &str, name: &str, observed: ObservedChild) {
        let key = (kind, ns.to_string(), name.to_string());
        self.unseen.lock().insert(key.clone(), observed);
        // The watch may have delivered it before the create's answer came back. Looked at after
        // the insert: the watch drops an entry after its cache took the event, so either it
        // finds the entry or this finds the object.
        if self.cached(kind, ns, name).is_some() {
            self.unseen.lock().remove(&key);
        }
    }

    /// The cached object `name` of type `K` in `ns`, if the app with `uid` controls it: status
    /// reads only what the app owns, so a same-named object in the way never lends the app its
    /// readiness.
    pub(super) fn owned_one<K>(
        store: &Store<K>,
        ns: &str,
        name: &str,
        uid: &str,
    ) -> Option<std::sync::Arc<K>>
    where
        K: Resource<DynamicType = ()> + Clone + 'static,
    {
        store
            .get(&ObjectRef::new(name).within(ns))
            .filter(|o| controlled_by(&**o, uid))
    }

    /// Names and uids of the children of `kind` that the app with `uid` controls in `ns`. A scan
    /// of the whole cache: see [`super::Context::needs_prune`] for why that is rare.
    pub(super) fn owned(&self, kind: ChildKind, ns: &str, uid: &str) -> Vec<(String, String)> {
        with_kind!(kind, self, |store, T| {
            store
                .state_filter(|o: &<T as Cacheable>::Cached| {
                    // The uid first: it rules out almost every object without allocating.
                    controlled_by(o, uid) && o.meta().namespace.as_deref() == Some(ns)
                })
                .iter()
                .map(|o| (o.name_any(), o.uid().unwrap_or_default()))
                .collect()
        })
    }
}

/// Children this operator created that their watch has not delivered yet. A cache lags a
/// create by moments (seconds under load), and a reconcile in between would take the child for
/// missing and create it again; a read before each create cost a request per child. An entry
/// goes once the cache has taken any event of that name (the create's own, or a delete that
/// followed it) or a relist of the kind.
#[derive(Default)]
pub struct Unseen(std::sync::Mutex<HashMap<(ChildKind, String, String), ObservedChild>>);

impl Unseen {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(ChildKind, String, String), ObservedChild>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, kind: ChildKind, ns: &str, name: &str) -> Option<ObservedChild> {
        let unseen = self.lock();
        if unseen.is_empty() {
            return None;
        }
        unseen
            .get(&(kind, ns.to_string(), name.to_string()))
            .cloned()
    }

    /// `event` of `kind`'s watch, once its cache has taken it.
    pub fn watch_event<K: Resource>(&self, kind: ChildKind, event: &watcher::Event<K>) {
        let mut unseen = self.lock();
        if unseen.is_empty() {
            return;
        }
        match event {
            watcher::Event::Apply(obj)
            | watcher::Event::Delete(obj)
            | watcher::Event::InitApply(obj) => {
                let ns = obj.meta().namespace.clone().unwrap_or_default();
                let name = obj.meta().name.clone().unwrap_or_default();
                unseen.remove(&(kind, ns, name));
            }
            // A relist replaced the cache: it is the truth again.
            watcher::Event::InitDone => unseen.retain(|(k, _, _), _| *k != kind),
            watcher::Event::Init => {}
        }
    }
}

/// Whether the app with `uid` is `obj`'s controller.
pub(super) fn controlled_by<K: Resource>(obj: &K, uid: &str) -> bool {
    obj.owner_references()
        .iter()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

/// The object `kind`/`name` as the API server has it now, bypassing the caches: the caches hold
/// only objects with the operator's labels, so a same-named object without them is seen only by
/// asking.
pub(super) async fn fetch(
    client: &Client,
    stores: &Stores,
    manager: &str,
    kind: ChildKind,
    ns: &str,
    name: &str,
) -> Result<Option<ObservedChild>> {
    let found = with_kind!(kind, stores, |_store, T| {
        // A quorum read, not the API server's watch cache (resourceVersion 0): called when an
        // apply that only creates found something there, which the watch cache may not show
        // yet.
        Api::<T>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map_err(|source| Error::Apply {
                kind: kind.as_str(),
                name: name.to_string(),
                source,
            })?
            .map(|obj| ObservedChild::of(&cache(obj, manager)))
    });
    Ok(found)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `kubectl scale` (an update of the scale subresource) takes `spec.replicas` from the
    /// operator's apply; the slim cache keeps who holds it.
    #[test]
    fn the_cache_keeps_who_set_the_replicas() {
        let entry = |manager: &str, operation: &str, time: &str, fields: serde_json::Value| {
            json!({"manager": manager, "operation": operation, "time": time,
                   "fieldsType": "FieldsV1", "fieldsV1": fields})
        };
        let deployment: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "shop", "managedFields": [
                entry("serverless-operator", "Apply", "2026-01-01T00:00:00Z",
                      json!({"f:spec": {"f:template": {}}})),
                entry("kube-controller-manager", "Update", "2026-01-01T00:01:00Z",
                      json!({"f:spec": {"f:replicas": {}}})),
                entry("kubectl", "Update", "2026-01-01T00:02:00Z",
                      json!({"f:spec": {"f:replicas": {}}})),
            ]},
            "spec": {"replicas": 4, "selector": {}, "template": {}}
        }))
        .unwrap();
        let cached = cache(deployment.clone(), "serverless-operator");
        assert_eq!(cached.owned.replicas_manager.as_deref(), Some("kubectl"));
        assert!(!cached.owned.replicas_ours);
        assert!(cached.metadata.managed_fields.is_none());
        assert_eq!(cached.replicas, Some(4));

        // The operator's own hold (its field manager, or the handover manager of earlier
        // versions) is told apart from everyone else's.
        for ours in ["serverless-operator", "serverless-operator-handover"] {
            let mut held = deployment.clone();
            let entries = held.metadata.managed_fields.as_mut().unwrap();
            entries.truncate(1);
            entries[0].manager = Some(ours.into());
            entries[0].fields_v1 = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1(
                json!({"f:spec": {"f:replicas": {}}}),
            ));
            let cached = cache(held, "serverless-operator");
            assert_eq!(cached.owned.replicas_manager.as_deref(), Some(ours));
            assert!(cached.owned.replicas_ours, "{ours}");
        }

        // Other kinds have no replicas to tell of.
        let service: Service = serde_json::from_value(json!({
            "metadata": {"name": "shop", "managedFields": [
                entry("kubectl", "Update", "2026-01-01T00:02:00Z", json!({"f:spec": {"f:replicas": {}}})),
            ]}
        }))
        .unwrap();
        let cached = cache(service, "serverless-operator");
        assert!(cached.owned.replicas_manager.is_none());
    }

    #[test]
    fn a_cached_deployment_keeps_only_the_conditions_the_status_reads() {
        let condition = |type_: &str, status: &str, reason: &str| {
            json!({"type": type_, "status": status, "reason": reason, "message": format!("{type_} says"),
                   "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"})
        };
        let cached = |conditions: serde_json::Value| {
            let d: Deployment = serde_json::from_value(json!({
                "metadata": {"name": "shop"},
                "spec": {"replicas": 2, "selector": {}, "template": {}},
                "status": {"readyReplicas": 1, "conditions": conditions}
            }))
            .unwrap();
            let cached = cache(d, "serverless-operator");
            assert_eq!(cached.replicas, Some(2));
            cached.status.unwrap()
        };
        let healthy = cached(json!([
            condition("Available", "True", "MinimumReplicasAvailable"),
            condition("Progressing", "True", "NewReplicaSetAvailable"),
        ]));
        assert_eq!(healthy.conditions, None);
        assert_eq!(healthy.ready_replicas, Some(1));
        let failing = cached(json!([
            condition("Available", "False", "MinimumReplicasUnavailable"),
            condition("Progressing", "False", "ProgressDeadlineExceeded"),
            condition("ReplicaFailure", "True", "FailedCreate"),
        ]))
        .conditions
        .unwrap();
        let kept: Vec<_> = failing
            .iter()
            .map(|c| {
                (
                    c.type_.as_deref(),
                    c.message.as_deref(),
                    c.last_update_time.is_none(),
                )
            })
            .collect();
        assert_eq!(
            kept,
            [
                (Some("Progressing"), Some("Progressing says"), true),
                (Some("ReplicaFailure"), Some("ReplicaFailure says"), true)
            ]
        );
    }

    /// Only a change the reconciler would read passes the watch: a status write of an HPA (whose
    /// status is not cached) or a newer resource version alone do not.
    #[test]
    fn events_equal_to_the_cache_change_nothing() {
        use kube::runtime::reflector;
        let hpa = |generation: i64, rv: &str, status: serde_json::Value| {
            let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
                "metadata": {"name": "shop-pool", "namespace": "t", "uid": "u1",
                             "generation": generation, "resourceVersion": rv},
                "spec": {"maxReplicas": 3, "scaleTargetRef": {"kind": "Deployment", "name": "shop-pool"}},
                "status": status,
            }))
            .unwrap();
            cache(hpa, "serverless-operator")
        };
        let (store, mut writer) = reflector::store();
        let first = watcher::Event::Apply(hpa(1, "10", json!({"desiredReplicas": 1})));
        assert!(
            !unchanged(&first, &store),
            "an object not cached yet is news"
        );
        writer.apply_watcher_event(&first);
        let status_only = watcher::Event::Apply(hpa(1, "11", json!({"desiredReplicas": 2})));
        assert!(unchanged(&status_only, &store));
        let spec_change = watcher::Event::Apply(hpa(2, "12", json!({"desiredReplicas": 2})));
        assert!(!unchanged(&spec_change, &store));
        let deleted = watcher::Event::Delete(hpa(1, "13", json!({})));
        assert!(!unchanged(&deleted, &store), "a deletion always passes");

        // A Deployment's slim status: ready replicas count, a rollout condition's reason does not.
        let deployment = |ready: i32, reason: &str| {
            let d: Deployment = serde_json::from_value(json!({
                "metadata": {"name": "shop", "namespace": "t", "uid": "u2", "generation": 1},
                "spec": {"replicas": 1, "selector": {}, "template": {}},
                "status": {"readyReplicas": ready, "conditions": [
                    {"type": "Progressing", "status": "True", "reason": reason}]},
            }))
            .unwrap();
            cache(d, "serverless-operator")
        };
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Apply(deployment(
            0,
            "NewReplicaSetCreated",
        )));
        assert!(unchanged(
            &watcher::Event::Apply(deployment(0, "ReplicaSetUpdated")),
            &store
        ));
        assert!(!unchanged(
            &watcher::Event::Apply(deployment(1, "ReplicaSetUpdated")),
            &store
        ));
    }
}
