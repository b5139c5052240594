//! The article's Flask FaaS (`samples/flask-faas`) running for real on the real node: its image
//! built from Debian's packages, requests through the master's Service, a job queued in a real
//! Redis scaling the `jobs` worker from zero through real KEDA, and a request held by the KEDA
//! HTTP add-on's interceptor while the `specialize` worker scales from zero.
//!
//! One test in this binary: it runs KEDA cluster-wide for its duration, and stops it after.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use kube::api::{DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use serverless_e2e::*;

const TIMEOUT: Duration = Duration::from_secs(120);
/// The sample's cooldowns are minutes; the test shortens them to see workers go back to zero.
const COOLDOWN: u64 = 10;
const POLLING: u64 = 5;
const SAMPLE_IMAGE: &str = "samples/flask-faas:0.1.0";
const REDIS_IMAGE: &str = "samples/redis:7.0";

/// `kubectl kustomize DIR` (relative to the repository) as JSON documents.
fn kustomize(dir: &str) -> Vec<Value> {
    let out = kubectl(&["kustomize", &repo().join(dir).to_string_lossy()]);
    assert!(out.success, "kubectl kustomize {dir}: {}", out.stderr);
    serde_saphyr::from_multiple::<Value>(&out.stdout).expect("kustomize output is YAML")
}

/// The sample as `kubectl apply -k e2e/samples/flask-faas` would apply it, with its image pinned
/// to what was pushed, Redis in `ns`, and cooldowns the test can wait for.
const SAMPLE_HOST: &str = "faas.example.com";

fn host(ns: &str) -> String {
    format!("{ns}.{SAMPLE_HOST}")
}

fn sample_app(node: &RealNode, ns: &str) -> Value {
    let mut docs = kustomize("e2e/samples/flask-faas");
    assert_eq!(docs.len(), 1, "the overlay renders one ServerlessApp");
    let rendered = docs.remove(0).to_string();
    let pinned = node.pinned(&format!("{}/{SAMPLE_IMAGE}", node.registry));
    let mut app: Value = serde_json::from_str(
        &rendered
            .replace(&format!("127.0.0.1:5000/{SAMPLE_IMAGE}"), &pinned)
            .replace("redis.data.svc", &format!("redis.{ns}.svc"))
            // The interceptor routes by host across namespaces: a host of this test's own keeps
            // it from reaching the same sample running elsewhere (`make run` in `default`).
            .replace(SAMPLE_HOST, &host(ns)),
    )
    .expect("json");
    assert!(
        app["spec"]["image"].as_str() == Some(pinned.as_str()),
        "the kustomization points the sample at the local registry: {}",
        app["spec"]["image"]
    );
    for worker in app["spec"]["workers"].as_array_mut().expect("workers") {
        worker["cooldownSeconds"] = json!(COOLDOWN);
        if worker.get("triggers").is_some() {
            worker["pollingIntervalSeconds"] = json!(POLLING);
        }
    }
    app
}

/// e2e/samples/redis.yaml in `ns` (not `data`, so that tests stay apart).
fn redis(node: &RealNode) -> String {
    let yaml = std::fs::read_to_string(repo().join("e2e/samples/redis.yaml")).expect("redis.yaml");
    let pinned = node.pinned(&format!("{}/{REDIS_IMAGE}", node.registry));
    serde_saphyr::from_multiple::<Value>(&yaml)
        .expect("redis.yaml")
        .into_iter()
        .filter(|d| d["kind"] != "Namespace")
        .map(|mut d| {
            d["metadata"]
                .as_object_mut()
                .expect("metadata")
                .remove("namespace");
            d.to_string()
                .replace(&format!("127.0.0.1:5000/{REDIS_IMAGE}"), &pinned)
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

fn call(addr: &str, method: &str, host: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let (code, text) = http_request(addr, method, host, path, body.as_ref(), TIMEOUT)
        .unwrap_or_else(|e| panic!("{method} {path} via {addr}: {e}"));
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {path} via {addr}: {code} {text:?} is not JSON: {e}"));
    (code, json)
}

async fn replicas(ns: &TestNamespace, deployment: &str) -> i32 {
    ns.api::<Deployment>()
        .get(deployment)
        .await
        .expect("deployment")
        .spec
        .replicas
        .unwrap_or(1)
}

/// The pods of a component, by name, with their creation time (seconds since the epoch).
async fn pods_of(ns: &TestNamespace, component: &str) -> Vec<(String, i64)> {
    ns.api::<Pod>()
        .list(
            &ListParams::default()
                .labels(&format!("serverless-operator.dev/component={component}")),
        )
        .await
        .expect("pods")
        .into_iter()
        .map(|p| {
            let created = p
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(0, |t| t.0.as_second());
            (p.name_any(), created)
        })
        .collect()
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A worker at zero: no replicas wanted and no pod left, not even one still shutting down.
async fn wait_at_zero(ns: &TestNamespace, worker: &str) {
    wait_replicas(ns, &format!("flask-faas-{worker}"), 0, TIMEOUT).await;
    wait_for(&format!("no {worker} pod"), TIMEOUT, || async {
        match pods_of(ns, worker).await {
            pods if pods.is_empty() => Ok(()),
            pods => Err(format!("{pods:?}")),
        }
    })
    .await;
}

async fn wait_replicas(ns: &TestNamespace, deployment: &str, want: i32, timeout: Duration) {
    wait_for(&format!("{deployment} at {want}"), timeout, || async {
        match replicas(ns, deployment).await {
            n if n == want => Ok(()),
            n => Err(format!("{n} replicas")),
        }
    })
    .await;
}

/// The component's last cold start as the operator reports it, once it has.
async fn last_cold_start(ns: &TestNamespace, component: &str) -> Duration {
    let cold = wait_for(
        &format!("lastColdStart of {component}"),
        TIMEOUT,
        || async {
            let app = ns
                .apps()
                .get("flask-faas")
                .await
                .map_err(|e| e.to_string())?;
            app.status
                .and_then(|s| s.components.into_iter().find(|c| c.name == component))
                .and_then(|c| c.last_cold_start)
                .ok_or_else(|| "not yet".to_string())
        },
    )
    .await;
    assert!(cold.milliseconds > 0, "{cold:?}");
    Duration::from_millis(cold.milliseconds as u64)
}

/// How much later than the Service's endpoints a Deployment may report its pod ready.
const READY_LAG: Duration = Duration::from_secs(1);

#[tokio::test]
async fn the_flask_faas_answers_and_scales_from_zero_on_jobs_and_requests() {
    let (Some(node), true) = (
        RealNode::from_env(),
        std::env::var_os("E2E_LOCAL_CLUSTER").is_some(),
    ) else {
        eprintln!(
            "no real node on the local cluster: this test runs containers and KEDA's processes"
        );
        return;
    };
    let ns = TestNamespace::new("faas").await;
    install_crds(&ns.client, true).await;
    let keda = Keda::start(&["operator", "http-add-on"]);
    let _operator = Operator::start(&ns, &[]).await;

    kubectl_apply(&ns.name, &redis(&node));
    wait_deployment_ready(&ns.api(), "redis", 1, TIMEOUT).await;
    let started = Instant::now();
    kubectl_apply(&ns.name, &sample_app(&node, &ns.name).to_string());
    ns.wait_ready("flask-faas", TIMEOUT).await;
    let ready_after = started.elapsed();

    // Real pods on the real node serve the master.
    let pods = ns
        .api::<Pod>()
        .list(&ListParams::default().labels("serverless-operator.dev/component=master"))
        .await
        .expect("pods");
    assert_eq!(pods.items.len(), 2, "two master pods");
    for pod in &pods.items {
        let spec = pod.spec.as_ref().expect("spec");
        assert_eq!(spec.node_name.as_deref(), Some(node.name.as_str()));
        let ready = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|c| c.iter().all(|c| c.ready));
        assert!(ready, "{} not ready", pod.name_any());
    }

    // The article's endpoints, through the master's Service (ClusterIP, kube-proxy).
    let ip = ns
        .api::<Service>()
        .get("flask-faas")
        .await
        .expect("service")
        .spec
        .and_then(|s| s.cluster_ip)
        .expect("cluster IP");
    let master = format!("{ip}:8888");
    // kube-proxy programs the Service's rules a moment after the pods turn Ready; until then a
    // connection to the ClusterIP leaves by the default route and may be answered by whatever
    // sits there, so wait for the app's own answer.
    wait_for("the master's Service to route to the app", TIMEOUT, || {
        let master = master.clone();
        async move {
            match http_request(&master, "GET", "flask-faas", "/healthz", None, TIMEOUT) {
                Ok((200, body)) if body.contains("\"ok\"") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    let (code, register) = call(&master, "POST", "flask-faas", "/register", None);
    assert_eq!(code, 200, "{register}");
    assert_eq!(register["pool"], "master", "{register}");
    assert_eq!(register["functions"]["hello"], json!(["/hello/<name>"]));
    assert_eq!(register["functions"]["wordcount"], json!(["/wordcount"]));
    let (code, specialized) = call(
        &master,
        "POST",
        "flask-faas",
        "/specialize",
        Some(json!({"endpoint": "wordcount"})),
    );
    assert_eq!(code, 200, "{specialized}");
    assert_eq!(specialized["rules"], json!(["/wordcount"]), "{specialized}");
    let (code, unknown) = call(
        &master,
        "POST",
        "flask-faas",
        "/specialize",
        Some(json!({"endpoint": "os"})),
    );
    assert_eq!(code, 404, "{unknown}");

    // A job queued in Redis: KEDA's redis scaler sees the list and scales `jobs` from zero; the
    // worker writes the result back; `jobs` returns to zero after its cooldown.
    wait_at_zero(&ns, "jobs").await;
    let queued_at_seconds = now_seconds();
    let (code, queued) = call(
        &master,
        "POST",
        "flask-faas",
        "/jobs",
        Some(json!({"endpoint": "wordcount", "payload": {"text": "to be or not to be"}})),
    );
    assert_eq!(code, 202, "{queued}");
    let id = queued["id"].as_str().expect("job id").to_string();
    let queued_at = Instant::now();
    let done = wait_for("the job to be done", TIMEOUT, || {
        let (master, id) = (master.clone(), id.clone());
        async move {
            match call(&master, "GET", "flask-faas", &format!("/jobs/{id}"), None) {
                (200, result) => Ok(result),
                (code, other) => Err(format!("{code} {other}")),
            }
        }
    })
    .await;
    let job_time = queued_at.elapsed();
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(
        done["result"]["counts"],
        json!({"to": 2, "be": 2, "or": 1, "not": 1}),
        "{done}"
    );
    assert_eq!(done["worker"]["pool"], "jobs", "{done}");
    // The operator timed the worker's start from zero, within the job's time.
    let jobs_cold_start = last_cold_start(&ns, "jobs").await;
    assert!(
        jobs_cold_start <= job_time + READY_LAG,
        "{jobs_cold_start:?} for a job done in {job_time:?}"
    );
    // Done by a pod started for it.
    let worker_pod = done["worker"]["pod"].as_str().unwrap_or_default();
    let pods = pods_of(&ns, "jobs").await;
    assert!(
        pods.iter()
            .any(|(name, created)| name == worker_pod && *created >= queued_at_seconds),
        "done by {worker_pod}, not a pod started after the job was queued: {pods:?}"
    );
    let idle = Instant::now();
    wait_replicas(&ns, "flask-faas-jobs", 0, TIMEOUT).await;
    let jobs_to_zero = idle.elapsed();

    // A request through the interceptor while `specialize` is at zero is held until a worker
    // is up, then answered by it.
    wait_at_zero(&ns, "specialize").await;
    let scaled_objects: kube::Api<DynamicObject> = kube::Api::namespaced_with(
        ns.client.clone(),
        &ns.name,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "keda.sh",
            "v1alpha1",
            "ScaledObject",
        )),
    );
    wait_condition_ready(
        &scaled_objects,
        "flask-faas-specialize",
        "KEDA to reach the add-on's scaler for specialize",
        TIMEOUT,
    )
    .await;
    let proxy = format!("127.0.0.1:{}", keda.setting("KEDA_HTTP_PROXY_PORT"));
    let host = host(&ns.name);
    let sent_at = now_seconds();
    // Until the interceptor's routing table has the host it answers its own 404 at once. The
    // first request it routes is held through the cold start: the time is taken from there, and
    // any answer before the app's (a 502 from the interceptor, or a stranger's) is kept to fail on.
    let mut routed_at: Option<Instant> = None;
    let mut not_the_app: Vec<String> = Vec::new();
    let (cold_start, code, answer) = wait_for(
        &format!("the interceptor to route {host}/specialize"),
        Duration::from_secs(30),
        || {
            let sent = Instant::now();
            let body = json!({"endpoint": "hello"});
            let outcome = http_request(&proxy, "POST", &host, "/specialize", Some(&body), TIMEOUT)
                .and_then(|(code, text)| match serde_json::from_str::<Value>(&text) {
                    // The app's answers, errors included, are JSON naming its pool.
                    Ok(answer) if answer.get("pool").is_some() => {
                        Ok((routed_at.get_or_insert(sent).elapsed(), code, answer))
                    }
                    _ if code == 404 && text == "Not Found" => Err(format!("{code} {text:?}")),
                    _ => {
                        routed_at.get_or_insert(sent);
                        not_the_app.push(format!("{code} {text:?} after {:?}", sent.elapsed()));
                        Err(format!("{code} {text:?}"))
                    }
                });
            std::future::ready(outcome)
        },
    )
    .await;
    assert!(
        not_the_app.is_empty(),
        "routed requests answered by something other than the app: {not_the_app:?}"
    );
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["pool"], "specialize", "{answer}");
    assert_eq!(answer["rules"], json!(["/hello/<name>"]), "{answer}");
    // Answered by a pod started for it.
    let pods = pods_of(&ns, "specialize").await;
    let answered_by = answer["pod"].as_str().unwrap_or_default();
    assert!(
        pods.iter()
            .any(|(name, created)| name == answered_by && *created >= sent_at),
        "answered by {answered_by}, not a pod started after the request: {pods:?}"
    );
    // The operator timed the same start from zero, within the held request's time.
    let specialize_cold_start = last_cold_start(&ns, "specialize").await;
    assert!(
        specialize_cold_start <= cold_start + READY_LAG,
        "{specialize_cold_start:?} for a request answered in {cold_start:?}"
    );
    let idle = Instant::now();
    wait_replicas(&ns, "flask-faas-specialize", 0, TIMEOUT).await;
    let http_to_zero = idle.elapsed();
    eprintln!(
        "flask-faas: Ready {ready_after:?}; job queued -> done {job_time:?} (polling {POLLING}s, jobs cold start {jobs_cold_start:?}), jobs back to 0 {jobs_to_zero:?}; \
         HTTP cold start through the interceptor {cold_start:?} (operator's measure {specialize_cold_start:?}), specialize back to 0 {http_to_zero:?} (cooldown {COOLDOWN}s)"
    );

    // KEDA put finalizers on its objects: delete the app while it still runs.
    delete_app(&ns, "flask-faas").await;
    wait_for("KEDA to release its objects", TIMEOUT, || async {
        match scaled_objects.list(&Default::default()).await {
            Ok(list) if list.items.is_empty() => Ok(()),
            Ok(list) => Err(format!("{} ScaledObjects left", list.items.len())),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
}
