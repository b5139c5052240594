//! A component that always runs two or more pods gets a PodDisruptionBudget, and `kubectl drain`
//! honours it on real Kubernetes eviction: the second pod is not evicted while the first one's
//! replacement cannot start. The budget goes when the component may run a single pod.
//!
//! The test brings two kwok nodes of its own, tainted for it alone, so cordoning them disturbs
//! no other test.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use serverless_e2e::*;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Two kwok nodes only this test's pods tolerate; deleted when dropped.
struct Nodes(Vec<String>);

impl Nodes {
    async fn create(ns: &TestNamespace) -> Self {
        let nodes: Api<Node> = Api::all(ns.client.clone());
        let names: Vec<String> = ["a", "b"]
            .iter()
            .map(|s| format!("{}-{s}", ns.name))
            .collect();
        for name in &names {
            let node: Node = serde_json::from_value(json!({
                "metadata": {
                    "name": name,
                    "labels": {"type": "kwok", "e2e-pool": ns.name, "kubernetes.io/hostname": name,
                               "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                },
                "spec": {"taints": [{"key": "e2e-pool", "value": ns.name, "effect": "NoSchedule"}]},
                "status": {
                    "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                    "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                },
            }))
            .expect("node");
            nodes
                .create(&PostParams::default(), &node)
                .await
                .expect("create node");
        }
        let nodes = Nodes(names);
        for name in &nodes.0 {
            let out = kubectl(&[
                "wait",
                "--for=condition=Ready",
                &format!("node/{name}"),
                "--timeout=60s",
            ]);
            assert!(out.success, "node {name} not Ready: {}", out.stderr);
        }
        nodes
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = kubectl(&["delete", "node", name, "--wait=false", "--ignore-not-found"]);
        }
    }
}

/// The worker's pods that are not being deleted, with their nodes.
async fn worker_pods(ns: &TestNamespace) -> Vec<(String, Option<String>)> {
    let pods: Api<Pod> = ns.api();
    pods.list(&ListParams::default().labels("serverless-operator.dev/component=w"))
        .await
        .expect("pods")
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| (p.name_any(), p.spec.and_then(|s| s.node_name)))
        .collect()
}

#[tokio::test]
async fn a_drain_keeps_all_but_one_pod_of_a_component_that_always_runs_two() {
    let ns = TestNamespace::new("disruption").await;
    install_crds(&ns.client, false).await;
    let nodes = Nodes::create(&ns).await;
    let _operator = Operator::start(&ns, &[]).await;
    let placement = json!({
        "nodeSelector": {"e2e-pool": ns.name},
        "tolerations": [{"key": "e2e-pool", "operator": "Equal", "value": ns.name, "effect": "NoSchedule"}],
    });
    let two = TestApp::new("steady").worker("w", 2, json!({"placement": placement}));
    kubectl_apply(&ns.name, &two.yaml());
    ns.wait_ready("steady", TIMEOUT).await;

    // The budget, once the disruption controller has counted the pods.
    let budgets: Api<PodDisruptionBudget> = ns.api();
    let budget = wait_for("the budget to allow one disruption", TIMEOUT, || async {
        let budget = budgets.get("steady-w").await.map_err(|e| e.to_string())?;
        let status = serde_json::to_value(&budget.status).unwrap_or_default();
        if status["disruptionsAllowed"] == 1 {
            Ok(budget)
        } else {
            Err(status.to_string())
        }
    })
    .await;
    assert_eq!(
        serde_json::to_value(&budget.spec).unwrap()["minAvailable"],
        1,
        "{:?}",
        budget.spec
    );
    assert!(
        budgets.get_opt("steady").await.expect("get").is_none(),
        "the master runs one pod"
    );

    // Replacements cannot start anywhere: both nodes are cordoned. Drain them in turn.
    let before = worker_pods(&ns).await;
    assert_eq!(before.len(), 2, "{before:?}");
    for node in &nodes.0 {
        assert!(kubectl(&["cordon", node]).success);
    }
    let mut outputs = String::new();
    for node in &nodes.0 {
        let out = kubectl(&[
            "drain",
            node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--pod-selector=serverless-operator.dev/app=steady",
            "--timeout=15s",
        ]);
        outputs.push_str(&out.stdout);
        outputs.push_str(&out.stderr);
    }
    let evicted: Vec<_> = before
        .iter()
        .filter(|(name, _)| outputs.contains(&format!("pod/{name} evicted")))
        .collect();
    eprintln!("disruption: drain output:\n{outputs}");
    assert_eq!(
        evicted.len(),
        1,
        "exactly one pod may go: {evicted:?}\n{outputs}"
    );
    assert!(
        outputs.contains("disruption budget"),
        "the second eviction was refused by the budget:\n{outputs}"
    );
    let remaining = worker_pods(&ns).await;
    assert!(
        before
            .iter()
            .any(|(name, _)| remaining.iter().any(|(r, _)| r == name)),
        "one original pod still runs: before {before:?}, now {remaining:?}"
    );

    // Back to normal; then a single pod: the budget goes, since it would block every drain.
    for node in &nodes.0 {
        assert!(kubectl(&["uncordon", node]).success);
    }
    ns.wait_ready("steady", TIMEOUT).await;
    let one = TestApp::new("steady").worker("w", 1, json!({"placement": placement}));
    kubectl_apply(&ns.name, &one.yaml());
    wait_for("the budget to be deleted", TIMEOUT, || async {
        match budgets
            .get_opt("steady-w")
            .await
            .map_err(|e| e.to_string())?
        {
            None => Ok(()),
            Some(_) => Err("still there".to_string()),
        }
    })
    .await;
    ns.wait_ready("steady", TIMEOUT).await;
}
