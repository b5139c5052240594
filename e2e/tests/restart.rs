//! The operator killed in the middle of creating many apps converges after a restart, with every
//! child present once and nothing left over.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::api::ListParams;
use serde_json::json;
use serverless_e2e::serverless_operator::children::{self, ChildKind};
use serverless_e2e::*;

const APPS: usize = 15;

#[tokio::test]
async fn restart_mid_rollout_converges_without_duplicates() {
    let ns = TestNamespace::new("restart").await;
    install_crds(&ns.client, true).await;
    let mut operator = Operator::start(&ns, &[]).await;
    let all: String = (0..APPS)
        .map(|i| {
            TestApp::new(&format!("app-{i}"))
                .worker("a", 1, json!({}))
                .worker("b", 0, json!({"replicas": {"max": 2}, "triggers": json!([{"type": "cron", "metadata": {"timezone": "UTC", "start": "0 8 * * *", "end": "0 9 * * *", "desiredReplicas": "1"}}])}))
                .yaml()
        })
        .collect();
    kubectl_apply(&ns.name, &all);
    // Kill it while it is still creating children, then start it again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    operator.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    operator.restart();

    let mut expected_deployments = BTreeSet::new();
    let mut expected_services = BTreeSet::new();
    for i in 0..APPS {
        let app = ns
            .wait_ready(&format!("app-{i}"), Duration::from_secs(180))
            .await;
        for child in children::desired(&app).expect("children") {
            match child.kind() {
                ChildKind::Deployment => expected_deployments.insert(child.name()),
                ChildKind::Service => expected_services.insert(child.name()),
                _ => false,
            };
        }
    }
    let deployments = ns
        .api::<Deployment>()
        .list(&ListParams::default())
        .await
        .expect("list");
    let names: BTreeSet<String> = deployments.iter().map(|d| d.name_any()).collect();
    assert_eq!(names, expected_deployments, "Deployments after restart");
    assert_eq!(deployments.items.len(), names.len());
    for d in &deployments {
        let controllers = d
            .owner_references()
            .iter()
            .filter(|r| r.controller == Some(true))
            .count();
        assert_eq!(
            controllers,
            1,
            "{} has {controllers} controllers",
            d.name_any()
        );
    }
    let services: BTreeSet<String> = ns
        .api::<Service>()
        .list(&ListParams::default())
        .await
        .expect("list")
        .iter()
        .map(|s| s.name_any())
        .collect();
    assert_eq!(services, expected_services, "Services after restart");
    // Each app has the pods it asked for, no more: 1 master + 1 fixed worker, and none of the
    // KEDA worker, which starts at its minimum (0), also when the kill came between its
    // Deployment's creation and its starting replicas.
    let pods = ns
        .api::<k8s_openapi::api::core::v1::Pod>()
        .list(&ListParams::default())
        .await
        .expect("pods");
    assert_eq!(pods.items.len(), APPS * 2, "pods after restart");
}
