//! The reconciler: the only module that writes to the API server.
//!
//! For each app it computes the desired children (pure), compares them with the cached cluster
//! state, applies only what differs (server-side apply, one field manager), deletes children no
//! longer desired, and writes status only when it changed. A resync of an app that already
//! matches sends no request at all.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, PartialObjectMeta, Patch, PatchParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use crate::access::Impersonation;
use crate::api::{API_VERSION, KIND, ServerlessApp};
use crate::children::keda::{HTTP_SCALED_OBJECT_CRD, SCALED_OBJECT_CRD};
use crate::children::{self, Child, ChildKind, HTTPScaledObject, ScaledObject};
use crate::diff;
use crate::error::{Error, Result};
use crate::labels::{APP_LABEL, FIELD_MANAGER};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::status::{self, Observed, Stall};

/// Read-only caches of everything the operator owns, fed by watches. Reconciles read these
/// instead of the API server.
#[derive(Clone)]
pub struct Stores {
    pub deployments: Store<Deployment>,
    pub services: Store<Service>,
    pub horizontal_pod_autoscalers: Store<HorizontalPodAutoscaler>,
    pub scaled_objects: Store<ScaledObject>,
    pub http_scaled_objects: Store<HTTPScaledObject>,
    pub ingresses: Store<Ingress>,
    /// Metadata of CRDs, to know whether KEDA is installed.
    pub crds: Store<PartialObjectMeta<CustomResourceDefinition>>,
}

/// Runs `$body` with `$store` bound to the store of `$kind` and `$T` to its Rust type.
macro_rules! with_kind {
    ($kind:expr, $stores:expr, |$store:ident, $T:ident| $body:expr) => {
        match $kind {
            ChildKind::Deployment => {
                type $T = Deployment;
                let $store = &$stores.deployments;
                $body
            }
            ChildKind::Service => {
                type $T = Service;
                let $store = &$stores.services;
                $body
            }
            ChildKind::HorizontalPodAutoscaler => {
                type $T = HorizontalPodAutoscaler;
                let $store = &$stores.horizontal_pod_autoscalers;
                $body
            }
            ChildKind::ScaledObject => {
                type $T = ScaledObject;
                let $store = &$stores.scaled_objects;
                $body
            }
            ChildKind::HTTPScaledObject => {
                type $T = HTTPScaledObject;
                let $store = &$stores.http_scaled_objects;
                $body
            }
            ChildKind::Ingress => {
                type $T = Ingress;
                let $store = &$stores.ingresses;
                $body
            }
        }
    };
}

/// A child as the diff and the ownership check need it.
struct ObservedChild {
    json: Value,
    controller_uid: Option<String>,
    controller: Option<String>,
}

impl ObservedChild {
    fn of<K: Resource + Serialize>(obj: &K) -> Option<Self> {
        let controller = obj
            .owner_references()
            .iter()
            .find(|r| r.controller == Some(true));
        Some(ObservedChild {
            json: serde_json::to_value(obj).ok()?,
            controller_uid: controller.map(|r| r.uid.clone()),
            controller: controller.map(|r| format!("{} {}", r.kind, r.name)),
        })
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
            && listed(&self.deployments)
            && listed(&self.services)
            && listed(&self.horizontal_pod_autoscalers)
            && listed(&self.ingresses)
            && (!self.has_crd(SCALED_OBJECT_CRD) || listed(&self.scaled_objects))
            && (!self.has_crd(HTTP_SCALED_OBJECT_CRD) || listed(&self.http_scaled_objects))
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

    /// Whether the cluster serves the CRD named `crd`.
    pub fn has_crd(&self, crd: &str) -> bool {
        self.crds.get(&ObjectRef::new(crd)).is_some()
    }

    fn lookup(&self, kind: ChildKind, ns: &str, name: &str) -> Option<ObservedChild> {
        with_kind!(kind, self, |store, T| {
            ObservedChild::of(&*store.get(&ObjectRef::<T>::new(name).within(ns))?)
        })
    }

    /// Names and uids of the children of `kind` that the app with `uid` controls in `ns`. A scan
    /// of the whole cache: see [`Context::needs_prune`] for why that is rare.
    fn owned(&self, kind: ChildKind, ns: &str, app: &str, uid: &str) -> Vec<(String, String)> {
        with_kind!(kind, self, |store, T| {
            store
                .state_filter(|o: &T| {
                    // The uid first: it rules out almost every object without allocating.
                    controlled_by(o, uid)
                        && o.meta().namespace.as_deref() == Some(ns)
                        && o.labels().get(APP_LABEL).map(String::as_str) == Some(app)
                })
                .iter()
                .map(|o| (o.name_any(), o.uid().unwrap_or_default()))
                .collect()
        })
    }
}

/// An app's uid and `metadata.generation`: one version of its spec.
type Generation = (String, Option<i64>);

/// Longest wait before looking again at an object in the way that the operator does not own.
const NOT_OWNED_RECHECK: Duration = Duration::from_secs(30);

/// Longest the first reconciles wait for the caches to fill.
const CACHE_SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// Tunables of the reconciler.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How often an app is reconciled with no event (a no-op when nothing changed).
    pub resync: Duration,
    /// First retry delay after an error; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Field manager of every server-side apply.
    pub field_manager: String,
    /// Least time between two status writes of one app that only report progress (Ready and
    /// Stalled unchanged). While an app converges its Deployments come up one after another,
    /// often within a second; such a change inside this window is written at its end, together
    /// with whatever else changed by then.
    pub status_interval: Duration,
    /// What apps may ask for beyond the defaults.
    pub limits: Limits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            resync: Duration::from_secs(300),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            field_manager: FIELD_MANAGER.to_string(),
            status_interval: Duration::from_secs(2),
            limits: Limits::default(),
        }
    }
}

/// Shared state of all reconciles.
pub struct Context {
    pub client: Client,
    pub stores: Stores,
    pub recorder: Recorder,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per app, for exponential backoff.
    failures: Mutex<HashMap<ObjectRef<ServerlessApp>, u32>>,
    /// Per app, what its last complete prune saw; see [`Context::needs_prune`].
    pruned: Mutex<HashMap<ObjectRef<ServerlessApp>, PruneMark>>,
    /// Per app, when its status was last written, and that status while the app cache has not
    /// shown it yet.
    written: Mutex<HashMap<ObjectRef<ServerlessApp>, StatusWrites>>,
    /// Set once the caches were seen full.
    caches_ready: AtomicBool,
    /// When set, children are written as a ServiceAccount of each app's namespace.
    impersonation: Option<Arc<Impersonation>>,
    /// Per app, the uid and generation whose references that account was last allowed.
    authorized: Mutex<HashMap<ObjectRef<ServerlessApp>, Generation>>,
}

impl Context {
    pub fn new(
        client: Client,
        stores: Stores,
        recorder: Recorder,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Context {
            client,
            stores,
            recorder,
            settings,
            metrics,
            failures: Mutex::default(),
            pruned: Mutex::default(),
            written: Mutex::default(),
            caches_ready: AtomicBool::new(false),
            impersonation: None,
            authorized: Mutex::default(),
        }
    }

    /// Write children as a ServiceAccount of each app's namespace.
    pub fn with_impersonation(mut self, impersonation: Option<Arc<Impersonation>>) -> Self {
        self.impersonation = impersonation;
        self
    }

    /// The client children of namespace `ns` are written (applied, deleted) with.
    fn writer(&self, ns: &str, kind: ChildKind, name: &str) -> Result<Client> {
        match &self.impersonation {
            None => Ok(self.client.clone()),
            Some(imp) => imp.client(ns).map_err(|source| Error::Apply {
                kind: kind.as_str(),
                name: name.to_string(),
                source,
            }),
        }
    }

    /// In impersonation mode, refuse the app unless its namespace's account may use what the
    /// app's pods would use. Asked once per generation (and after a restart), so steady state
    /// sends nothing; a refusal is asked again at each retry.
    async fn authorize(&self, app: &ServerlessApp, ns: &str) -> Result<()> {
        let Some(imp) = &self.impersonation else {
            return Ok(());
        };
        let key = ObjectRef::from_obj(app);
        let mark = (app.uid().unwrap_or_default(), app.metadata.generation);
        let done = self
            .authorized
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            == Some(&mark);
        if !done {
            imp.authorize(app, ns).await?;
            self.authorized
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, mark);
        }
        Ok(())
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<ServerlessApp>, u32>> {
        // A panic while holding this lock leaves plain counters behind; they are still usable.
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pruned(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<ServerlessApp>, PruneMark>> {
        self.pruned.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this reconcile must look for children the app no longer wants. Finding them
    /// scans every cached child, so doing it on every resync made a resync's cost grow with the
    /// number of apps (a quadratic whole). An owned child becomes unwanted only when the spec
    /// changes (a new generation), the app is recreated (a new uid) or a kind becomes servable
    /// (KEDA installed); so the scan runs once per such state, and again after a failed delete.
    /// The marks live in memory: a restarted operator scans every app once.
    pub(crate) fn needs_prune(&self, app: &ServerlessApp) -> bool {
        let Some(mark) = PruneMark::of(app, &self.stores) else {
            return true;
        };
        self.pruned().get(&ObjectRef::from_obj(app)) != Some(&mark)
    }

    fn mark_pruned(&self, app: &ServerlessApp) {
        if let Some(mark) = PruneMark::of(app, &self.stores) {
            self.pruned().insert(ObjectRef::from_obj(app), mark);
        }
    }

    /// Forget an app that is gone.
    pub fn forget(&self, app: &ObjectRef<ServerlessApp>) {
        self.pruned().remove(app);
        self.failures().remove(app);
        self.written().remove(app);
        self.authorized
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(app);
    }

    fn written(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<ServerlessApp>, StatusWrites>> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The app's current status: the cached one, unless this operator wrote a newer one the
    /// cache has not caught up with. A reconcile triggered by a child's event often runs before
    /// the app's watch delivers our own last status write; computing against that stale status
    /// re-wrote the same status with a new transition time and repeated the Ready Event.
    fn current_status(&self, app: &ServerlessApp) -> Option<crate::ServerlessAppStatus> {
        let mut written = self.written();
        let Some(writes) = written.get_mut(&ObjectRef::from_obj(app)) else {
            return app.status.clone();
        };
        let cached = app.metadata.resource_version.as_ref();
        match &writes.unseen {
            Some(unseen) if cached.is_some_and(|v| unseen.older.contains(v)) => {
                Some(unseen.status.clone())
            }
            _ => {
                // The cache shows our last write, or something newer than it.
                writes.unseen = None;
                app.status.clone()
            }
        }
    }

    /// How long until the app's status may be written again, if not now.
    fn status_wait(&self, app: &ServerlessApp) -> Option<Duration> {
        let last = self.written().get(&ObjectRef::from_obj(app))?.at;
        let next = last + self.settings.status_interval;
        let now = tokio::time::Instant::now();
        (next > now).then(|| next - now)
    }

    /// Remember a status write computed from `app` (as cached); `result` is the version the
    /// write produced.
    fn record_status(
        &self,
        app: &ServerlessApp,
        result: Option<String>,
        status: crate::ServerlessAppStatus,
    ) {
        let mut written = self.written();
        let writes = written
            .entry(ObjectRef::from_obj(app))
            .or_insert_with(|| StatusWrites {
                at: tokio::time::Instant::now(),
                unseen: None,
            });
        // Every version up to the one this write produced is stale from now on: the one it was
        // computed from, and those of earlier writes the cache has not shown yet.
        let mut older = writes
            .unseen
            .take()
            .map(|u| {
                let mut older = u.older;
                older.extend(u.version);
                older
            })
            .unwrap_or_default();
        older.extend(app.metadata.resource_version.clone());
        writes.at = tokio::time::Instant::now();
        writes.unseen = Some(UnseenStatus {
            older,
            version: result,
            status,
        });
    }
}

/// The status writes of one app.
struct StatusWrites {
    /// When the last one was sent.
    at: tokio::time::Instant,
    /// The last one, while the app cache may not show it yet.
    unseen: Option<UnseenStatus>,
}

struct UnseenStatus {
    /// App versions older than this write: while the cache shows one of them, it has not seen
    /// the write.
    older: Vec<String>,
    /// The version the write produced.
    version: Option<String>,
    status: crate::ServerlessAppStatus,
}

/// The state of an app and of the cluster's kinds when its children were last pruned.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PruneMark {
    uid: String,
    generation: i64,
    /// Which child kinds the cluster served (KEDA's may come later).
    kinds: Vec<bool>,
}

impl PruneMark {
    /// None when the app has no uid or generation (never from a real API server): always prune.
    fn of(app: &ServerlessApp, stores: &Stores) -> Option<Self> {
        Some(PruneMark {
            uid: app.uid()?,
            generation: app.metadata.generation?,
            kinds: ChildKind::ALL
                .iter()
                .map(|k| k.required_crd().is_none_or(|crd| stores.has_crd(crd)))
                .collect(),
        })
    }
}

/// Bring one app's children and status in line with its spec.
pub async fn reconcile(app: Arc<ServerlessApp>, ctx: Arc<Context>) -> Result<Action> {
    let start = std::time::Instant::now();
    let result = reconcile_app(&app, &ctx).await;
    ctx.metrics
        .reconciled(start.elapsed(), result.as_ref().err().map(Error::category));
    result
}

async fn reconcile_app(app: &Arc<ServerlessApp>, ctx: &Arc<Context>) -> Result<Action> {
    let ns = app.namespace().ok_or(Error::MissingNamespace)?;
    let name = app.name_any();
    if app.metadata.deletion_timestamp.is_some() {
        // Garbage collection removes the children through their owner references.
        return Ok(Action::await_change());
    }
    let uid = app.uid().unwrap_or_default();
    if !ctx.caches_ready.load(Ordering::Relaxed) {
        let ready = ctx.stores.wait_until_ready(CACHE_SYNC_TIMEOUT).await;
        if !ready {
            warn!("caches not synced after {CACHE_SYNC_TIMEOUT:?}; reconciling anyway");
        }
        ctx.caches_ready.store(true, Ordering::Relaxed);
    }

    let checked = match ctx
        .settings
        .limits
        .check(app)
        .and_then(|()| children::desired(app))
    {
        Ok(desired) => ctx.authorize(app, &ns).await.map(|()| desired),
        Err(err) => Err(err),
    };
    let desired = match checked {
        Ok(desired) => desired,
        // A failed access review is retried without claiming the app is stalled.
        Err(err) if !err.is_permanent() => return Err(err),
        Err(err) => {
            let stall = Stall {
                reason: err.category().into(),
                message: err.to_string(),
            };
            let observed = Observed {
                stall: Some(stall),
                ..Observed::default()
            };
            write_status(app, ctx, &observed).await?;
            return Err(err);
        }
    };

    let missing_crds: Vec<&'static str> = desired
        .iter()
        .filter_map(|c| c.kind().required_crd())
        .filter(|crd| !ctx.stores.has_crd(crd))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let kind_available = |kind: ChildKind| {
        kind.required_crd()
            .is_none_or(|crd| ctx.stores.has_crd(crd))
    };

    // Delete first, so a component switching scalers never has two autoscalers at once.
    let wanted: BTreeSet<(ChildKind, String)> =
        desired.iter().map(|c| (c.kind(), c.name())).collect();
    let mut deleted = Vec::new();
    let mut failure: Option<Error> = None;
    let prune = ctx.needs_prune(app);
    for kind in ChildKind::ALL
        .into_iter()
        .filter(|k| prune && kind_available(*k))
    {
        for (child, child_uid) in ctx.stores.owned(kind, &ns, &name, &uid) {
            if wanted.contains(&(kind, child.clone())) {
                continue;
            }
            match delete(ctx, kind, &ns, &child, child_uid).await {
                Ok(()) => deleted.push(format!("{} {child}", kind.as_str())),
                Err(err) => {
                    warn!(%ns, app = %name, error = %err, "prune failed");
                    failure.get_or_insert(err);
                }
            }
        }
    }
    if prune && failure.is_none() {
        ctx.mark_pruned(app);
    }

    let mut applied = Vec::new();
    for child in desired.iter().filter(|c| kind_available(c.kind())) {
        match apply_if_changed(ctx, app, &ns, &uid, child).await {
            Ok(true) => applied.push(format!("{} {}", child.kind().as_str(), child.name())),
            Ok(false) => {}
            Err(err) => {
                warn!(%ns, app = %name, error = %err, "apply failed");
                failure.get_or_insert(err);
            }
        }
    }

    if !applied.is_empty() {
        info!(%ns, app = %name, objects = %applied.join(", "), "applied");
        publish(
            ctx,
            app,
            EventType::Normal,
            "Applied",
            "Apply",
            applied.join(", "),
        )
        .await;
    }
    if !deleted.is_empty() {
        info!(%ns, app = %name, objects = %deleted.join(", "), "deleted");
        publish(
            ctx,
            app,
            EventType::Normal,
            "Deleted",
            "Prune",
            deleted.join(", "),
        )
        .await;
    }

    // A refusal by the API server is reported as Stalled: at once when no retry can help, and
    // when a retry got the same kind of answer back. Anything else is retried with the app not
    // Ready meanwhile (its children may not match its spec).
    let retried = ctx
        .failures()
        .get(&ObjectRef::from_obj(app))
        .is_some_and(|n| *n > 0);
    let stalls = |e: &Error| e.is_permanent() || (retried && e.is_refusal());
    let stall = failure.as_ref().filter(|e| stalls(e)).map(|e| Stall {
        reason: e.category().into(),
        message: e.to_string(),
    });
    let retrying = failure
        .as_ref()
        .filter(|e| !stalls(e))
        .map(ToString::to_string);
    let deployments: Vec<_> = desired
        .iter()
        .filter(|c| c.kind() == ChildKind::Deployment)
        .filter_map(|c| {
            ctx.stores
                .deployments
                .get(&ObjectRef::new(&c.name()).within(&ns))
                .filter(|d| controlled_by(&**d, &uid))
                .map(|d| (c.name(), d))
        })
        .collect();
    let scaled_objects: Vec<_> = desired
        .iter()
        .filter(|c| c.kind() == ChildKind::ScaledObject)
        .filter_map(|c| {
            ctx.stores
                .scaled_objects
                .get(&ObjectRef::new(&c.name()).within(&ns))
                .filter(|s| controlled_by(&**s, &uid))
                .map(|s| (c.name(), s))
        })
        .collect();
    let observed = Observed {
        deployments: deployments.iter().map(|(n, d)| (n.clone(), &**d)).collect(),
        scaled_objects: scaled_objects
            .iter()
            .filter_map(|(n, s)| s.status.as_ref().map(|st| (n.clone(), st)))
            .collect(),
        missing_crds,
        stall,
        retrying,
    };
    let status_due = write_status(app, ctx, &observed).await?;

    if let Some(err) = failure {
        return Err(err);
    }
    ctx.failures().remove(&ObjectRef::from_obj(&**app));
    Ok(Action::requeue(status_due.unwrap_or(ctx.settings.resync)))
}

/// Retry with exponential backoff per app; one failing app never delays the others.
pub fn error_policy(app: Arc<ServerlessApp>, err: &Error, ctx: Arc<Context>) -> Action {
    let attempts = {
        let mut failures = ctx.failures();
        let n = failures.entry(ObjectRef::from_obj(&*app)).or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    let mut delay = backoff(&ctx.settings, attempts);
    if matches!(err, Error::NotOwned { .. }) {
        // The object in the way carries none of the operator's labels, so no watch event
        // tells when it is gone: look again at a steady pace instead of backing off further.
        delay = delay.min(NOT_OWNED_RECHECK);
    }
    warn!(
        ns = app.namespace().unwrap_or_default(),
        app = %app.name_any(),
        error = %err,
        category = err.category(),
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// Delay before retry number `attempts` (1-based): min_backoff * 2^(attempts-1), capped.
pub fn backoff(settings: &Settings, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
    settings
        .min_backoff
        .saturating_mul(factor)
        .min(settings.max_backoff)
}

/// Apply `child` unless the cache shows it already matches. Returns whether it wrote.
async fn apply_if_changed(
    ctx: &Context,
    app: &ServerlessApp,
    ns: &str,
    uid: &str,
    child: &Child,
) -> Result<bool> {
    let kind = child.kind();
    let name = child.name();
    let body = child.to_json()?;
    let observed = match ctx.stores.lookup(kind, ns, &name) {
        Some(observed) => Some(observed),
        // The caches hold only objects with the operator's labels, so a same-named object
        // without them is seen only by asking: one read per child not created yet, and what
        // keeps a force-apply from taking over (adopting) someone else's object.
        None => fetch(ctx, kind, ns, &name).await?,
    };
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
        if diff::up_to_date(&body, &observed.json) {
            debug!(%ns, app = %app.name_any(), kind = kind.as_str(), %name, "up to date");
            return Ok(false);
        }
        hand_over_replicas(ctx, ns, &name, &body, &observed.json).await?;
    }
    let writer = ctx.writer(ns, kind, &name)?;
    with_kind!(kind, ctx.stores, |_store, T| {
        apply::<T>(&writer, &ctx.settings.field_manager, ns, &name, &body)
            .await
            .map_err(|source| Error::Apply {
                kind: kind.as_str(),
                name: name.clone(),
                source,
            })
    })?;
    Ok(true)
}

/// Whether the app with `uid` is `obj`'s controller: status reads only what the app owns, so a
/// same-named object in the way never lends the app its readiness.
fn controlled_by<K: Resource>(obj: &K, uid: &str) -> bool {
    obj.owner_references()
        .iter()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

/// The object `kind`/`name` as the API server has it now, bypassing the caches.
async fn fetch(
    ctx: &Context,
    kind: ChildKind,
    ns: &str,
    name: &str,
) -> Result<Option<ObservedChild>> {
    let found = with_kind!(kind, ctx.stores, |_store, T| {
        Api::<T>::namespaced(ctx.client.clone(), ns)
            .get_opt(name)
            .await
            .map_err(|source| Error::Apply {
                kind: kind.as_str(),
                name: name.to_string(),
                source,
            })?
            .and_then(|obj| ObservedChild::of(&obj))
    });
    Ok(found)
}

/// A component that gains an autoscaler stops having `replicas` set by the operator. Were the
/// operator the field's only manager, dropping it from the apply would reset the Deployment to
/// its default of 1 replica until the autoscaler scales it back. So before that apply, a second
/// field manager takes the field over at its current value, and the autoscaler's own writes
/// (to the scale subresource) take it from there, the handover the server-side apply docs
/// describe. Only when no autoscaler of that name is cached yet: the switch itself.
async fn hand_over_replicas(
    ctx: &Context,
    ns: &str,
    name: &str,
    desired: &Value,
    observed: &Value,
) -> Result<()> {
    if desired["kind"] != "Deployment" || !desired["spec"]["replicas"].is_null() {
        return Ok(());
    }
    let Some(replicas) = observed["spec"]["replicas"].as_i64() else {
        return Ok(());
    };
    let has_autoscaler = ctx
        .stores
        .horizontal_pod_autoscalers
        .get(&ObjectRef::new(name).within(ns))
        .is_some()
        || ctx
            .stores
            .scaled_objects
            .get(&ObjectRef::new(name).within(ns))
            .is_some();
    if has_autoscaler {
        return Ok(());
    }
    let body = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas},
    });
    let manager = format!("{}-handover", ctx.settings.field_manager);
    apply::<Deployment>(
        &ctx.writer(ns, ChildKind::Deployment, name)?,
        &manager,
        ns,
        name,
        &body,
    )
    .await
    .map_err(|source| Error::Apply {
        kind: ChildKind::Deployment.as_str(),
        name: name.to_string(),
        source,
    })?;
    debug!(%ns, %name, replicas, "replicas handed over to the autoscaler");
    Ok(())
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

async fn delete(ctx: &Context, kind: ChildKind, ns: &str, name: &str, uid: String) -> Result<()> {
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

/// Write the computed status if it differs from the stored one; emit an Event when the app's
/// stall reason changes (not on every retry, so a broken app does not flood Events). Progress
/// alone (Ready and Stalled unchanged) waits for `status_interval`; the return value says when
/// to come back for it. Ready and Stalled flips are written at once: GitOps tools wait on them.
async fn write_status(
    app: &ServerlessApp,
    ctx: &Context,
    observed: &Observed<'_>,
) -> Result<Option<Duration>> {
    let current = ctx.current_status(app);
    let previous = current.as_ref();
    let next = status::compute(app, observed, previous, jiff::Timestamp::now());
    if previous == Some(&next) {
        return Ok(None);
    }
    let headline = |s: Option<&crate::ServerlessAppStatus>| {
        let is = |type_: &str| {
            s.is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == type_ && c.status == "True")
            })
        };
        (is(status::READY), is(status::STALLED))
    };
    if headline(previous) == headline(Some(&next))
        && let Some(wait) = ctx.status_wait(app)
    {
        debug!(ns = app.namespace(), app = %app.name_any(), ?wait, "status write deferred");
        return Ok(Some(wait));
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
    let stalled = |s: Option<&crate::ServerlessAppStatus>| {
        s.and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == status::STALLED && c.status == "True")
        })
        .map(|c| (c.reason.clone(), c.message.clone()))
    };
    let (was, now) = (stalled(previous), stalled(Some(&next)));
    if now.is_some()
        && now != was
        && let Some((reason, message)) = &now
    {
        publish(
            ctx,
            app,
            EventType::Warning,
            reason,
            "Reconcile",
            message.clone(),
        )
        .await;
    }
    let was_ready = previous.is_some_and(is_ready);
    if is_ready(&next) && !was_ready {
        publish(
            ctx,
            app,
            EventType::Normal,
            "Ready",
            "Reconcile",
            "all components are available".into(),
        )
        .await;
    }
    ctx.record_status(app, written.metadata.resource_version, next);
    Ok(None)
}

fn is_ready(status: &crate::ServerlessAppStatus) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == status::READY && c.status == "True")
}

/// Publish an Event about the app; a failure to record it is logged, never fatal.
async fn publish(
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

#[cfg(test)]
mod tests;
