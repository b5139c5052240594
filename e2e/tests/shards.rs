//! Shards: two operators split the apps by the label `sharding.fluxcd.io/key`, as
//! config/shards installs them. Each writes only its own apps and their children (audit log),
//! and caches only those (its cached-objects metric).

use std::collections::BTreeSet;
use std::time::Duration;

use serverless_e2e::*;

const TIMEOUT: Duration = Duration::from_secs(120);
const SHARD_LABEL: &str = "sharding.fluxcd.io/key";

/// An operator for `ns` as the ServiceAccount `account`, reconciling the apps `selector` picks.
async fn shard(ns: &TestNamespace, account: &str, selector: &str) -> Operator {
    let dir = repo().join("target/e2e-logs");
    let (kubeconfig, username) =
        service_account_kubeconfig(&ns.client, &ns.name, account, OPERATOR_ROLE, &dir).await;
    let args = ["--namespace", &ns.name, "--watch-label-selector", selector];
    Operator::launch(
        kubeconfig,
        username,
        args.iter().map(|a| a.to_string()).collect(),
        dir.join(format!("{}-{account}.log", ns.name)),
        "info",
    )
}

/// The apps whose objects `operator` wrote since `offset`: an object's name starts with its
/// app's (`plain-1`, `plain-1-worker`, ...).
fn apps_written(log: &std::path::Path, offset: u64, operator: &Operator) -> BTreeSet<String> {
    audit_writes_since(log, offset, &operator.username)
        .iter()
        .filter_map(|e| e.object_ref.as_ref())
        .filter(|o| o.resource.as_deref() != Some("events"))
        .filter_map(|o| o.name.clone())
        .filter(|name| name.starts_with("plain-") || name.starts_with("sharded-"))
        .map(|name| name.splitn(3, '-').take(2).collect::<Vec<_>>().join("-"))
        .collect()
}

/// The `serverless_operator_cached_objects` of `kind` in `operator`'s metrics.
fn cached(operator: &Operator, kind: &str) -> Option<u64> {
    let (_, body) = operator.http_get("/metrics").ok()?;
    let prefix = format!("serverless_operator_cached_objects{{kind=\"{kind}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn two_shards_split_the_apps_and_their_children() {
    let ns = TestNamespace::new("shards").await;
    install_crds(&ns.client, false).await;
    let log = audit_log();
    let offset = log.as_deref().map(audit_offset);
    let mut unsharded = shard(&ns, "serverless-operator", &format!("!{SHARD_LABEL}")).await;
    let mut shard1 = shard(
        &ns,
        "serverless-operator-shard1",
        &format!("{SHARD_LABEL}=shard1"),
    )
    .await;
    unsharded.wait_ready(TIMEOUT).await;
    shard1.wait_ready(TIMEOUT).await;

    let worker = serde_json::json!({"args": ["work"]});
    let mut yaml = String::new();
    for name in ["plain-1", "plain-2"] {
        yaml += &TestApp::new(name)
            .worker("worker", 1, worker.clone())
            .yaml();
    }
    for name in ["sharded-1", "sharded-2"] {
        yaml += &TestApp::new(name)
            .label(SHARD_LABEL, "shard1")
            .worker("worker", 1, worker.clone())
            .yaml();
    }
    kubectl_apply(&ns.name, &yaml);
    for name in ["plain-1", "plain-2", "sharded-1", "sharded-2"] {
        ns.wait_ready(name, TIMEOUT).await;
    }

    // Each cache holds its 2 apps and their 2 Deployments and 1 Service each, nothing else.
    for operator in [&unsharded, &shard1] {
        for (kind, count) in [("ServerlessApp", 2), ("Deployment", 4), ("Service", 2)] {
            wait_for(&format!("{kind} cached"), TIMEOUT, || async {
                match cached(operator, kind) {
                    Some(n) if n == count => Ok(()),
                    other => Err(format!("{}: {kind} {other:?}", operator.username)),
                }
            })
            .await;
        }
    }

    // Each app was written by its shard only.
    if let (Some(log), Some(offset)) = (log, offset) {
        let by_unsharded = apps_written(&log, offset, &unsharded);
        let by_shard1 = apps_written(&log, offset, &shard1);
        assert_eq!(
            by_unsharded,
            BTreeSet::from(["plain-1".to_string(), "plain-2".to_string()])
        );
        assert_eq!(
            by_shard1,
            BTreeSet::from(["sharded-1".to_string(), "sharded-2".to_string()])
        );
    }

    // An app moved to the other shard is taken over by it, and its children follow.
    let out = kubectl(&[
        "-n",
        &ns.name,
        "label",
        "serverlessapp",
        "plain-2",
        &format!("{SHARD_LABEL}=shard1"),
    ]);
    assert!(out.success, "{}", out.stderr);
    for (operator, apps, deployments) in [(&unsharded, 1, 2), (&shard1, 3, 6)] {
        wait_for("the app moved", TIMEOUT, || async {
            match (
                cached(operator, "ServerlessApp"),
                cached(operator, "Deployment"),
            ) {
                (Some(a), Some(d)) if a == apps && d == deployments => Ok(()),
                other => Err(format!("{}: {other:?}", operator.username)),
            }
        })
        .await;
    }
}
