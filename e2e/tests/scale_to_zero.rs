//! Scale to zero and back, driven by the real KEDA operator (e2e/keda), with a `metrics-api`
//! trigger pointed at a small HTTP server in this test.
//!
//! One test in this binary: it runs KEDA cluster-wide for its duration, and stops it after.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use serde_json::json;
use serverless_e2e::serverless_operator::api::ComponentState;
use serverless_e2e::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const POLLING: u64 = 5;
const COOLDOWN: u64 = 10;
const TIMEOUT: Duration = Duration::from_secs(120);

/// Serves `{"value": N}` on 127.0.0.1, N from `value`.
async fn metric_server(value: Arc<AtomicU32>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                continue;
            };
            let value = value.load(Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = socket.read(&mut buf).await;
                let body = format!("{{\"value\": {value}}}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_worker_scales_to_zero_and_back_with_real_keda() {
    if std::env::var_os("E2E_LOCAL_CLUSTER").is_none() {
        eprintln!("not on the local cluster: this test runs the KEDA operator as a local process");
        return;
    }
    let ns = TestNamespace::new("zero").await;
    install_crds(&ns.client, true).await;
    let _keda = Keda::start(&["operator"]);
    let value = Arc::new(AtomicU32::new(0));
    let port = metric_server(value.clone()).await;
    let _operator = Operator::start(&ns, &[]).await;
    let manifest = |paused: bool| {
        TestApp::new("fn")
            .image("registry.example/fn:1")
            .spec(json!({"paused": paused}))
            .worker(
                "jobs",
                0,
                json!({
                    "replicas": {"max": 3},
                    "triggers": [{"type": "metrics-api", "metadata": {
                        "url": format!("http://127.0.0.1:{port}/"), "valueLocation": "value",
                        "targetValue": "1", "activationTargetValue": "0"}}],
                    "pollingIntervalSeconds": POLLING,
                    "cooldownSeconds": COOLDOWN,
                }),
            )
            .yaml()
    };
    kubectl_apply(&ns.name, &manifest(false));

    // Value 0: KEDA takes the worker to zero; the app stays Ready and says so.
    let start = Instant::now();
    let deployments = ns.api::<Deployment>();
    let replicas = |want: fn(i32) -> bool| {
        let deployments = deployments.clone();
        move || {
            let deployments = deployments.clone();
            async move {
                let d = deployments
                    .get("fn-jobs")
                    .await
                    .map_err(|e| e.to_string())?;
                let r = d.spec.replicas.unwrap_or(1);
                if want(r) {
                    Ok(r)
                } else {
                    Err(format!("replicas {r}"))
                }
            }
        }
    };
    wait_for("the worker at zero", TIMEOUT, replicas(|r| r == 0)).await;
    let to_zero = start.elapsed();
    let app = wait_for(
        "status to show the worker idle at zero",
        TIMEOUT,
        || async {
            let app = ns.wait_ready("fn", TIMEOUT).await;
            let status = app.status.clone().unwrap_or_default();
            let jobs = status
                .components
                .iter()
                .find(|c| c.name == "jobs")
                .cloned()
                .unwrap_or_default();
            if jobs.state == ComponentState::ScaledToZero && jobs.scaler_active == Some(false) {
                Ok(app)
            } else {
                Err(format!("{jobs:?}"))
            }
        },
    )
    .await;
    assert_eq!(
        app.status
            .as_ref()
            .and_then(|s| s.scalers.clone())
            .as_deref(),
        Some("0 active, 1 idle")
    );
    let wide = kubectl(&["get", "sapp", "fn", "-n", &ns.name, "-o", "wide"]);
    assert!(
        wide.stdout.contains("SCALERS") && wide.stdout.contains("0 active, 1 idle"),
        "{}",
        wide.stdout
    );

    // Value 5: back from zero, pods Running.
    value.store(5, Ordering::Relaxed);
    let woke = Instant::now();
    wait_for("the worker back from zero", TIMEOUT, replicas(|r| r >= 1)).await;
    let from_zero = woke.elapsed();
    let pods = ns.api::<Pod>();
    wait_for("its pods Running", TIMEOUT, || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels("serverless-operator.dev/component=jobs"))
                .await
                .map_err(|e| e.to_string())?;
            let running = list
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .count();
            if running >= 1 {
                Ok(())
            } else {
                Err(format!("{running} running"))
            }
        }
    })
    .await;
    let apps = ns.apps();
    wait_for("status to show the scaler active", TIMEOUT, || {
        let apps = apps.clone();
        async move {
            let status = apps
                .get("fn")
                .await
                .map_err(|e| e.to_string())?
                .status
                .unwrap_or_default();
            if status.scalers.as_deref() == Some("1 active, 0 idle") {
                Ok(())
            } else {
                Err(format!("{:?}", status.scalers))
            }
        }
    })
    .await;

    // Value 0 again: back to zero after the cooldown.
    value.store(0, Ordering::Relaxed);
    let idle = Instant::now();
    wait_for("the worker back at zero", TIMEOUT, replicas(|r| r == 0)).await;
    let back_to_zero = idle.elapsed();
    ns.wait_ready("fn", TIMEOUT).await;
    eprintln!(
        "scale to zero (polling {POLLING}s, cooldown {COOLDOWN}s): first to zero {to_zero:?}, 0 -> 1 {from_zero:?}, 1 -> 0 {back_to_zero:?}"
    );
    assert!(
        back_to_zero >= Duration::from_secs(COOLDOWN - POLLING),
        "went to zero before the cooldown: {back_to_zero:?}"
    );

    // Paused at zero: KEDA holds the replicas where they are although the trigger is active,
    // and the app says so; applying the same file again writes nothing.
    kubectl_apply(&ns.name, &manifest(true));
    let scaled_objects: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        ns.client.clone(),
        &ns.name,
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            "keda.sh",
            "v1alpha1",
            "ScaledObject",
        )),
    );
    let paused_by_keda = wait_for("KEDA to report the pause", TIMEOUT, || {
        let scaled_objects = scaled_objects.clone();
        async move {
            let so = scaled_objects
                .get("fn-jobs")
                .await
                .map_err(|e| e.to_string())?;
            let paused = so.data["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Paused" && c["status"] == "True");
            if paused {
                Ok(so)
            } else {
                Err(format!("{}", so.data["status"]))
            }
        }
    })
    .await;
    value.store(5, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3 * POLLING)).await;
    assert_eq!(
        deployments
            .get("fn-jobs")
            .await
            .expect("worker")
            .spec
            .replicas,
        Some(0),
        "the replicas moved while paused"
    );
    let status = ns
        .wait_ready("fn", TIMEOUT)
        .await
        .status
        .unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(ready.reason, "Paused", "{ready:?}");
    assert!(
        ready.message.contains("autoscaling paused for jobs"),
        "{ready:?}"
    );
    kubectl_apply(&ns.name, &manifest(true));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let again = scaled_objects.get("fn-jobs").await.expect("ScaledObject");
    assert_eq!(
        (again.metadata.generation, again.metadata.annotations),
        (
            paused_by_keda.metadata.generation,
            paused_by_keda.metadata.annotations
        ),
        "the same file applied twice changed the ScaledObject"
    );

    // Resumed: KEDA takes it from where it was held, up on the active trigger.
    kubectl_apply(&ns.name, &manifest(false));
    let resumed = Instant::now();
    wait_for(
        "the worker up after the pause",
        TIMEOUT,
        replicas(|r| r >= 1),
    )
    .await;
    let ready = ns
        .wait_ready("fn", TIMEOUT)
        .await
        .status
        .unwrap_or_default();
    assert!(
        ready
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.reason != "Paused"),
        "{ready:?}"
    );
    eprintln!(
        "paused at zero for {}s with an active trigger; resumed to 1 in {:?}",
        3 * POLLING,
        resumed.elapsed()
    );

    // The HTTP add-on's operator accepts the HTTPScaledObject of an http worker and reconciles it
    // into a ScaledObject of its own. (Requests through its interceptor: flask_faas.rs.)
    let _add_on = Keda::start(&["http-add-on"]);
    kubectl_apply(&ns.name, &sample("hello-function.yaml"));
    ns.wait_ready("hello", TIMEOUT).await;
    wait_for(
        "the add-on to create a ScaledObject for hello-greet",
        TIMEOUT,
        || {
            let scaled_objects = scaled_objects.clone();
            async move {
                let list = scaled_objects
                    .list(&Default::default())
                    .await
                    .map_err(|e| e.to_string())?;
                list.iter()
                    .find(|so| {
                        so.metadata
                            .owner_references
                            .iter()
                            .flatten()
                            .any(|r| r.kind == "HTTPScaledObject" && r.name == "hello-greet")
                    })
                    .map(|_| ())
                    .ok_or_else(|| {
                        format!(
                            "{} ScaledObjects, none owned by HTTPScaledObject hello-greet",
                            list.items.len()
                        )
                    })
            }
        },
    )
    .await;

    // Delete the apps while KEDA still runs: it put finalizers on its objects and must remove them.
    for app in ["fn", "hello"] {
        delete_app(&ns, app).await;
    }
    wait_for("KEDA to release its objects", TIMEOUT, || {
        let scaled_objects = scaled_objects.clone();
        async move {
            let left = scaled_objects
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?
                .items
                .len();
            if left == 0 {
                Ok(())
            } else {
                Err(format!("{left} ScaledObjects left"))
            }
        }
    })
    .await;
}
