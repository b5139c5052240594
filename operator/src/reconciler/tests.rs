//! Request sequences of a reconcile against a mock API server that records every request.
//! The caches are filled by hand, as the watches would fill them.

use std::sync::{Arc, Mutex};

use http::{Method, Request, Response};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Resource;
use kube::api::PartialObjectMeta;
use kube::client::Body;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{Store, store::Writer};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::*;
use crate::api::ServerlessAppStatus;
use crate::children::keda;
use crate::testing::TestApp;

/// One request the operator sent.
#[derive(Clone, Debug)]
struct Sent {
    method: Method,
    path: String,
    query: String,
    content_type: String,
    body: Value,
}

impl Sent {
    fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Answers like an API server that accepts everything: applies echo the body (those with a
/// resource version conflict with what `existing` holds), status patches return `app` with the
/// new status, deletes succeed, reads find what `existing` holds by path and nothing else.
/// Requests whose path contains the failing path get its code with a message.
async fn serve(
    mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    sent: Arc<Mutex<Vec<Sent>>>,
    fail: Option<(String, u16)>,
    app: Value,
    existing: Vec<(String, Value)>,
) {
    while let Some((request, respond)) = handle.next_request().await {
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let path = parts.uri.path().to_string();
        sent.lock().unwrap().push(Sent {
            method: parts.method.clone(),
            path: path.clone(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            content_type: parts
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            body: body.clone(),
        });
        let (code, reply) = if let Some((_, code)) =
            fail.as_ref().filter(|(f, _)| path.contains(f.as_str()))
        {
            (
                *code,
                json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code,
                       "reason": "Invalid",
                       "message": "admission webhook denied the request: images from this registry are not allowed"}),
            )
        } else if parts.method == Method::PATCH
            && body["metadata"]["resourceVersion"].is_string()
            && existing.iter().any(|(p, _)| *p == path)
        {
            // An apply with a resource version is conditional: another one is there.
            (
                409,
                json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": 409,
                       "reason": "Conflict",
                       "message": "the object has been modified; please apply your changes to the latest version and try again"}),
            )
        } else if parts.method == Method::GET {
            match existing.iter().find(|(p, _)| *p == path) {
                Some((_, object)) => (200, object.clone()),
                None => (
                    404,
                    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": 404,
                           "reason": "NotFound", "message": format!("{path} not found")}),
                ),
            }
        } else if path.ends_with("/status") {
            // Versions "s1", "s2", ... for the first, second, ... status write.
            let writes = sent
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.path.ends_with("/status"))
                .count();
            let mut stored = app.clone();
            stored["status"] = body["status"].clone();
            stored["metadata"]["resourceVersion"] = json!(format!("s{writes}"));
            (200, stored)
        } else if parts.method == Method::DELETE {
            (
                200,
                json!({"apiVersion": "v1", "kind": "Status", "status": "Success", "code": 200}),
            )
        } else {
            (200, body)
        };
        let response = Response::builder()
            .status(code)
            .body(Body::from(serde_json::to_vec(&reply).unwrap()))
            .unwrap();
        respond.send_response(response);
    }
}

fn ready<K>(writer: &mut Writer<K>)
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    writer.apply_watcher_event(&watcher::Event::Init);
    writer.apply_watcher_event(&watcher::Event::InitDone);
}

fn pair<K>() -> (Store<K>, Writer<K>)
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let (reader, mut writer) = kube::runtime::reflector::store();
    ready(&mut writer);
    (reader, writer)
}

macro_rules! caches {
    ($($kind:ident: $ty:ty, $field:ident, $crd:expr;)*) => {
        /// Cache writers, so a test can put objects in the stores the reconciler reads.
        struct Caches {
            $($field: Writer<<$ty as caches::Cacheable>::Cached>,)*
            crds: Writer<PartialObjectMeta<CustomResourceDefinition>>,
            unseen: Arc<caches::Unseen>,
        }

        fn caches() -> (Stores, Caches) {
            $(let $field = pair::<<$ty as caches::Cacheable>::Cached>();)*
            let crds = pair();
            let unseen = Arc::new(caches::Unseen::default());
            (
                Stores { $($field: $field.0,)* crds: crds.0, cold_starts: Default::default(),
                         unseen: unseen.clone() },
                Caches { $($field: $field.1,)* crds: crds.1, unseen },
            )
        }

        impl Caches {
            /// Put `value`, an object of `kind`, in its cache, as its watch would.
            fn put(&mut self, kind: ChildKind, value: Value) {
                self.event(kind, value, false);
            }

            /// Take `value`, an object of `kind`, out of its cache, as its watch would.
            fn remove(&mut self, kind: ChildKind, value: Value) {
                self.event(kind, value, true);
            }

            fn event(&mut self, kind: ChildKind, value: Value, deleted: bool) {
                match kind {
                    $(ChildKind::$kind => {
                        let obj: $ty = serde_json::from_value(value).unwrap();
                        let cached = caches::cache(obj, crate::labels::FIELD_MANAGER);
                        let event = if deleted {
                            watcher::Event::Delete(cached)
                        } else {
                            watcher::Event::Apply(cached)
                        };
                        self.$field.apply_watcher_event(&event);
                        self.unseen.watch_event(kind, &event);
                    })*
                }
            }
        }
    };
}
crate::children::child_kinds!(caches);

impl Caches {
    fn install_keda(&mut self) {
        for name in [keda::SCALED_OBJECT_CRD, keda::HTTP_SCALED_OBJECT_CRD] {
            let mut crd = PartialObjectMeta::<CustomResourceDefinition>::default();
            crd.metadata.name = Some(name.into());
            self.crds.apply_watcher_event(&watcher::Event::Apply(crd));
        }
    }

    /// Put an object in its cache as the API server would return it after an apply: the body
    /// plus server-side defaults, and for Deployments a rolled-out status.
    fn store(&mut self, child: &Child) {
        self.store_edited(child, |_| {});
    }

    /// [`Caches::store`], with `edit` applied to the object last (a later status, say).
    fn store_edited(&mut self, child: &Child, edit: impl FnOnce(&mut Value)) {
        let mut value = child.to_json().unwrap();
        if child.kind() == ChildKind::Deployment && value["spec"]["replicas"].is_null() {
            // An autoscaled Deployment's replicas, held by the operator since its creation.
            value["spec"]["replicas"] = json!(1);
        }
        value["metadata"]["managedFields"] = json!([{
            "manager": crate::labels::FIELD_MANAGER, "operation": "Apply",
            "fieldsType": "FieldsV1", "fieldsV1": fields_of(&value),
        }]);
        value["metadata"]["uid"] = json!(format!("uid-of-{}", child.name()));
        value["metadata"]["generation"] = json!(1);
        value["metadata"]["resourceVersion"] = json!("7");
        match child.kind() {
            ChildKind::Deployment => {
                let replicas = value["spec"]["replicas"].as_i64().unwrap_or(1);
                value["spec"]["strategy"] = json!({"type": "RollingUpdate"});
                value["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] =
                    json!("/dev/termination-log");
                value["status"] = json!({"observedGeneration": 1, "replicas": replicas,
                    "readyReplicas": replicas, "availableReplicas": replicas, "updatedReplicas": replicas});
            }
            ChildKind::Service => {
                value["spec"]["clusterIP"] = json!("10.96.0.10");
                value["spec"]["type"] = json!("ClusterIP");
            }
            ChildKind::ScaledObject => {
                value["status"] = json!({"conditions": [{"type": "Ready", "status": "True"},
                                                         {"type": "Active", "status": "False"}]});
            }
            _ => {}
        }
        edit(&mut value);
        self.put(child.kind(), value);
    }

    fn store_all(&mut self, app: &ServerlessApp) {
        for child in children::desired(app).unwrap() {
            self.store(&child);
        }
    }
}

/// The `fieldsV1` the API server records for an apply of `value`: lists of named items keyed by
/// name, other lists atomic.
fn fields_of(value: &Value) -> Value {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (format!("f:{k}"), fields_of(v)))
            .collect(),
        Value::Array(items) if items.iter().all(|i| i.get("name").is_some()) => items
            .iter()
            .map(|item| {
                let mut fields = fields_of(item);
                fields["."] = json!({});
                (format!("k:{}", json!({"name": item["name"]})), fields)
            })
            .collect(),
        _ => json!({}),
    }
}

fn app(image: &str) -> ServerlessApp {
    app_at(image, 3)
}

/// [`app`] at `generation`.
fn app_at(image: &str, generation: i64) -> ServerlessApp {
    TestApp::new("shop")
        .namespace("prod")
        .stored("app-uid", generation)
        .image(image)
        .master(json!({"resources": {"requests": {"cpu": "0.5"}}, "replicas": {"max": 3}}))
        .worker(
            "queue",
            0,
            json!({"replicas": {"max": 5},
                   "triggers": [{"type": "rabbitmq", "metadata": {"queueName": "jobs"}}]}),
        )
        .build()
}

struct Harness {
    ctx: Arc<Context>,
    sent: Arc<Mutex<Vec<Sent>>>,
    server: tokio::task::JoinHandle<()>,
}

fn harness(stores: Stores, fail_path: Option<&str>) -> Harness {
    harness_with(stores, fail_path.map(|p| (p, 422)), Vec::new())
}

/// A harness whose API server answers requests to `fail` (a path part and a code) with that
/// code, and also holds `existing` objects (path, object) the caches do not.
fn harness_with(
    stores: Stores,
    fail: Option<(&str, u16)>,
    existing: Vec<(String, Value)>,
) -> Harness {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let sent = Arc::new(Mutex::new(Vec::new()));
    let stored = serde_json::to_value(app("img:1")).unwrap();
    let server = tokio::spawn(serve(
        handle,
        sent.clone(),
        fail.map(|(p, c)| (p.to_string(), c)),
        stored,
        existing,
    ));
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "test".into(),
            instance: None,
        },
    );
    Harness {
        ctx: Arc::new(Context::new(
            client,
            stores,
            recorder,
            Settings::default(),
            Arc::new(Metrics::default()),
        )),
        sent,
        server,
    }
}

impl Harness {
    fn with_status_interval(mut self, interval: Duration) -> Self {
        Arc::get_mut(&mut self.ctx)
            .expect("not shared yet")
            .settings
            .status_interval = interval;
        self
    }

    /// Write every status change at once, as if the status interval were over.
    fn without_status_interval(self) -> Self {
        self.with_status_interval(Duration::ZERO)
    }

    async fn reconcile(&self, app: &ServerlessApp) -> Result<Action> {
        reconcile(Arc::new(app.clone()), self.ctx.clone()).await
    }

    fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }

    /// Every request but reads.
    fn writes(&self) -> Vec<String> {
        self.sent()
            .iter()
            .filter(|s| s.method != Method::GET)
            .map(Sent::describe)
            .collect()
    }

    fn status_written(&self) -> ServerlessAppStatus {
        let sent = self.sent();
        let patch = sent
            .iter()
            .find(|s| s.path.ends_with("/status"))
            .expect("a status patch");
        serde_json::from_value(patch.body["status"].clone()).unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn condition<'a>(
    status: &'a ServerlessAppStatus,
    type_: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    status.conditions.iter().find(|c| c.type_ == type_).unwrap()
}

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/prod/deployments";
const SERVICES: &str = "/api/v1/namespaces/prod/services";
const HPAS: &str = "/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers";
const PDBS: &str = "/apis/policy/v1/namespaces/prod/poddisruptionbudgets";
const SCALED_OBJECTS: &str = "/apis/keda.sh/v1alpha1/namespaces/prod/scaledobjects";
const STATUS: &str =
    "/apis/serverless-operator.dev/v1alpha1/namespaces/prod/serverlessapps/shop/status";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/prod/events";

/// A new app's first status waits for the status interval: one that is not Ready yet gets no
/// status write at first, only a requeue within the interval; one Ready by then gets a single
/// write saying Ready, with no Reconciling before it and no Event.
#[tokio::test]
async fn a_new_app_gets_one_status_write_when_ready_within_the_interval() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let interval = Duration::from_millis(300);
    let h = harness(stores, None).with_status_interval(interval);
    let mut app = app("img:1");
    app.metadata.generation = Some(1);
    let action = h.reconcile(&app).await.unwrap();
    assert!(
        h.writes().iter().all(|w| !w.contains("/status")),
        "{:?}",
        h.writes()
    );
    // Back for the status before the resync.
    assert_ne!(action, Action::requeue(Settings::default().resync));
    h.take();

    caches.store_all(&app);
    tokio::time::sleep(interval).await;
    h.reconcile(&app).await.unwrap();
    assert_eq!(h.writes(), [format!("PATCH {STATUS}")]);
    assert_eq!(condition(&h.status_written(), "Ready").status, "True");
}

/// Progress-only status writes of all apps share one budget: an app past its status interval
/// waits for a slot, keeps it when it comes back early, and the next app queues behind it.
#[tokio::test(start_paused = true)]
async fn progress_writes_share_one_budget_and_an_app_keeps_its_slot() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let mut h = harness(stores, None).without_status_interval();
    Arc::get_mut(&mut h.ctx)
        .expect("not shared yet")
        .settings
        .progress_writes_per_second = 1;
    let named = |name: &str| {
        let mut app = app("img:1");
        app.metadata.name = Some(name.into());
        app.metadata.uid = Some(format!("{name}-uid"));
        app
    };
    let status_writes = |h: &Harness| {
        h.take()
            .into_iter()
            .filter(|s| s.method == Method::PATCH && s.path.ends_with("/status"))
            .count()
    };
    let (first, second, third) = (named("shop"), named("cart"), named("mail"));

    h.reconcile(&first).await.unwrap();
    assert_eq!(status_writes(&h), 1, "the first takes the free slot");
    let waits = h.reconcile(&second).await.unwrap();
    assert_eq!(status_writes(&h), 0, "the second waits for the next one");
    assert_eq!(waits, Action::requeue(Duration::from_secs(1)));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let again = h.reconcile(&second).await.unwrap();
    assert_eq!(status_writes(&h), 0);
    assert_eq!(
        again,
        Action::requeue(Duration::from_millis(600)),
        "back early, it keeps its slot instead of queueing again"
    );
    let behind = h.reconcile(&third).await.unwrap();
    assert_eq!(
        behind,
        Action::requeue(Duration::from_millis(1600)),
        "the third queues behind it"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    h.reconcile(&second).await.unwrap();
    assert_eq!(status_writes(&h), 1, "its slot came");
}

#[tokio::test]
async fn creation_applies_every_child_with_one_field_manager() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let h = harness(stores, None).without_status_interval();
    h.reconcile(&app("img:1")).await.unwrap();

    // No Event: a new app's children being created is no news. One write per child: the
    // autoscaled Deployments start at their minimum, held by the operator in that same apply.
    let mut writes = h.writes();
    writes.sort();
    let mut expected = [
        format!("PATCH {DEPLOYMENTS}/shop"),
        format!("PATCH {SERVICES}/shop"),
        format!("PATCH {HPAS}/shop"),
        format!("PATCH {DEPLOYMENTS}/shop-queue"),
        format!("PATCH {SCALED_OBJECTS}/shop-queue"),
        format!("PATCH {STATUS}"),
    ];
    expected.sort();
    assert_eq!(writes, expected);
    let starting: Vec<(String, Value)> = h
        .sent()
        .into_iter()
        .filter(|s| s.method == Method::PATCH && s.path.starts_with(DEPLOYMENTS))
        .map(|s| (s.path.clone(), s.body["spec"]["replicas"].clone()))
        .collect();
    assert_eq!(
        starting,
        [
            (format!("{DEPLOYMENTS}/shop"), json!(1)),
            (format!("{DEPLOYMENTS}/shop-queue"), json!(0)),
        ]
    );
    // Nothing read: each new child is an apply that only creates (its resource version no
    // object has), so a same-named object already there is refused, not taken over.
    assert!(
        h.sent().iter().all(|s| s.method != Method::GET),
        "{:?}",
        h.sent().iter().map(Sent::describe).collect::<Vec<_>>()
    );
    for sent in h.sent().iter().filter(|s| s.method == Method::PATCH) {
        assert_eq!(
            sent.content_type,
            "application/apply-patch+yaml",
            "{}",
            sent.describe()
        );
        if !sent.path.ends_with("/status") {
            assert_eq!(
                sent.body["metadata"]["resourceVersion"],
                json!(writer::CREATE_ONLY),
                "{}",
                sent.describe()
            );
        }
        assert!(
            sent.query.contains("fieldManager=serverless-operator"),
            "{}",
            sent.query
        );
        assert!(sent.query.contains("force=true"), "{}", sent.query);
    }
    let status = h.status_written();
    assert_eq!(status.observed_generation, Some(3));
    assert_eq!(condition(&status, "Ready").status, "False");
    assert_eq!(condition(&status, "Reconciling").status, "True");
    assert_eq!(condition(&status, "Stalled").status, "False");
    assert_eq!(status.url.as_deref(), Some("http://shop.prod.svc:8080"));
    assert_eq!(status.workers.as_deref(), Some("0/1"));
}

/// Requests to the app's children (not its status, not Events), as "METHOD path".
fn child_requests(sent: Vec<Sent>) -> Vec<String> {
    sent.iter()
        .filter(|s| !s.path.ends_with("/status") && !s.path.starts_with(EVENTS))
        .map(Sent::describe)
        .collect()
}

/// The watches lag the creates of a reconcile (seconds under load): a reconcile in between
/// takes the children it created for what it sent, and neither reads nor creates them again.
/// Once a child's watch has delivered it, its cache is the truth again: deleted, it is created
/// anew.
#[tokio::test]
async fn a_child_created_moments_ago_is_not_created_again() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let h = harness(stores, None).without_status_interval();
    let app = app("img:1");
    let children = children::desired(&app).unwrap();
    h.reconcile(&app).await.unwrap();
    assert_eq!(child_requests(h.take()).len(), children.len());

    h.reconcile(&app).await.unwrap();
    assert_eq!(child_requests(h.take()), Vec::<String>::new());

    let master = &children[0];
    assert_eq!(master.kind(), ChildKind::Deployment);
    caches.store(master);
    caches.remove(
        ChildKind::Deployment,
        json!({"metadata": {"name": "shop", "namespace": "prod"}}),
    );
    h.reconcile(&app).await.unwrap();
    assert_eq!(
        child_requests(h.take()),
        [format!("PATCH {DEPLOYMENTS}/shop")]
    );
}

/// The watch can deliver a child before the answer to its create comes back; the cache then
/// already holds it, and nothing stays remembered that would hide its deletion later.
#[test]
fn a_child_the_watch_delivered_first_is_not_remembered() {
    let (stores, mut caches) = caches();
    let master = children::desired(&app("img:1")).unwrap().remove(0);
    caches.store(&master);
    let observed = stores
        .lookup(ChildKind::Deployment, "prod", "shop")
        .unwrap();
    stores.created(ChildKind::Deployment, "prod", "shop", observed);

    // Gone from the cache without a word to the memory of creates.
    let gone: k8s_openapi::api::apps::v1::Deployment =
        serde_json::from_value(json!({"metadata": {"name": "shop", "namespace": "prod"}})).unwrap();
    caches
        .deployments
        .apply_watcher_event(&watcher::Event::Delete(caches::cache(gone, "m")));
    assert_eq!(stores.lookup(ChildKind::Deployment, "prod", "shop"), None);
}

/// A relist of a kind makes its cache whole: what was created and not yet seen is forgotten
/// for that kind, and only for that kind.
#[test]
fn a_relist_forgets_the_creates_of_its_kind() {
    let (stores, caches) = caches();
    let observed = |fingerprint| caches::ObservedChild {
        fingerprint: Some(fingerprint),
        replicas: None,
        replicas_manager: None,
        controller_uid: Some("app-uid".into()),
        controller: Some("ServerlessApp shop".into()),
    };
    stores.created(ChildKind::Deployment, "prod", "shop", observed(1));
    stores.created(ChildKind::Service, "prod", "shop", observed(2));
    assert_eq!(
        stores.lookup(ChildKind::Deployment, "prod", "shop"),
        Some(observed(1))
    );
    caches.unseen.watch_event(
        ChildKind::Deployment,
        &watcher::Event::<caches::CachedDeployment>::InitDone,
    );
    assert_eq!(stores.lookup(ChildKind::Deployment, "prod", "shop"), None);
    assert_eq!(
        stores.lookup(ChildKind::Service, "prod", "shop"),
        Some(observed(2))
    );
}

#[tokio::test]
async fn steady_state_resync_sends_no_request_at_all() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let mut app = app("img:1");
    caches.store_all(&app);
    let h = harness(stores, None);

    // First pass: children match, only the status is new (and no Event: nothing the operator
    // changed became Ready).
    h.reconcile(&app).await.unwrap();
    assert_eq!(h.writes(), [format!("PATCH {STATUS}")]);
    let status = h.status_written();
    assert_eq!(condition(&status, "Ready").status, "True", "{status:#?}");
    assert_eq!(status.master.as_deref(), Some("1/1"));
    assert_eq!(status.workers.as_deref(), Some("1/1"));
    assert_eq!(status.components[1].scaler_active, Some(false));
    h.take();

    // Resyncs with the status stored: nothing to write, nothing sent.
    app.status = Some(status);
    for _ in 0..3 {
        let action = h.reconcile(&app).await.unwrap();
        assert_eq!(action, Action::requeue(Settings::default().resync));
    }
    assert!(h.sent().is_empty(), "steady state sent: {:?}", h.writes());
}

/// A reconcile that runs before the app cache shows our last status write computes against
/// that write, not the stale cached status: no second patch, no second Ready Event.
#[tokio::test(start_paused = true)]
async fn a_stale_app_cache_does_not_repeat_a_status_write() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let mut stale = app("img:1");
    stale.metadata.resource_version = Some("10".into());
    // Stalled before (its children since fixed by hand): becoming Ready is told.
    let stalled =
        |type_: &str, status: &str| k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
            type_: type_.into(),
            status: status.into(),
            reason: "NotOwned".into(),
            message: "Deployment shop is controlled by someone else".into(),
            observed_generation: Some(3),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                jiff::Timestamp::UNIX_EPOCH,
            ),
        };
    stale.status = Some(ServerlessAppStatus {
        observed_generation: Some(3),
        conditions: vec![stalled("Ready", "False"), stalled("Stalled", "True")],
        ..ServerlessAppStatus::default()
    });
    caches.store_all(&stale);
    let h = harness(stores, None);

    h.reconcile(&stale).await.unwrap();
    assert_eq!(
        h.writes(),
        // The Ready Event follows the write that made the app Ready.
        [format!("PATCH {STATUS}"), format!("POST {EVENTS}")]
    );
    let written = h.status_written();
    h.take();

    // A child's event triggers another reconcile; the cache still holds version 10.
    h.reconcile(&stale).await.unwrap();
    assert!(h.sent().is_empty(), "sent: {:?}", h.writes());

    // The cache catches up: still nothing to write.
    let mut fresh = stale.clone();
    fresh.metadata.resource_version = Some("11".into());
    fresh.status = Some(written);
    h.reconcile(&fresh).await.unwrap();
    assert!(h.sent().is_empty(), "sent: {:?}", h.writes());

    // Someone else changed a detail of the status since: the cache is believed again, and the
    // detail is restored once `status_interval` has passed since the last write.
    let mut edited = fresh.clone();
    edited.metadata.resource_version = Some("12".into());
    edited.status.as_mut().unwrap().url = Some("http://elsewhere".into());
    let interval = Settings::default().status_interval;
    let action = h.reconcile(&edited).await.unwrap();
    assert!(h.sent().is_empty(), "sent: {:?}", h.writes());
    assert_eq!(action, Action::requeue(interval), "comes back to write it");
    tokio::time::sleep(interval).await;
    h.reconcile(&edited).await.unwrap();
    assert!(h.writes().contains(&format!("PATCH {STATUS}")));
    h.take();

    // A Ready flip is written at once, inside the window.
    let mut cleared = edited.clone();
    cleared.metadata.resource_version = Some("13".into());
    cleared.status = None;
    h.reconcile(&cleared).await.unwrap();
    assert!(h.writes().contains(&format!("PATCH {STATUS}")));
}

/// Two status writes before the cache shows the first: when it then shows the first (an
/// intermediate version), the second is still taken as current.
#[tokio::test(start_paused = true)]
async fn a_cache_showing_an_intermediate_status_write_is_still_stale() {
    let (stores, mut caches) = caches();
    let mut stale = app("img:1");
    stale.metadata.resource_version = Some("10".into());
    let h = harness(stores, None);

    h.reconcile(&stale).await.unwrap(); // Stalled: KEDA missing
    let first = h.status_written();
    assert_eq!(condition(&first, "Stalled").status, "True");
    h.take();

    caches.install_keda();
    tokio::time::sleep(Settings::default().status_interval).await;
    h.reconcile(&stale).await.unwrap(); // still version 10 in the cache
    assert_eq!(condition(&h.status_written(), "Stalled").status, "False");
    h.take();

    let mut intermediate = stale.clone();
    intermediate.metadata.resource_version = Some("s1".into());
    intermediate.status = Some(first);
    tokio::time::sleep(Settings::default().status_interval).await;
    h.reconcile(&intermediate).await.unwrap();
    assert!(
        !h.writes().contains(&format!("PATCH {STATUS}")),
        "{:?}",
        h.writes()
    );
}

#[tokio::test]
async fn an_update_applies_only_what_changed() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    caches.store_all(&app("img:1"));
    let h = harness(stores, None);

    h.reconcile(&app("img:2")).await.unwrap();
    let applies: Vec<_> = h
        .sent()
        .iter()
        .filter(|s| s.method == Method::PATCH && !s.path.ends_with("/status"))
        .map(Sent::describe)
        .collect();
    assert_eq!(
        applies,
        [
            format!("PATCH {DEPLOYMENTS}/shop"),
            format!("PATCH {DEPLOYMENTS}/shop-queue")
        ]
    );
    let body = &h.sent()[0].body;
    assert_eq!(
        body["spec"]["template"]["spec"]["containers"][0]["image"],
        "img:2"
    );
}

/// Fixed size -> HPA: the operator's `replicas` goes to another field manager first, so the
/// Deployment keeps its 3 replicas instead of falling back to the default of 1.
#[tokio::test]
async fn gaining_an_autoscaler_keeps_the_replicas_until_it_scales() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let mut fixed = app("img:1");
    fixed.spec.master.component.replicas.min = 3;
    fixed.spec.master.component.replicas.max = 3;
    caches.store_all(&fixed);
    let h = harness(stores, None);

    let mut scaled = app("img:1");
    scaled.spec.master.component.replicas.min = 2;
    scaled.spec.master.component.replicas.max = 5;
    h.reconcile(&scaled).await.unwrap();
    let applies: Vec<_> = h
        .sent()
        .into_iter()
        .filter(|s| s.method == Method::PATCH && !s.path.ends_with("/status"))
        .collect();
    // One apply of the Deployment, by the operator, keeping its 3 replicas (it still holds
    // them): no drop to the default of 1 before the HPA scales.
    let mut described: Vec<_> = applies.iter().map(Sent::describe).collect();
    described.sort();
    assert_eq!(
        described,
        [
            format!("PATCH {DEPLOYMENTS}/shop"),
            format!("PATCH {HPAS}/shop"),
            format!("PATCH {PDBS}/shop"),
        ]
    );
    // Its budget follows the new minimum: 2 - 1 available.
    let budget = applies.iter().find(|s| s.path.starts_with(PDBS)).unwrap();
    assert_eq!(budget.body["spec"]["minAvailable"], 1);
    let deployment = applies
        .iter()
        .find(|s| s.path.starts_with(DEPLOYMENTS))
        .unwrap();
    assert_eq!(deployment.body["spec"]["replicas"], 3);
    assert!(
        deployment
            .query
            .split('&')
            .any(|p| p == "fieldManager=serverless-operator"),
        "{}",
        deployment.query
    );

    // Once the HPA has set them, updates leave them out.
    caches.store_all(&scaled);
    let master = children::desired(&scaled)
        .unwrap()
        .into_iter()
        .find(|c| c.kind() == ChildKind::Deployment && c.name() == "shop")
        .unwrap();
    caches.store_edited(&master, |d| {
        d["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
            .as_object_mut()
            .unwrap()
            .remove("f:replicas");
        d["metadata"]["managedFields"].as_array_mut().unwrap().push(
            json!({"manager": "kube-controller-manager", "operation": "Update",
                         "subresource": "scale", "fieldsType": "FieldsV1",
                         "fieldsV1": {"f:spec": {"f:replicas": {}}}}),
        );
        d["spec"]["replicas"] = json!(4);
    });
    h.take();
    let mut update = scaled.clone();
    update.spec.image = Some("img:2".into());
    h.reconcile(&update).await.unwrap();
    let deployment: Vec<_> = h
        .sent()
        .into_iter()
        .filter(|s| s.path == format!("{DEPLOYMENTS}/shop"))
        .collect();
    assert_eq!(deployment.len(), 1, "{:?}", h.writes());
    assert!(deployment[0].body["spec"].get("replicas").is_none());
}

#[tokio::test]
async fn a_hand_edit_of_an_owned_field_is_restored() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let app = app("img:1");
    caches.store_all(&app);
    // Someone scales the HPA's max by hand.
    let children = children::desired(&app).unwrap();
    let Some(Child::HorizontalPodAutoscaler(mut hpa)) = children
        .into_iter()
        .find(|c| c.kind() == ChildKind::HorizontalPodAutoscaler)
    else {
        panic!("no hpa")
    };
    hpa.spec.max_replicas = 50;
    caches.store(&Child::HorizontalPodAutoscaler(hpa));
    let h = harness(stores, None);

    h.reconcile(&app).await.unwrap();
    assert!(
        h.writes().contains(&format!("PATCH {HPAS}/shop")),
        "{:?}",
        h.writes()
    );
}

/// A reconcile that finds every child up to date remembers the state it checked and does not
/// check it again; a hand edit that the watch brings, a new version of the app, and a child
/// deleted are each still applied.
#[tokio::test]
async fn what_changes_after_a_clean_check_is_applied() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let app = app("img:1");
    caches.store_all(&app);
    let h = harness(stores, None);
    h.reconcile(&app).await.unwrap();
    h.reconcile(&app).await.unwrap();
    assert_eq!(child_requests(h.take()), Vec::<String>::new());

    let children = children::desired(&app).unwrap();
    let Some(Child::HorizontalPodAutoscaler(mut hpa)) = children
        .iter()
        .find(|c| c.kind() == ChildKind::HorizontalPodAutoscaler)
        .cloned()
    else {
        panic!("no hpa")
    };
    hpa.spec.max_replicas = 50;
    caches.store(&Child::HorizontalPodAutoscaler(hpa));
    h.reconcile(&app).await.unwrap();
    assert_eq!(child_requests(h.take()), [format!("PATCH {HPAS}/shop")]);

    // The watch brings the restored HPA; then the app gets a new image.
    caches.store_all(&app);
    h.reconcile(&app).await.unwrap();
    assert_eq!(child_requests(h.take()), Vec::<String>::new());
    let mut updated = app_at("img:2", 4);
    updated.metadata.resource_version = Some("8".into());
    h.reconcile(&updated).await.unwrap();
    let mut sent = child_requests(h.take());
    sent.sort();
    assert_eq!(
        sent,
        [
            format!("PATCH {DEPLOYMENTS}/shop"),
            format!("PATCH {DEPLOYMENTS}/shop-queue")
        ]
    );

    // The watch brings both; then the master's Deployment is deleted.
    caches.store_all(&updated);
    h.reconcile(&updated).await.unwrap();
    assert_eq!(child_requests(h.take()), Vec::<String>::new());
    caches.remove(
        ChildKind::Deployment,
        json!({"metadata": {"name": "shop", "namespace": "prod"}}),
    );
    h.reconcile(&updated).await.unwrap();
    assert_eq!(
        child_requests(h.take()),
        [format!("PATCH {DEPLOYMENTS}/shop")]
    );
}

#[tokio::test]
async fn removed_children_are_pruned_and_others_left_alone() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let mut old = app("img:1");
    old.spec.workers.push(
        serde_json::from_value(json!(
            {"name": "resize", "replicas": {"min": 1, "max": 1}}
        ))
        .unwrap(),
    );
    caches.store_all(&old);
    // A same-labelled Deployment that another app controls must survive.
    let mut foreign = app("img:1");
    foreign.metadata.uid = Some("someone-else".into());
    foreign.spec.workers[0].name = "other".into();
    for child in children::desired(&foreign)
        .unwrap()
        .iter()
        .filter(|c| c.name() == "shop-other")
    {
        caches.store(child);
    }
    let h = harness(stores, None);

    let mut current = app("img:1");
    current.spec.master.component.replicas.max = 1; // HPA -> fixed size: the HPA goes too
    h.reconcile(&current).await.unwrap();
    let deletes: Vec<_> = h
        .sent()
        .into_iter()
        .filter(|s| s.method == Method::DELETE)
        .collect();
    let paths: Vec<_> = deletes.iter().map(Sent::describe).collect();
    assert_eq!(
        paths,
        [
            format!("DELETE {DEPLOYMENTS}/shop-resize"),
            format!("DELETE {HPAS}/shop")
        ]
    );
    assert_eq!(
        deletes[0].body["preconditions"]["uid"],
        "uid-of-shop-resize"
    );
    // Deletes come before applies, so two autoscalers never coexist.
    let first_patch = h
        .sent()
        .iter()
        .position(|s| s.method == Method::PATCH)
        .unwrap();
    let last_delete = h
        .sent()
        .iter()
        .rposition(|s| s.method == Method::DELETE)
        .unwrap();
    assert!(last_delete < first_patch);
}

/// The prune scan reads every cached child, so it runs once per generation, not per resync;
/// a failed delete, a new generation, a recreated app or KEDA appearing bring it back.
#[tokio::test]
async fn the_prune_scan_runs_once_per_generation_and_again_after_a_failed_delete() {
    let (stores, mut caches) = caches();
    let mut old = app("img:1");
    old.spec.workers.push(
        serde_json::from_value(json!({"name": "resize", "replicas": {"min": 1, "max": 1}}))
            .unwrap(),
    );
    caches.store_all(&old);
    let current = app("img:1");

    let failing = harness(stores.clone(), Some("deployments/shop-resize"));
    assert!(failing.ctx.needs_prune(&current));
    failing.reconcile(&current).await.unwrap_err();
    assert!(
        failing.ctx.needs_prune(&current),
        "a failed delete must be retried"
    );

    let h = harness(stores, None);
    h.reconcile(&current).await.unwrap();
    assert!(
        h.writes()
            .contains(&format!("DELETE {DEPLOYMENTS}/shop-resize"))
    );
    assert!(!h.ctx.needs_prune(&current));

    let mut next = current.clone();
    next.metadata.generation = Some(4);
    assert!(h.ctx.needs_prune(&next));
    let mut recreated = current.clone();
    recreated.metadata.uid = Some("new-uid".into());
    assert!(h.ctx.needs_prune(&recreated));
    caches.install_keda();
    assert!(h.ctx.needs_prune(&current), "KEDA kinds became servable");
    let mark = PruneMark::of(&current, &h.ctx.stores).unwrap();
    h.ctx.memory.mark_pruned(&current, mark);
    assert!(!h.ctx.needs_prune(&current));
    h.ctx.forget(&ObjectRef::from_obj(&current));
    assert!(h.ctx.needs_prune(&current));
}

#[tokio::test]
async fn without_keda_the_rest_is_reconciled_and_the_condition_names_the_crd() {
    let (stores, _caches) = caches();
    let h = harness(stores, None);

    h.reconcile(&app("img:1")).await.unwrap();
    assert!(
        !h.writes().iter().any(|w| w.contains("keda.sh")),
        "{:?}",
        h.writes()
    );
    assert!(
        h.writes()
            .contains(&format!("PATCH {DEPLOYMENTS}/shop-queue"))
    );
    let status = h.status_written();
    let stalled = condition(&status, "Stalled");
    assert_eq!(stalled.status, "True");
    assert_eq!(stalled.reason, "KedaNotInstalled");
    assert!(
        stalled.message.contains("scaledobjects.keda.sh"),
        "{}",
        stalled.message
    );
    assert!(stalled.message.contains("`queue`"), "{}", stalled.message);
    assert_eq!(condition(&status, "Ready").reason, "KedaNotInstalled");
    assert_eq!(
        status.components[1].state,
        crate::api::ComponentState::ScalerMissing
    );
    let warning = h
        .sent()
        .into_iter()
        .find(|s| s.path == EVENTS && s.body["type"] == "Warning");
    assert!(warning.is_some(), "a Warning event is recorded");
}

#[tokio::test(start_paused = true)]
async fn keda_appearing_later_is_picked_up() {
    let (stores, mut caches) = caches();
    let h = harness(stores, None);
    let mut app = app("img:1");
    h.reconcile(&app).await.unwrap();
    app.status = Some(h.status_written());
    h.take();

    caches.install_keda();
    tokio::time::sleep(Settings::default().status_interval).await;
    h.reconcile(&app).await.unwrap();
    assert!(
        h.writes()
            .contains(&format!("PATCH {SCALED_OBJECTS}/shop-queue")),
        "{:?}",
        h.writes()
    );
    assert_eq!(condition(&h.status_written(), "Stalled").status, "False");
}

#[tokio::test]
async fn a_refused_child_stalls_the_app_with_the_servers_message() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let h = harness(stores, Some("deployments/shop-queue"));

    let err = h.reconcile(&app("img:1")).await.unwrap_err();
    assert_eq!(err.category(), "ApplyFailed");
    // The other children were still applied.
    assert!(
        h.writes()
            .contains(&format!("PATCH {SCALED_OBJECTS}/shop-queue"))
    );
    let stalled = condition(&h.status_written(), "Stalled").clone();
    assert_eq!(stalled.status, "True");
    assert_eq!(stalled.reason, "ApplyFailed");
    assert!(
        stalled
            .message
            .contains("images from this registry are not allowed"),
        "{}",
        stalled.message
    );
}

#[tokio::test]
async fn a_child_owned_by_someone_else_is_not_taken_over() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let mut other = app("img:1");
    other.metadata.uid = Some("other-uid".into());
    caches.store_all(&other);
    let h = harness(stores, None);

    let err = h.reconcile(&app("img:1")).await.unwrap_err();
    assert_eq!(err.category(), "NotOwned");
    assert!(
        !h.writes().iter().any(|w| w.starts_with("PATCH /apis/apps")),
        "{:?}",
        h.writes()
    );
    let status = h.status_written();
    let stalled = condition(&status, "Stalled").clone();
    assert_eq!(stalled.reason, "NotOwned");
    // The other app's Deployments are ready, but they lend this app nothing.
    assert_eq!(condition(&status, "Ready").status, "False");
    assert!(
        status.components.iter().all(|c| c.ready_replicas == 0),
        "{:?}",
        status.components
    );
    assert!(
        stalled.message.contains("controlled by ServerlessApp shop"),
        "{}",
        stalled.message
    );
}

#[tokio::test]
async fn a_same_named_object_without_the_labels_is_not_adopted() {
    // Someone else's Service, unlabelled (so not in the caches), where the master's would go.
    let (stores, mut caches) = caches();
    caches.install_keda();
    let theirs = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "shop", "namespace": "prod", "uid": "theirs"},
        "spec": {"selector": {"team": "payments"}, "ports": [{"port": 80}]},
    });
    let h = harness_with(stores, None, vec![(format!("{SERVICES}/shop"), theirs)]);

    let err = h.reconcile(&app("img:1")).await.unwrap_err();
    assert_eq!(err.category(), "NotOwned");
    assert!(
        err.to_string()
            .contains("Service shop already exists and is not controlled by this ServerlessApp (it has no controller)"),
        "{err}"
    );
    // One conditional apply reached their Service and failed; nothing else was sent to it but
    // the read that named its holder.
    let to_theirs: Vec<_> = h
        .sent()
        .into_iter()
        .filter(|s| s.path == format!("{SERVICES}/shop"))
        .collect();
    assert_eq!(
        to_theirs.iter().map(Sent::describe).collect::<Vec<_>>(),
        [
            format!("PATCH {SERVICES}/shop"),
            format!("GET {SERVICES}/shop")
        ]
    );
    assert_eq!(
        to_theirs[0].body["metadata"]["resourceVersion"],
        json!(writer::CREATE_ONLY)
    );
    // The rest of the app is still created, without a read.
    let writes = h.writes();
    assert!(
        writes.contains(&format!("PATCH {DEPLOYMENTS}/shop")),
        "{writes:?}"
    );
    let reads = h.sent().iter().filter(|s| s.method == Method::GET).count();
    assert_eq!(reads, 1);
    assert_eq!(condition(&h.status_written(), "Stalled").reason, "NotOwned");

    // No watch event tells when the object is gone, so the retry does not back off past
    // a steady recheck.
    let app = Arc::new(app("img:1"));
    let mut action = None;
    for _ in 0..10 {
        action = Some(error_policy(app.clone(), &err, h.ctx.clone()));
    }
    assert_eq!(action, Some(Action::requeue(NOT_OWNED_RECHECK)));
}

#[tokio::test]
async fn errors_back_off_exponentially_per_app() {
    let settings = Settings::default();
    assert_eq!(backoff(&settings, 1), Duration::from_secs(1));
    assert_eq!(backoff(&settings, 2), Duration::from_secs(2));
    assert_eq!(backoff(&settings, 5), Duration::from_secs(16));
    assert_eq!(backoff(&settings, 40), Duration::from_secs(300));

    let (stores, _) = caches();
    let h = harness(stores, None);
    let app = Arc::new(app("img:1"));
    let mut other = (*app).clone();
    other.metadata.name = Some("other".into());
    let err = Error::MissingNamespace;
    error_policy(app.clone(), &err, h.ctx.clone());
    let second = error_policy(app.clone(), &err, h.ctx.clone());
    assert_eq!(second, Action::requeue(Duration::from_secs(2)));
    // Another app's failures are counted apart.
    assert_eq!(
        error_policy(Arc::new(other), &err, h.ctx.clone()),
        Action::requeue(Duration::from_secs(1))
    );
}

#[tokio::test]
async fn a_refusal_the_retry_gets_again_stalls_the_app() {
    // A 500 for one Deployment's apply: the app's children are ready from the last spec.
    let (stores, mut caches) = caches();
    caches.install_keda();
    caches.store_all(&app("img:1"));
    let h = harness_with(stores, Some(("deployments/shop-queue", 500)), Vec::new());
    let app = Arc::new(app("img:2"));

    let err = h.reconcile(&app).await.unwrap_err();
    assert!(err.is_refusal() && !err.is_permanent(), "{err}");
    let status = h.status_written();
    // Not Ready: the new spec is not applied, though the old children are all available.
    let ready = condition(&status, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "Retrying")
    );
    assert!(
        ready.message.contains("Deployment shop-queue"),
        "{}",
        ready.message
    );
    assert_eq!(condition(&status, "Stalled").status, "False");
    h.take();

    // The retry gets the same answer: the app is Stalled with it.
    error_policy(app.clone(), &err, h.ctx.clone());
    h.reconcile(&app).await.unwrap_err();
    let stalled = condition(&h.status_written(), "Stalled").clone();
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_str()),
        ("True", "ApplyFailed")
    );
    assert!(
        stalled.message.contains("not allowed"),
        "{}",
        stalled.message
    );
}

#[tokio::test]
async fn an_unavailable_api_server_is_retried_without_claiming_a_stall() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    caches.store_all(&app("img:1"));
    let h = harness_with(stores, Some(("deployments/shop-queue", 503)), Vec::new());
    let app = Arc::new(app("img:2"));
    for _ in 0..3 {
        let err = h.reconcile(&app).await.unwrap_err();
        assert!(!err.is_refusal(), "{err}");
        error_policy(app.clone(), &err, h.ctx.clone());
    }
    let sent = h.sent();
    let last = sent
        .iter()
        .rev()
        .find(|s| s.path.ends_with("/status"))
        .expect("a status write");
    let status: ServerlessAppStatus = serde_json::from_value(last.body["status"].clone()).unwrap();
    assert_eq!(condition(&status, "Stalled").status, "False");
    assert_eq!(condition(&status, "Ready").reason, "Retrying");
}

#[tokio::test]
async fn no_event_tells_of_a_status_that_was_not_written() {
    // Everything is ready, but the status write fails: no Ready Event may claim otherwise.
    let (stores, mut caches) = caches();
    caches.install_keda();
    let app = app("img:1");
    caches.store_all(&app);
    let h = harness_with(stores, Some(("/status", 500)), Vec::new());
    let err = h.reconcile(&app).await.unwrap_err();
    assert_eq!(err.category(), "StatusFailed");
    assert_eq!(h.writes(), [format!("PATCH {STATUS}")]);
}

/// A component whose minimum drops below 2 loses its PodDisruptionBudget, and its autoscaler
/// follows the new minimum.
#[tokio::test]
async fn the_disruption_budget_follows_the_minimum() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let mut two = app("img:1");
    two.spec.master.component.replicas.min = 2;
    caches.store_all(&two);
    let h = harness(stores, None);

    let mut one = two.clone();
    one.spec.master.component.replicas.min = 1;
    one.metadata.generation = Some(4);
    h.reconcile(&one).await.unwrap();
    let writes: Vec<_> = h
        .writes()
        .into_iter()
        .filter(|w| !w.contains("/status") && !w.contains("/events"))
        .collect();
    assert_eq!(
        writes,
        [format!("DELETE {PDBS}/shop"), format!("PATCH {HPAS}/shop")]
    );
}

#[tokio::test]
async fn a_cold_start_is_reported_once_in_status_metrics_and_an_event_over_budget() {
    let (stores, mut filled) = caches();
    filled.install_keda();
    let mut app = TestApp::new("shop")
        .namespace("prod")
        .stored("app-uid", 3)
        .image("img:1")
        .master(json!({"resources": {"requests": {"cpu": "0.5"}}, "replicas": {"max": 3}}))
        .worker(
            "queue",
            0,
            json!({"replicas": {"max": 5}, "coldStartBudget": "1ms",
                   "triggers": [{"type": "rabbitmq", "metadata": {"queueName": "jobs"}}]}),
        )
        .build();
    filled.store_all(&app);
    let key = ObjectRef::new("shop-queue").within("prod");
    let at = |desired: i32, ready: i32| {
        let mut d = (*stores.deployments.get(&key).unwrap()).clone();
        d.replicas = Some(desired);
        d.status.as_mut().unwrap().ready_replicas = Some(ready);
        d
    };
    // The watch as KEDA scales the worker from zero and its pod becomes ready.
    let mut watch = |d: caches::CachedDeployment| {
        let event = watcher::Event::Apply(d);
        stores.cold_starts.watch_event(&event, &stores.deployments);
        filled.deployments.apply_watcher_event(&event);
    };
    watch(at(0, 0));
    watch(at(1, 0));
    std::thread::sleep(Duration::from_millis(20));
    watch(at(1, 1));

    let h = harness(stores.clone(), None).without_status_interval();
    h.reconcile(&app).await.unwrap();
    let status = h.status_written();
    let queue = status
        .components
        .iter()
        .find(|c| c.name == "queue")
        .unwrap();
    let cold = queue.last_cold_start.as_ref().expect("lastColdStart");
    assert!(cold.milliseconds >= 20, "{cold:?}");
    assert!(cold.over_budget);
    let events: Vec<_> = h
        .sent()
        .into_iter()
        .filter(|s| s.path == EVENTS)
        .map(|s| (s.body["type"].clone(), s.body["reason"].clone()))
        .collect();
    assert!(
        events.contains(&(json!("Warning"), json!("ColdStartOverBudget"))),
        "{events:?}"
    );
    let metrics = h.ctx.metrics.encode();
    assert!(
        metrics
            .contains(r#"serverless_operator_cold_start_seconds_count{scaler="ScaledObject"} 1"#),
        "{metrics}"
    );
    h.take();

    // Counted once: the next reconciles send nothing and count nothing more.
    app.status = Some(status.clone());
    h.reconcile(&app).await.unwrap();
    assert!(h.sent().is_empty(), "sent: {:?}", h.writes());
    assert!(
        h.ctx
            .metrics
            .encode()
            .contains(r#"serverless_operator_cold_start_seconds_count{scaler="ScaledObject"} 1"#)
    );

    // After a restart the measurement is gone from memory; the status keeps the last one.
    let (fresh, mut fresh_caches) = caches();
    fresh_caches.install_keda();
    fresh_caches.store_all(&app);
    let h = harness(fresh, None).without_status_interval();
    h.reconcile(&app).await.unwrap();
    assert!(h.sent().is_empty(), "sent: {:?}", h.writes());
}

/// A `Ready` Event ends what an `Applied` one began (an update rolled out), never a worker's
/// scale-up: traffic, not a person, started that, and a busy app would log one per cold start.
#[tokio::test]
async fn ready_again_is_told_after_an_update_not_after_a_scale_up() {
    let (stores, mut caches) = caches();
    caches.install_keda();
    let mut app = app("img:1");
    caches.store_all(&app);
    let h = harness(stores, None);
    let deployment = |app: &ServerlessApp, name: &str| {
        children::desired(app)
            .unwrap()
            .into_iter()
            .find(|c| c.kind() == ChildKind::Deployment && c.name() == name)
            .unwrap()
    };
    let events = |h: &Harness| h.writes().iter().filter(|w| w.ends_with(EVENTS)).count();
    // Reconcile, then let the app cache show the status written.
    let step = async |h: &Harness, app: &mut ServerlessApp| {
        h.reconcile(app).await.unwrap();
        if h.writes().contains(&format!("PATCH {STATUS}")) {
            app.status = Some(h.status_written());
        }
    };

    step(&h, &mut app).await;
    assert_eq!(
        condition(app.status.as_ref().unwrap(), "Ready").status,
        "True"
    );
    assert_eq!(events(&h), 0, "{:?}", h.writes());
    h.take();

    // KEDA scales the queue worker from zero; its pod is not ready yet, then it is.
    let queue = deployment(&app, "shop-queue");
    caches.store_edited(&queue, |d| {
        d["spec"]["replicas"] = json!(1);
        d["status"] = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1});
    });
    step(&h, &mut app).await;
    assert_eq!(
        condition(app.status.as_ref().unwrap(), "Ready").status,
        "False"
    );
    h.take();
    caches.store_edited(&queue, |d| {
        d["spec"]["replicas"] = json!(1);
        d["status"] = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                             "readyReplicas": 1, "availableReplicas": 1});
    });
    step(&h, &mut app).await;
    assert_eq!(
        condition(app.status.as_ref().unwrap(), "Ready").status,
        "True"
    );
    assert_eq!(events(&h), 0, "a scale-up told: {:?}", h.writes());
    h.take();

    // A new image: the operator applies it (Applied), the rollout takes a while, then Ready.
    let mut updated = app_at("img:2", 4);
    updated.status = app.status.clone();
    let master = deployment(&updated, "shop");
    caches.store_edited(&master, |d| {
        d["metadata"]["generation"] = json!(2);
    });
    step(&h, &mut updated).await;
    // The master's new version is cached as applied; the worker's old one is applied now.
    assert!(
        h.writes()
            .contains(&format!("PATCH {DEPLOYMENTS}/shop-queue")),
        "{:?}",
        h.writes()
    );
    assert_eq!(events(&h), 1, "Applied: {:?}", h.writes());
    assert_eq!(
        condition(updated.status.as_ref().unwrap(), "Ready").status,
        "False"
    );
    h.take();
    caches.store_all(&updated);
    step(&h, &mut updated).await;
    assert_eq!(
        condition(updated.status.as_ref().unwrap(), "Ready").status,
        "True"
    );
    assert_eq!(events(&h), 1, "the update's end not told: {:?}", h.writes());
}
