//! Every sample becomes Ready on a real control plane: its Deployments run (kwok pods), its
//! Services, HPAs and KEDA objects exist and are owned by the app, and `kubectl get
//! serverlessapps` shows it.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, ResourceExt};
use serverless_e2e::serverless_operator::children::{self, ChildKind};
use serverless_e2e::*;

const READY_TIMEOUT: Duration = Duration::from_secs(180);

async fn sample_becomes_ready(file: &str, app: &str) -> TestNamespace {
    let ns = TestNamespace::new(app).await;
    install_crds(&ns.client, true).await;
    let _operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, &sample(file));
    let ready = ns.wait_ready(app, READY_TIMEOUT).await;
    let uid = ready.uid().expect("uid");

    // Every child the app should own exists, is controlled by it, and Deployments are available.
    for child in children::desired(&ready).expect("desired children") {
        let value = child.to_json().expect("json");
        let gvk = GroupVersionKind::gvk(
            value["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .rsplit_once('/')
                .map_or("", |(g, _)| g),
            value["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default(),
            child.kind().as_str(),
        );
        let api: Api<DynamicObject> =
            Api::namespaced_with(ns.client.clone(), &ns.name, &ApiResource::from_gvk(&gvk));
        let observed = api
            .get(&child.name())
            .await
            .unwrap_or_else(|e| panic!("{} {} missing: {e}", child.kind().as_str(), child.name()));
        let owner = observed
            .owner_references()
            .iter()
            .find(|r| r.controller == Some(true));
        assert_eq!(
            owner.map(|r| r.uid.as_str()),
            Some(uid.as_str()),
            "{} {}",
            child.kind().as_str(),
            child.name()
        );
        if child.kind() == ChildKind::Deployment {
            let deployment = ns
                .api::<Deployment>()
                .get(&child.name())
                .await
                .expect("deployment");
            let status = deployment.status.unwrap_or_default();
            let want = deployment.spec.replicas.unwrap_or(1);
            assert!(
                status.available_replicas.unwrap_or(0) >= want,
                "{} not available: {status:?}",
                child.name()
            );
        }
    }

    // What a user sees at a glance.
    let out = kubectl(&["get", "serverlessapps", "-n", &ns.name]);
    assert!(out.success, "{}", out.stderr);
    let mut lines = out.stdout.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "READY", "MASTER", "WORKERS", "URL", "AGE"],
        "{}",
        out.stdout
    );
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let status = ready.status.clone().expect("status");
    let workers = ready.spec.workers.len();
    assert_eq!(row[0], app);
    assert_eq!(row[1], "True");
    let master = status.components[0].desired_replicas.unwrap_or(0);
    assert_eq!(row[2], format!("{master}/{master}"));
    assert_eq!(row[3], format!("{workers}/{workers}"));
    assert_eq!(row[4], status.url.clone().expect("url"));
    assert!(
        row[4].contains(&format!("{app}.{}.svc", ns.name)),
        "{}",
        row[4]
    );
    // The short name works too.
    assert!(kubectl(&["get", "sapp", "-n", &ns.name, app]).success);
    ns
}

#[tokio::test]
async fn hello_function() {
    let _ = sample_becomes_ready("hello-function.yaml", "hello").await;
}

#[tokio::test]
async fn flask_faas() {
    let _ = sample_becomes_ready("flask-faas/flask-faas.yaml", "flask-faas").await;
}

#[tokio::test]
async fn queue_worker() {
    let _ = sample_becomes_ready("queue-worker.yaml", "thumbnails").await;
}

#[tokio::test]
async fn fixed_size() {
    let _ = sample_becomes_ready("fixed-size.yaml", "ledger").await;
}

#[tokio::test]
async fn node_pools_place_master_and_workers_apart() {
    let ns = sample_becomes_ready("node-pools.yaml", "storefront").await;
    // The scale-to-zero worker starts at 0: scaled by hand, its pod shows where it goes.
    let out = kubectl(&[
        "-n",
        &ns.name,
        "scale",
        "deployment/storefront-recommend",
        "--replicas=1",
    ]);
    assert!(out.success, "{}", out.stderr);
    let pods = ns.api::<Pod>();
    wait_for(
        "a recommend pod scheduled",
        Duration::from_secs(120),
        || {
            let pods = pods.clone();
            async move {
                let list = pods
                    .list(
                        &ListParams::default()
                            .labels("serverless-operator.dev/component=recommend"),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                let scheduled = list
                    .iter()
                    .any(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some());
                scheduled
                    .then_some(())
                    .ok_or(format!("{} pods, none scheduled", list.items.len()))
            }
        },
    )
    .await;
    let nodes: Api<Node> = Api::all(ns.client.clone());
    for (component, pool) in [
        ("master", "general"),
        ("checkout", "functions"),
        ("recommend", "functions"),
    ] {
        let pods = ns
            .api::<Pod>()
            .list(
                &ListParams::default()
                    .labels(&format!("serverless-operator.dev/component={component}")),
            )
            .await
            .expect("pods");
        assert!(!pods.items.is_empty(), "no pods for {component}");
        for pod in pods {
            let node = pod.spec.and_then(|s| s.node_name).expect("scheduled");
            let labels = nodes.get(&node).await.expect("node").labels().clone();
            assert_eq!(
                labels.get("pool").map(String::as_str),
                Some(pool),
                "{component} pod on {node}"
            );
        }
    }
}
