//! Wiring: the watches that feed the caches, and the kube-runtime Controller that drives
//! [`reconciler::reconcile`].

use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use kube_lease_manager::LeaseManagerBuilder;
use tracing::{debug, info, warn};

use crate::access::Impersonation;
use crate::api::ServerlessApp;
use crate::children::ChildKind;
use crate::children::keda::{HTTP_SCALED_OBJECT_CRD, SCALED_OBJECT_CRD};
use crate::client::WATCH_TIMEOUT_SECS;
use crate::footprint;
use crate::labels::{APP_LABEL, CONTROLLER_NAME};
use crate::metrics::Metrics;
use crate::reconciler::caches::{self, Cacheable, Unseen, cache_event};
use crate::reconciler::cold_start::ColdStarts;
use crate::reconciler::{self, Context, Settings, Stores};

/// Objects per page of a watch's list. A page is decoded whole, managed fields and pod
/// templates included, before its objects are slimmed for the caches; at kube's default of
/// 500, the pages of every watch listed at once were the operator's peak memory at a start.
const LIST_PAGE: u32 = 100;

/// Where client-side `kubectl apply` keeps the last applied configuration.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn watch_config() -> watcher::Config {
    watcher::Config::default()
        .timeout(WATCH_TIMEOUT_SECS)
        .page_size(LIST_PAGE)
}

/// The Controller by default backs off the merged stream of all its watches whenever any one
/// fails, which pauses every watch; after an API server restart, several watches failing in turn
/// kept the merged stream backing off for minutes while the paused watches went stale. Each
/// watch here has its own backoff instead, and the merged stream none.
struct NoJointBackoff;

impl Iterator for NoJointBackoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl kube::runtime::utils::Backoff for NoJointBackoff {
    fn reset(&mut self) {}
}

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Watch only this namespace; all namespaces when None.
    pub namespace: Option<String>,
    /// Reconcile only the apps this selector (on [`crate::labels::SHARD_LABEL`]) matches, and
    /// cache only their children.
    pub shard: Option<String>,
    /// Reconcile only the apps of namespaces this label selector matches.
    pub namespace_selector: Option<String>,
    /// Reconciles running at once (different apps; one app is never reconciled twice at once).
    pub concurrency: u16,
    pub settings: Settings,
    /// Reconcile only while holding this Lease; always when None.
    pub leader_election: Option<LeaseOptions>,
    /// Write each app's children as a ServiceAccount of its namespace.
    pub impersonation: Option<Arc<Impersonation>>,
    /// This replica's name (its pod's) in the Events it records.
    pub instance: Option<String>,
    /// Memory the process may use (its cgroup's limit); see [`run`].
    pub memory_limit: Option<u64>,
}

/// The Lease that elects one active replica.
#[derive(Clone, Debug)]
pub struct LeaseOptions {
    pub name: String,
    pub namespace: String,
    /// Unique per replica (the pod name in a cluster).
    pub identity: String,
    /// Seconds a lease stays valid without renewal; a standby takes over after that.
    pub duration_seconds: u64,
    /// Seconds before expiry at which the holder renews.
    pub grace_seconds: u64,
}

/// The controller's app cache, shared with the metrics endpoint once a controller runs.
pub type AppsHandle = Arc<Mutex<Option<Caches>>>;

/// The caches of a running controller: its apps and their children.
#[derive(Clone)]
pub struct Caches {
    pub apps: Store<ServerlessApp>,
    pub children: Stores,
}

/// Run until SIGTERM/SIGINT: the controller directly, or with leader election a standby loop
/// that runs the controller only while this replica holds the Lease. Losing the Lease stops the
/// controller at once (in-flight reconciles are dropped, so nothing more is written); a signal
/// stops it gracefully (in-flight reconciles finish) and then releases the Lease.
pub async fn run_until_shutdown(
    client: Client,
    options: Options,
    metrics: Arc<Metrics>,
    apps: AppsHandle,
) -> Result<(), LeaderError> {
    let shutdown = shutdown_signal();
    let graceful = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let Some(lease) = options.leader_election.clone() else {
        metrics.leader.set(1);
        run(client, options, metrics, apps, graceful(shutdown)).await;
        return Ok(());
    };

    let manager = LeaseManagerBuilder::new(client.clone(), &lease.name)
        .with_namespace(&lease.namespace)
        .with_identity(&lease.identity)
        .with_duration(lease.duration_seconds)
        .with_grace(lease.grace_seconds)
        .build()
        .await?;
    let (mut leader, lease_task) = manager.watch().await;
    loop {
        // Standing by is healthy: a standby is ready, it just does not reconcile.
        metrics.leader.set(0);
        metrics.set_ready(true);
        info!(lease = %lease.name, identity = %lease.identity, "standing by for the lease");
        let mut stop = shutdown.clone();
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            acquired = leader.wait_for(|l| *l) => if acquired.is_err() { break },
        }
        info!(lease = %lease.name, identity = %lease.identity, "acquired the lease");
        metrics.leader.set(1);
        metrics.set_ready(false);
        let mut lost = leader.clone();
        tokio::select! {
            _ = run(client.clone(), options.clone(), metrics.clone(), apps.clone(), graceful(shutdown.clone())) => {}
            _ = lost.wait_for(|l| !*l) => warn!(lease = %lease.name, "lost the lease: controller stopped"),
            late = renewals_stop(client.clone(), lease.clone()) => {
                // The lease manager still believes it leads; exiting is the one way to be sure
                // nothing more is written. A restarted replica leads again only once it renews.
                metrics.leader.set(0);
                warn!(lease = %lease.name, ?late, "could not renew the lease in time: controller stopped");
                return Err(LeaderError::RenewalsLost(late));
            }
        }
        if *shutdown.borrow() {
            break;
        }
    }
    metrics.leader.set(0);
    // Closing the channel makes the lease task release the Lease.
    drop(leader);
    match lease_task.await {
        Ok(Ok(_)) => info!(lease = %lease.name, "released the lease"),
        Ok(Err(err)) => warn!(error = %err, "releasing the lease"),
        Err(err) => warn!(error = %err, "lease task"),
    }
    Ok(())
}

/// Why a replica stopped leading with an error.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error(transparent)]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("the lease was not renewed for {0:?}: a standby may take over")]
    RenewalsLost(Duration),
}

/// Resolves once this replica has not seen its own Lease renewed for longer than it may lead
/// without one. The lease manager keeps believing it leads while its renewals fail (a lost API
/// server, a refused update), but a standby takes over `duration` after the last renewal; so
/// the leader must stop first. Renewals come `duration - grace` apart; the Lease is read every
/// `grace / 4`, and the deadline, `duration - grace / 2`, lies between a renewal (plus one read)
/// and the standby's takeover (minus one read).
async fn renewals_stop(client: Client, lease: LeaseOptions) -> Duration {
    use k8s_openapi::api::coordination::v1::Lease;
    let api: Api<Lease> = Api::namespaced(client, &lease.namespace);
    let grace = Duration::from_secs(lease.grace_seconds);
    let period = (grace / 4).max(Duration::from_millis(250));
    let deadline = Duration::from_secs(lease.duration_seconds).saturating_sub(grace / 2);
    let mut seen = None;
    let mut confirmed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(period).await;
        if let Ok(current) = api.get(&lease.name).await {
            let spec = current.spec.unwrap_or_default();
            if spec.holder_identity.as_deref() == Some(lease.identity.as_str())
                && spec.renew_time != seen
            {
                seen = spec.renew_time;
                confirmed = tokio::time::Instant::now();
            }
        }
        let late = confirmed.elapsed();
        if late > deadline {
            return late;
        }
    }
}

/// A flag that turns true on SIGTERM or SIGINT.
fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut sig) => {
                    sig.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
        info!("shutdown requested");
        let _ = tx.send(true);
    });
    rx
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Watch one child kind (only objects carrying the app label): a cache for the reconciler, and
/// a reconcile of the owning app when one changes. KEDA's kinds fail to watch until KEDA is
/// installed.
#[allow(clippy::too_many_arguments)]
fn own<K: Cacheable>(
    controller: Controller<ServerlessApp>,
    client: &Client,
    namespace: Option<&str>,
    shard: Option<&str>,
    manager: &str,
    kind: ChildKind,
    cold_starts: &Arc<ColdStarts>,
    unseen: &Arc<Unseen>,
) -> (Controller<ServerlessApp>, Store<K::Cached>) {
    let needs_crd = kind.required_crd().is_some();
    let (reader, writer) = reflector::store();
    // Children carry their app's shard label, so the app's selector selects them too.
    let selector = match shard {
        Some(shard) => format!("{APP_LABEL},{shard}"),
        None => APP_LABEL.to_string(),
    };
    let config = watch_config().labels(&selector);
    let manager = manager.to_string();
    let (cold_starts, before) = (cold_starts.clone(), reader.clone());
    let cached = reader.clone();
    let unseen = unseen.clone();
    let stream = watcher(api::<K>(client, namespace), config)
        .default_backoff()
        .map_ok(move |event| cache_event(event, &manager))
        .try_filter(move |event| std::future::ready(!caches::unchanged(event, &cached)))
        // Before the cache takes the event: it still holds the version before it.
        .inspect_ok(move |event| cold_starts.watch_event(event, &before))
        .reflect(writer)
        // After the cache took the event: see `Stores::created`.
        .inspect_ok(move |event| unseen.watch_event(kind, event))
        .touched_objects()
        .filter_map(move |event| async move {
            match event {
                Err(err) if needs_crd => {
                    // KEDA kinds fail to list until KEDA is installed; the CRD watch reports that.
                    debug!(kind = %K::kind(&()), error = %err, "watch failed");
                    None
                }
                other => Some(other),
            }
        });
    (controller.owns_stream(stream), reader)
}

/// Watch every child kind: a cache the reconciler reads and a stream that reconciles the
/// owning app when a child changes. [`Stores`] needs every field, and this is the only place
/// that fills them, so a kind cannot be cached without being watched.
fn own_children(
    controller: Controller<ServerlessApp>,
    client: &Client,
    ns: Option<&str>,
    shard: Option<&str>,
    manager: &str,
    crds: Store<PartialObjectMeta<CustomResourceDefinition>>,
) -> (Controller<ServerlessApp>, Stores) {
    macro_rules! own_all {
        ($($kind:ident: $ty:ty, $field:ident, $crd:expr;)*) => {{
            let c = controller;
            let cold_starts = Arc::new(ColdStarts::default());
            let unseen = Arc::new(Unseen::default());
            $(let (c, $field) =
                own::<$ty>(c, client, ns, shard, manager, ChildKind::$kind, &cold_starts, &unseen);)*
            (c, Stores { $($field,)* crds, cold_starts, unseen })
        }};
    }
    let (c, stores) = crate::children::child_kinds!(own_all);
    (c, stores)
}

/// A task that ends with the scope that spawned it: the readiness check of a controller must
/// not outlive it (and mark a stopped controller ready).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long a controller stopped for memory waits before it tries again (the apps may have
/// been moved to another shard, or deleted, meanwhile).
const MEMORY_RETRY: Duration = Duration::from_secs(300);

/// Run the controller until `stop` resolves. With a memory limit, the controller also stops
/// when the operator's resident size passes [`footprint::STOP_AT`] of it: its caches are
/// dropped, it says so, stays up and not ready, and tries again after [`MEMORY_RETRY`].
pub async fn run(
    client: Client,
    options: Options,
    metrics: Arc<Metrics>,
    apps: AppsHandle,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) {
    use futures::FutureExt;
    let stop = stop.shared();
    let Some(limit) = options.memory_limit else {
        return run_controller(client, options, metrics, apps, stop).await;
    };
    metrics
        .memory_limit
        .set(i64::try_from(limit).unwrap_or(i64::MAX));
    loop {
        let observed = metrics.clone();
        let pressure = footprint::pressure(limit, Duration::from_secs(1), move |rss| {
            observed
                .memory_resident
                .set(i64::try_from(rss).unwrap_or(i64::MAX));
        });
        // Stopped at once, like a replica that lost its Lease: in-flight reconciles are dropped.
        let rss = tokio::select! {
            _ = run_controller(client.clone(), options.clone(), metrics.clone(), apps.clone(), stop.clone()) => return,
            rss = pressure => rss,
        };
        // Its caches went with it; what is left of them in the allocator is reused next time.
        *apps.lock().unwrap_or_else(|e| e.into_inner()) = None;
        metrics.set_ready(false);
        metrics.memory_stopped.set(1);
        tracing::error!(
            resident_mib = rss >> 20,
            limit_mib = limit >> 20,
            retry_in = ?MEMORY_RETRY,
            "memory past {:.0}% of the limit: controller stopped, nothing is reconciled until it \
             fits. Shard the apps (config/shards) or raise the limit",
            footprint::STOP_AT * 100.0
        );
        tokio::select! {
            _ = stop.clone() => return,
            _ = tokio::time::sleep(MEMORY_RETRY) => {}
        }
        metrics.memory_stopped.set(0);
        info!("trying again after stopping for memory");
    }
}

/// Run one controller until `stop` resolves; in-flight reconciles then finish.
async fn run_controller(
    client: Client,
    options: Options,
    metrics: Arc<Metrics>,
    apps: AppsHandle,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = options.namespace.as_deref();
    // KEDA may be installed after the operator: watch CRD metadata, and reconcile every app when
    // a KEDA CRD comes or goes.
    let (crds, crd_writer) = reflector::store();
    let keda_changes = watcher(
        Api::<PartialObjectMeta<CustomResourceDefinition>>::all(client.clone()),
        watch_config(),
    )
    .default_backoff()
    .reflect(crd_writer)
    .filter_map(|event| async move {
        let is_keda = |crd: &PartialObjectMeta<CustomResourceDefinition>| {
            [SCALED_OBJECT_CRD, HTTP_SCALED_OBJECT_CRD].contains(&crd.name_any().as_str())
        };
        match event {
            Ok(watcher::Event::Apply(crd) | watcher::Event::InitApply(crd)) if is_keda(&crd) => {
                info!(crd = %crd.name_any(), "KEDA CRD present");
                Some(())
            }
            // Its apps' scalers went with it: they must say so rather than stay Ready.
            Ok(watcher::Event::Delete(crd)) if is_keda(&crd) => {
                warn!(crd = %crd.name_any(), "KEDA CRD removed");
                Some(())
            }
            Ok(_) => None,
            Err(err) => {
                warn!(error = %err, "watching CRDs failed");
                None
            }
        }
    });

    // With a namespace selector, the selected namespaces (metadata only). A namespace that
    // starts or stops matching arrives as an apply or a delete of this label-selected watch;
    // either reconciles every app, which then looks its namespace up here.
    let (namespaces, namespace_changes) = match options.namespace_selector.as_deref() {
        Some(selector) => {
            let (reader, writer) = reflector::store();
            let changes = watcher(
                Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
                watch_config().labels(selector),
            )
            .default_backoff()
            .reflect(writer)
            .filter_map(|event| async move {
                match event {
                    Ok(watcher::Event::Apply(ns)) => {
                        info!(namespace = %ns.name_any(), "namespace selected");
                        Some(())
                    }
                    Ok(watcher::Event::Delete(ns)) => {
                        info!(namespace = %ns.name_any(), "namespace no longer selected");
                        Some(())
                    }
                    // The first list is complete: the apps skipped meanwhile get their turn.
                    Ok(watcher::Event::InitDone) => Some(()),
                    Ok(_) => None,
                    Err(err) => {
                        warn!(error = %err, "watching namespaces failed");
                        None
                    }
                }
            });
            (Some(reader), changes.boxed())
        }
        None => (None, futures::stream::pending().boxed()),
    };

    // The main watch gets its own backoff like the children's; see `NoJointBackoff`.
    let (app_reader, app_writer) = reflector::store();
    let shard = options.shard.as_deref();
    let app_config = match shard {
        Some(shard) => watch_config().labels(shard),
        None => watch_config(),
    };
    let app_events = watcher(api::<ServerlessApp>(&client, ns), app_config)
        .default_backoff()
        // Nothing reads an app's managed fields, nor the copy of its spec that client-side
        // `kubectl apply` (and Argo CD by default) keeps in an annotation: each can be as large
        // as the spec.
        .modify(|app: &mut ServerlessApp| {
            app.managed_fields_mut().clear();
            app.annotations_mut().remove(LAST_APPLIED);
        })
        .reflect(app_writer)
        .touched_objects();
    let controller = Controller::for_stream(app_events, app_reader).trigger_backoff(NoJointBackoff);
    let manager = &options.settings.field_manager;
    let (controller, stores) = own_children(controller, &client, ns, shard, manager, crds);
    let reporter = Reporter {
        controller: CONTROLLER_NAME.into(),
        instance: options.instance.clone(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let ready_stores = stores.clone();
    let ready_metrics = metrics.clone();
    let readiness = AbortOnDrop(tokio::spawn(async move {
        if ready_stores
            .wait_until_ready(Duration::from_secs(300))
            .await
        {
            ready_metrics.set_ready(true);
        }
    }));
    let ctx = Arc::new(
        Context::new(
            client.clone(),
            stores,
            recorder,
            options.settings.clone(),
            metrics,
        )
        .with_impersonation(options.impersonation.clone())
        .with_namespaces(namespaces),
    );

    info!(
        namespace = ns.unwrap_or("<all>"),
        concurrency = options.concurrency,
        "starting controller"
    );
    let gone_ctx = ctx.clone();
    *apps.lock().unwrap_or_else(|e| e.into_inner()) = Some(Caches {
        apps: controller.store(),
        children: ctx.stores.clone(),
    });
    controller
        .with_config(controller::Config::default().concurrency(options.concurrency))
        .reconcile_all_on(futures::stream::select(keda_changes, namespace_changes))
        .graceful_shutdown_on(stop)
        .run(reconciler::reconcile, reconciler::error_policy, ctx)
        .for_each(|result| {
            if let Err(controller::Error::ObjectNotFound(obj)) = &result {
                // Its children's deletion by the garbage collector triggers this once.
                let mut app = reflector::ObjectRef::<ServerlessApp>::new(&obj.name);
                app.namespace = obj.namespace.clone();
                gone_ctx.forget(&app);
            }
            async move {
                match result {
                    Ok((obj, _)) => debug!(ns = obj.namespace, app = %obj.name, "reconciled"),
                    // Reconcile failures are logged by the error policy with their app.
                    Err(controller::Error::ReconcilerFailed(..)) => {}
                    // An app deleted while queued: nothing to do.
                    Err(controller::Error::ObjectNotFound(obj)) => debug!(app = %obj, "gone"),
                    Err(err) => warn!(error = %err, "controller"),
                }
            }
        })
        .await;
    drop(readiness);
    info!("controller stopped");
}
