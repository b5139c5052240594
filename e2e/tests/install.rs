//! The install a user runs, for real: `config/default` with the image `make image` built,
//! pulled from the loopback registry by the real node's containerd, the operator running as two
//! pods (probes, read-only root filesystem, user 65532, leader election, all namespaces), an
//! app on the real node in a namespace that enforces Pod Security "restricted", and the Lease
//! handed over when the leader's pod is deleted.
//!
//! One test in this binary: the operator it installs watches every namespace.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use serverless_e2e::*;

const SYSTEM_NS: &str = "serverless-operator-system";
const TIMEOUT: Duration = Duration::from_secs(180);

/// Removes the install (not the CRD, which the rest of the suite shares) even when the test
/// fails, so no later test meets an operator watching all namespaces.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let pods = kubectl(&["get", "pods", "-n", SYSTEM_NS, "-o", "wide"]);
            eprintln!("--- operator pods ---\n{}{}", pods.stdout, pods.stderr);
            let logs = kubectl(&[
                "logs",
                "-n",
                SYSTEM_NS,
                "-l",
                "app.kubernetes.io/name=serverless-operator",
                "--tail=30",
                "--prefix",
            ]);
            eprintln!("--- operator logs ---\n{}{}", logs.stdout, logs.stderr);
        }
        for (kind, name) in [
            ("namespace", SYSTEM_NS),
            ("clusterrolebinding", "serverless-operator"),
            ("clusterrole", "serverless-operator"),
        ] {
            let _ = kubectl(&["delete", kind, name, "--ignore-not-found", "--timeout=90s"]);
        }
    }
}

async fn lease_holder(leases: &Api<Lease>) -> Result<String, String> {
    let lease = leases
        .get("serverless-operator")
        .await
        .map_err(|e| e.to_string())?;
    lease
        .spec
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| "no holder".to_string())
}

async fn operator_pods(pods: &Api<Pod>) -> Vec<Pod> {
    pods.list(&ListParams::default().labels("app.kubernetes.io/name=serverless-operator"))
        .await
        .expect("list operator pods")
        .items
}

#[tokio::test]
async fn install_runs_in_pods_on_the_real_node_and_hands_over_the_lease() {
    let Some(node) = RealNode::from_env() else {
        eprintln!(
            "no real node (CLUSTER_REAL_NODE=0 or not the local cluster): nothing runs containers"
        );
        return;
    };
    let client = admin_client().await;

    // 1. Install as the README says, with the image pointed at the local registry.
    let dir = repo().join("target/e2e-install");
    std::fs::create_dir_all(&dir).expect("install dir");
    std::fs::write(
        dir.join("kustomization.yaml"),
        node.install_kustomization("../../config/default"),
    )
    .expect("write kustomization");
    // An install removed a moment ago (Flux's test prunes its own) may still be terminating.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    wait_for("an earlier install to be gone", TIMEOUT, || {
        let namespaces = namespaces.clone();
        async move {
            match namespaces.get_opt(SYSTEM_NS).await {
                Ok(Some(ns)) if ns.metadata.deletion_timestamp.is_some() => {
                    Err(format!("{SYSTEM_NS} still terminating"))
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        }
    })
    .await;
    let _installed = Installed;
    let started = Instant::now();
    let out = kubectl(&["apply", "--server-side", "-k", &dir.to_string_lossy()]);
    assert!(
        out.success,
        "kubectl apply -k: {}{}",
        out.stdout, out.stderr
    );

    // 2. Both replicas Ready through their probes, on the real node, from the pushed image.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), SYSTEM_NS);
    wait_deployment_ready(&deployments, "serverless-operator", 2, TIMEOUT).await;
    eprintln!(
        "install: 2 operator pods Ready {:?} after kubectl apply -k",
        started.elapsed()
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), SYSTEM_NS);
    let running = operator_pods(&pods).await;
    let pushed = node.pinned(&node.operator_image);
    let (_, digest) = pushed.split_once('@').expect("pinned");
    for pod in &running {
        let spec = pod.spec.clone().unwrap_or_default();
        assert_eq!(spec.node_name.as_deref(), Some(node.name.as_str()));
        let status = pod.status.clone().unwrap_or_default();
        let container = &status.container_statuses.unwrap_or_default()[0];
        // The image pushed last, not one the node pulled before under the same tag.
        assert!(
            container.image_id.ends_with(digest),
            "runs {}, not the pushed {pushed}",
            container.image_id
        );
        assert!(
            container.image_id.contains("sha256:"),
            "pulled by digest: {}",
            container.image_id
        );
        assert!(container.ready, "{} not ready", pod.name_any());
    }

    // 3. One of them holds the Lease.
    let leases: Api<Lease> = Api::namespaced(client.clone(), SYSTEM_NS);
    let names: Vec<String> = running.iter().map(|p| p.name_any()).collect();
    let leader = wait_for("a pod to hold the Lease", TIMEOUT, || {
        let (leases, names) = (leases.clone(), names.clone());
        async move {
            let holder = lease_holder(&leases).await?;
            if names.contains(&holder) {
                Ok(holder)
            } else {
                Err(format!("holder {holder}, pods {names:?}"))
            }
        }
    })
    .await;

    // The shipped arguments elect one writer: only the holder reports itself leader on /metrics
    // (read through the API server's pod proxy, as Prometheus' pod discovery would reach it).
    let leaders: Vec<String> = names
        .iter()
        .filter(|pod| {
            let out = kubectl(&[
                "get",
                "--raw",
                &format!("/api/v1/namespaces/{SYSTEM_NS}/pods/{pod}:8080/proxy/metrics"),
            ]);
            assert!(out.success, "metrics of {pod}: {}", out.stderr);
            out.stdout
                .lines()
                .any(|l| l.trim() == "serverless_operator_leader 1")
        })
        .cloned()
        .collect();
    assert_eq!(
        leaders,
        vec![leader.clone()],
        "one writer, the Lease holder"
    );

    // 4. An app in another namespace, enforcing "restricted", with its pods on the real node:
    //    real admission, real containers, Ready; and a sample on the kwok nodes beside it.
    let ns = TestNamespace::new("install").await;
    namespaces
        .patch(
            &ns.name,
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns.name, "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                }},
            })),
        )
        .await
        .expect("label namespace restricted");
    let app = TestApp::new("sandbox")
        .image(&node.pause_image())
        .master(json!({"placement": RealNode::placement()}))
        .json();
    let applied = Instant::now();
    kubectl_apply(&ns.name, &app.to_string());
    kubectl_apply(&ns.name, &sample("fixed-size.yaml"));
    ns.wait_ready("sandbox", TIMEOUT).await;
    eprintln!(
        "install: app on the real node Ready {:?} after apply",
        applied.elapsed()
    );
    ns.wait_ready("ledger", TIMEOUT).await;
    let app_pods = ns
        .api::<Pod>()
        .list(&ListParams::default().labels("serverless-operator.dev/app=sandbox"))
        .await
        .expect("app pods");
    assert_eq!(app_pods.items.len(), 1);
    let pod = &app_pods.items[0];
    assert_eq!(
        pod.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some(node.name.as_str())
    );
    let started_at = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c[0].state.as_ref())
        .and_then(|s| s.running.as_ref())
        .and_then(|r| r.started_at.clone());
    assert!(started_at.is_some(), "container running: {:?}", pod.status);

    // 5. The operator pods' memory, from the kubelet's cgroup stats through the API server
    //    (the kubelet collects them every few seconds, so new pods appear after a while).
    let stats_path = format!("/api/v1/nodes/{}/proxy/stats/summary", node.name);
    let memory = wait_for(
        "the kubelet's memory figures of the operator pods",
        TIMEOUT,
        || {
            let (stats_path, names) = (stats_path.clone(), names.clone());
            async move {
                let summary = get_raw(&stats_path)?;
                let figures: Vec<(String, u64)> = summary["pods"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|pod| {
                        let name = pod["podRef"]["name"].as_str()?.to_string();
                        let bytes = pod["memory"]["workingSetBytes"].as_u64()?;
                        (names.contains(&name) && bytes > 0).then_some((name, bytes))
                    })
                    .collect();
                if figures.len() == names.len() {
                    Ok(figures)
                } else {
                    Err(format!("figures for {figures:?} of {names:?}"))
                }
            }
        },
    )
    .await;
    for (name, bytes) in memory {
        eprintln!(
            "install: {name} working set {:.1} MiB",
            bytes as f64 / 1048576.0
        );
    }
    // Logs through the API server and the kubelet, JSON as configured.
    let logs = kubectl(&["logs", "-n", SYSTEM_NS, &leader, "--tail=5"]);
    assert!(logs.success, "kubectl logs: {}", logs.stderr);
    assert!(
        logs.stdout.lines().all(|l| l.starts_with('{')),
        "JSON logs: {}",
        logs.stdout
    );

    // 6. Deleting the leader's pod hands the Lease to another pod, which then reconciles.
    let deleted = Instant::now();
    let out = kubectl(&["delete", "pod", "-n", SYSTEM_NS, &leader, "--wait=false"]);
    assert!(out.success, "delete pod: {}", out.stderr);
    let new_leader = wait_for("another pod to take the Lease", TIMEOUT, || {
        let (leases, leader) = (leases.clone(), leader.clone());
        async move {
            let holder = lease_holder(&leases).await?;
            if holder != leader {
                Ok(holder)
            } else {
                Err(format!("still {holder}"))
            }
        }
    })
    .await;
    eprintln!(
        "install: Lease moved from {leader} to {new_leader} {:?} after the pod was deleted",
        deleted.elapsed()
    );
    let mut scaled = app.clone();
    scaled["spec"]["master"]["replicas"] = json!({"min": 2, "max": 2});
    kubectl_apply(&ns.name, &scaled.to_string());
    let app_deployments = ns.api::<Deployment>();
    // The new leader scales the app.
    wait_deployment_ready(&app_deployments, "sandbox", 2, TIMEOUT).await;
    ns.wait_ready("sandbox", TIMEOUT).await;
}
