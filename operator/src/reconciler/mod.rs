//! The reconciler: brings one app's children and status in line with its spec.
//!
//! The flow, in [`reconcile`]: observe (the caches), build (the desired children, pure), prune
//! (children no longer desired), apply (only what differs from the cache, server-side apply,
//! one field manager), report (status, only when it changed). A resync of an app that already
//! matches sends no request at all. The rooms: [`caches`] what is known of the cluster,
//! `memory` what is remembered of each app, `writer` every request that changes the cluster.

pub mod caches;
pub mod cold_start;
mod memory;
mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use tracing::{debug, info, warn};

use crate::access::Impersonation;
use crate::api::{ColdStart, ServerlessApp};
use crate::children::{self, Child, ChildKind};
use crate::error::{Error, Result};
use crate::labels::FIELD_MANAGER;
use crate::limits::Limits;
use crate::metrics::{Metrics, ScalerLabels};
use crate::status::{self, Observed, Stall};
use caches::ObservedChild;
pub use caches::Stores;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use memory::{Memory, PruneMark};
use writer::{apply_if_changed, delete, publish, write_status};

/// Longest wait before looking again at an object in the way that the operator does not own.
const NOT_OWNED_RECHECK: Duration = Duration::from_secs(30);

/// Longest the first reconciles wait for the caches to fill.
/// Requests for one app's children in flight at once (an app has one Deployment, Service and
/// autoscaler per component, and a disruption budget or Ingress on some).
const CHILD_REQUESTS_AT_ONCE: usize = 8;

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
    /// Stalled unchanged, no failure), and how long a new app's first status waits. While an
    /// app converges its Deployments come up one after another; such a change inside this
    /// window is written at its end, together with whatever else changed by then, and a new app
    /// Ready within it gets a single status write. Ready, Stalled and failures are written at
    /// once.
    pub status_interval: Duration,
    /// Progress-only status writes per second, all apps together (Ready, Stalled and failures
    /// are outside this budget). When many apps converge at once, their progress is the write
    /// that can wait: the API server's capacity goes to their children first.
    pub progress_writes_per_second: u32,
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
            status_interval: Duration::from_secs(10),
            progress_writes_per_second: 2,
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
    memory: Memory,
    /// Set once the caches were seen full.
    caches_ready: AtomicBool,
    /// When set, children are written as a ServiceAccount of each app's namespace.
    impersonation: Option<Arc<Impersonation>>,
    /// When set, only apps in these namespaces (the ones `--namespace-selector` matches) are
    /// reconciled.
    namespaces: Option<Store<PartialObjectMeta<Namespace>>>,
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
            memory: Memory::default(),
            caches_ready: AtomicBool::new(false),
            impersonation: None,
            namespaces: None,
        }
    }

    /// Reconcile only apps in the namespaces this cache holds (a label-selected watch).
    pub fn with_namespaces(
        mut self,
        namespaces: Option<Store<PartialObjectMeta<Namespace>>>,
    ) -> Self {
        self.namespaces = namespaces;
        self
    }

    /// Whether the app's namespace is one the operator reconciles.
    fn selects(&self, ns: &str) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|selected| selected.get(&ObjectRef::new(ns)).is_some())
    }

    /// Write children as a ServiceAccount of each app's namespace.
    pub fn with_impersonation(mut self, impersonation: Option<Arc<Impersonation>>) -> Self {
        self.impersonation = impersonation;
        self
    }

    /// Forget an app that is gone.
    pub fn forget(&self, app: &ObjectRef<ServerlessApp>) {
        self.memory.forget(app);
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
        let mark = (app.uid().unwrap_or_default(), app.metadata.generation);
        if self.memory.authorized(app) != Some(mark.clone()) {
            imp.authorize(app, ns).await?;
            self.memory.mark_authorized(app, mark);
        }
        Ok(())
    }

    /// Whether this reconcile must look for children the app no longer wants. Finding them
    /// scans every cached child, so doing it on every resync made a resync's cost grow with the
    /// number of apps (a quadratic whole). An owned child becomes unwanted only when the spec
    /// changes (a new generation), the app is recreated (a new uid) or a kind becomes servable
    /// (KEDA installed); so the scan runs once per such state, and again after a failed delete.
    pub(crate) fn needs_prune(&self, app: &ServerlessApp) -> bool {
        let Some(mark) = PruneMark::of(app, &self.stores) else {
            return true;
        };
        self.memory.pruned(app) != Some(mark)
    }

    async fn wait_for_caches(&self) {
        if !self.caches_ready.load(Ordering::Relaxed) {
            if !self.stores.wait_until_ready(CACHE_SYNC_TIMEOUT).await {
                warn!("caches not synced after {CACHE_SYNC_TIMEOUT:?}; reconciling anyway");
            }
            self.caches_ready.store(true, Ordering::Relaxed);
        }
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

async fn reconcile_app(app: &ServerlessApp, ctx: &Context) -> Result<Action> {
    let ns = app.namespace().ok_or(Error::MissingNamespace)?;
    if app.metadata.deletion_timestamp.is_some() {
        // Garbage collection removes the children through their owner references.
        return Ok(Action::await_change());
    }
    if !ctx.selects(&ns) {
        // Its namespace is not (or no longer) selected: hands off, children and status left as
        // they are. Selecting the namespace reconciles its apps again.
        debug!(%ns, app = %app.name_any(), "namespace not selected");
        return Ok(Action::await_change());
    }
    ctx.wait_for_caches().await;

    let desired = match build(app, ctx, &ns).await {
        Ok(desired) => desired,
        Err(err) => return Err(refuse(app, ctx, err).await),
    };
    // Delete first, so a component switching scalers never has two autoscalers at once.
    let mut failure = None;
    let deleted = prune(app, ctx, &ns, &desired, &mut failure).await;
    let applied = apply(app, ctx, &ns, &desired, &mut failure).await;
    // A new app's children being created is no news: its status tells it.
    if status::reported(ctx.memory.current_status(app).as_ref()) {
        announce(ctx, app, "Applied", "Apply", &applied).await;
        if !applied.is_empty() || !deleted.is_empty() {
            ctx.memory.mark_changed(app);
        }
    }
    announce(ctx, app, "Deleted", "Prune", &deleted).await;
    let status_due = report(app, ctx, &ns, &desired, failure.as_ref()).await?;
    if let Some(err) = failure {
        return Err(err);
    }
    ctx.memory.succeeded(app);
    Ok(Action::requeue(status_due.unwrap_or(ctx.settings.resync)))
}

/// The children the app wants, once it is allowed to have them: within the operator's limits
/// and, when impersonating, what its namespace's account may use.
async fn build(app: &ServerlessApp, ctx: &Context, ns: &str) -> Result<Vec<Child>> {
    ctx.settings.limits.check(app)?;
    let desired = children::desired(app)?;
    ctx.authorize(app, ns).await?;
    Ok(desired)
}

/// An app that cannot be built: Stalled when no retry can help (nothing of it is written),
/// retried silently otherwise (a failed access review). Returns the error for the retry.
async fn refuse(app: &ServerlessApp, ctx: &Context, err: Error) -> Error {
    if err.is_permanent() {
        let observed = Observed {
            stall: Some(Stall {
                reason: err.category().into(),
                message: err.to_string(),
            }),
            ..Observed::default()
        };
        if let Err(status_err) = write_status(app, ctx, &observed).await {
            return status_err;
        }
    }
    err
}

/// Delete the children the app controls but no longer wants, when its spec or the kinds the
/// cluster serves changed since the last complete prune. Returns what it deleted.
async fn prune(
    app: &ServerlessApp,
    ctx: &Context,
    ns: &str,
    desired: &[Child],
    failure: &mut Option<Error>,
) -> Vec<String> {
    let mut deleted = Vec::new();
    if !ctx.needs_prune(app) {
        return deleted;
    }
    let (name, uid) = (app.name_any(), app.uid().unwrap_or_default());
    let wanted: BTreeSet<(ChildKind, String)> =
        desired.iter().map(|c| (c.kind(), c.name())).collect();
    let mut complete = true;
    for &kind in ChildKind::ALL.iter().filter(|&&k| ctx.stores.serves(k)) {
        for (child, child_uid) in ctx.stores.owned(kind, ns, &uid) {
            if wanted.contains(&(kind, child.clone())) {
                continue;
            }
            match delete(ctx, kind, ns, &child, child_uid).await {
                Ok(()) => deleted.push(format!("{} {child}", kind.as_str())),
                Err(err) => {
                    warn!(%ns, app = %name, error = %err, "prune failed");
                    complete = false;
                    failure.get_or_insert(err);
                }
            }
        }
    }
    if complete && let Some(mark) = PruneMark::of(app, &ctx.stores) {
        ctx.memory.mark_pruned(app, mark);
    }
    deleted
}

/// Apply every desired child of a kind the cluster serves that differs from the cache.
/// Returns what it applied; the first failure is kept and the other children still applied.
async fn apply(
    app: &ServerlessApp,
    ctx: &Context,
    ns: &str,
    desired: &[Child],
    failure: &mut Option<Error>,
) -> Vec<String> {
    let uid = app.uid().unwrap_or_default();
    let children: Vec<(&Child, Option<ObservedChild>)> = desired
        .iter()
        .filter(|c| ctx.stores.serves(c.kind()))
        .map(|c| (c, ctx.stores.lookup(c.kind(), ns, &c.name())))
        .collect();
    // Every watch event of a child reconciles its app, a dozen per app while it converges.
    // When neither the app nor what the caches show of its children changed since all were
    // found up to date, none can differ: the children are not encoded and fingerprinted
    // again, which was most of a reconcile's work.
    let state = checked_state(app, &children);
    if ctx.memory.checked(app) == Some(state) {
        return Vec::new();
    }
    // The children of one app are independent requests: sent together, an app's five take one
    // round trip instead of five, which is what set the pace of convergence while the API
    // server had capacity left.
    let requests: Vec<_> = children
        .into_iter()
        .map(|(child, observed)| apply_child(ctx, app, ns, &uid, child, observed))
        .collect();
    let results: Vec<_> = stream::iter(requests)
        .buffered(CHILD_REQUESTS_AT_ONCE)
        .collect()
        .await;
    let mut applied = Vec::new();
    for (child, result) in results {
        match result {
            Ok(true) => applied.push(format!("{} {}", child.kind().as_str(), child.name())),
            Ok(false) => {}
            Err(err) => {
                warn!(%ns, app = %app.name_any(), error = %err, "apply failed");
                failure.get_or_insert(err);
            }
        }
    }
    // Only a check that found everything as desired vouches for its state: after a write, the
    // watch brings the child's new version, and the next reconcile checks that.
    if applied.is_empty() && failure.is_none() {
        ctx.memory.mark_checked(app, state);
    }
    applied
}

/// The app's version (its spec, labels and annotations, and its status) and what the caches
/// show of each of its children, as one hash.
fn checked_state(app: &ServerlessApp, children: &[(&Child, Option<ObservedChild>)]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = fnv::FnvHasher::default();
    app.metadata.uid.hash(&mut hasher);
    app.metadata.generation.hash(&mut hasher);
    app.metadata.resource_version.hash(&mut hasher);
    for (child, observed) in children {
        child.kind().hash(&mut hasher);
        child.name().hash(&mut hasher);
        observed.hash(&mut hasher);
    }
    hasher.finish()
}

async fn apply_child<'a>(
    ctx: &Context,
    app: &ServerlessApp,
    ns: &str,
    uid: &str,
    child: &'a Child,
    observed: Option<ObservedChild>,
) -> (&'a Child, Result<bool>) {
    (
        child,
        apply_if_changed(ctx, app, ns, uid, child, observed).await,
    )
}

/// Log and publish one Event for the objects a reconcile wrote, if any.
async fn announce(
    ctx: &Context,
    app: &ServerlessApp,
    reason: &str,
    action: &str,
    objects: &[String],
) {
    if objects.is_empty() {
        return;
    }
    let objects = objects.join(", ");
    info!(ns = app.namespace().unwrap_or_default(), app = %app.name_any(), %objects, "{}", reason.to_lowercase());
    publish(ctx, app, EventType::Normal, reason, action, objects).await;
}

/// Write the status the cluster now shows. Returns when to come back for a deferred write.
async fn report(
    app: &ServerlessApp,
    ctx: &Context,
    ns: &str,
    desired: &[Child],
    failure: Option<&Error>,
) -> Result<Option<Duration>> {
    // A refusal by the API server is reported as Stalled: at once when no retry can help, and
    // when a retry got the same kind of answer back. Anything else is retried with the app not
    // Ready meanwhile (its children may not match its spec).
    let retried = ctx.memory.failures(app) > 0;
    let stalls = |e: &Error| e.is_permanent() || (retried && e.is_refusal());
    let stall = failure.filter(|e| stalls(e)).map(|e| Stall {
        reason: e.category().into(),
        message: e.to_string(),
    });
    let retrying = failure.filter(|e| !stalls(e)).map(ToString::to_string);
    let uid = app.uid().unwrap_or_default();
    let named = |kind: ChildKind| {
        desired
            .iter()
            .filter(move |c| c.kind() == kind)
            .map(|c| c.name())
    };
    let deployments: Vec<_> = named(ChildKind::Deployment)
        .filter_map(|n| Stores::owned_one(&ctx.stores.deployments, ns, &n, &uid).map(|d| (n, d)))
        .collect();
    let scaled_objects: Vec<_> = named(ChildKind::ScaledObject)
        .filter_map(|n| Stores::owned_one(&ctx.stores.scaled_objects, ns, &n, &uid).map(|s| (n, s)))
        .collect();
    let missing_crds: Vec<&'static str> = desired
        .iter()
        .filter_map(|c| c.kind().required_crd())
        .filter(|crd| !ctx.stores.has_crd(crd))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let cold_starts = cold_starts(app, ctx, ns, &deployments).await;
    let observed = Observed {
        deployments: deployments.iter().map(|(n, d)| (n.clone(), &**d)).collect(),
        cold_starts,
        scaled_objects: scaled_objects
            .iter()
            .filter_map(|(n, s)| s.status.as_ref().map(|st| (n.clone(), st)))
            .collect(),
        missing_crds,
        stall,
        retrying,
    };
    write_status(app, ctx, &observed).await
}

/// The last cold start of each of the app's Deployments (`deployments`: those it controls), as
/// the status shows it. Each new one is counted in the metrics once, and told in a Warning
/// Event when it took longer than the component's `coldStartBudget`.
async fn cold_starts<D>(
    app: &ServerlessApp,
    ctx: &Context,
    ns: &str,
    deployments: &[(String, D)],
) -> BTreeMap<String, ColdStart> {
    let mut out = BTreeMap::new();
    for component in app.components() {
        let name = component.object_name(&app.name_any());
        if !deployments.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let budget = component.spec().cold_start_budget.map(Duration::from);
        let over = |took: Duration| budget.is_some_and(|b| took > b);
        let scaler = component.scaler().as_str();
        for took in ctx.stores.cold_starts.take_unreported(ns, &name) {
            ctx.metrics
                .cold_starts
                .get_or_create(&ScalerLabels { scaler })
                .observe(took.as_secs_f64());
            if over(took) {
                let note = format!(
                    "{}: scaled from zero in {:.1}s, over its coldStartBudget of {}",
                    component.name(),
                    took.as_secs_f64(),
                    component
                        .spec()
                        .cold_start_budget
                        .map(|b| b.to_string())
                        .unwrap_or_default(),
                );
                publish(
                    ctx,
                    app,
                    EventType::Warning,
                    "ColdStartOverBudget",
                    "Measure",
                    note,
                )
                .await;
            }
        }
        if let Some(m) = ctx.stores.cold_starts.last(ns, &name) {
            out.insert(
                name,
                ColdStart {
                    ready_at: Time(m.ready_at),
                    milliseconds: i64::try_from(m.took.as_millis()).unwrap_or(i64::MAX),
                    over_budget: over(m.took),
                },
            );
        }
    }
    out
}

/// Retry with exponential backoff per app; one failing app never delays the others.
pub fn error_policy(app: Arc<ServerlessApp>, err: &Error, ctx: Arc<Context>) -> Action {
    let attempts = ctx.memory.failed(&app);
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

#[cfg(test)]
mod tests;
