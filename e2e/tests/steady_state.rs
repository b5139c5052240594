//! Zero writes in steady state, measured on the real API server: once many apps are Ready,
//! several resync periods pass and the API server's audit log shows no write request from the
//! operator's ServiceAccount.

use std::time::Duration;

use serde_json::json;
use serverless_e2e::*;

const APPS: usize = 30;
const RESYNC_SECONDS: u64 = 5;
const RESYNCS: u64 = 4;

fn app(i: usize) -> String {
    // A mix of scaling modes: fixed, HPA, KEDA ScaledObject, HTTPScaledObject.
    let (size, worker) = match i % 4 {
        0 => (2, json!({})),
        1 => (
            1,
            json!({"resources": {"requests": {"cpu": "100m"}}, "replicas": {"max": 3},
                   "autoscaling": {"cpuUtilization": 60}}),
        ),
        2 => (
            0,
            json!({"replicas": {"max": 3}, "triggers": json!([{"type": "cron", "metadata": {"timezone": "UTC", "start": "0 8 * * *", "end": "0 9 * * *", "desiredReplicas": "1"}}])}),
        ),
        _ => (
            0,
            json!({"ports": [{"name": "http", "port": 8080}], "replicas": {"max": 3},
                   "http": {"hosts": ["w.example.com"]}}),
        ),
    };
    TestApp::new(&format!("app-{i}"))
        .image(&format!("registry.example/app:{i}"))
        .master(
            json!({"resources": {"requests": {"cpu": "50m", "memory": "32Mi"}},
                       "replicas": {"max": 2}}),
        )
        .worker("w", size, worker)
        .yaml()
}

#[tokio::test]
async fn resyncs_of_ready_apps_write_nothing() {
    let Some(audit) = audit_log() else {
        assert!(
            std::env::var_os("E2E_LOCAL_CLUSTER").is_none(),
            "the local cluster's audit log is missing"
        );
        eprintln!(
            "AUDIT_LOG not set or missing: this check needs the API server's audit log (make e2e sets it for the local cluster)"
        );
        return;
    };
    let ns = TestNamespace::new("steady").await;
    install_crds(&ns.client, true).await;
    let resync = RESYNC_SECONDS.to_string();
    let operator = Operator::start_with_log(
        &ns,
        &["--resync-seconds", &resync],
        "info,serverless_operator::controller=debug",
    )
    .await;
    let all: String = (0..APPS).map(|i| format!("---\n{}", app(i))).collect();
    kubectl_apply(&ns.name, &all);
    for i in 0..APPS {
        ns.wait_ready(&format!("app-{i}"), Duration::from_secs(180))
            .await;
    }
    let during_convergence = audit_writes_since(&audit, 0, &operator.username).len();

    // Let late watch events settle, then watch several resync periods.
    tokio::time::sleep(Duration::from_secs(RESYNC_SECONDS)).await;
    let offset = audit_offset(&audit);
    let log_before = std::fs::read_to_string(&operator.log)
        .unwrap_or_default()
        .matches("reconciled")
        .count();
    tokio::time::sleep(Duration::from_secs(RESYNC_SECONDS * RESYNCS)).await;
    let reconciles = std::fs::read_to_string(&operator.log)
        .unwrap_or_default()
        .matches("reconciled")
        .count()
        - log_before;
    let writes = audit_writes_since(&audit, offset, &operator.username);

    eprintln!(
        "{APPS} apps: {during_convergence} writes while converging ({:.1}/app); {reconciles} reconciles over {}s of steady state; {} writes",
        during_convergence as f64 / APPS as f64,
        RESYNC_SECONDS * RESYNCS,
        writes.len()
    );
    // The measurement sees the operator at all: creating the apps took writes.
    assert!(
        during_convergence >= APPS * 3,
        "only {during_convergence} writes seen while converging"
    );
    assert!(
        reconciles >= APPS * (RESYNCS as usize - 1),
        "expected resyncs to reconcile every app about every {RESYNC_SECONDS}s, saw {reconciles} reconciles"
    );
    assert!(writes.is_empty(), "writes in steady state: {writes:#?}");
}

/// A new app is in progress for kstatus (Flux's health checks) before the operator reports on
/// it: the CRD defaults `status.observedGeneration` to 0, so it differs from the generation
/// until the operator's first status write, which it may hold back until the app is Ready.
#[tokio::test]
async fn a_new_app_is_in_progress_until_the_operator_reports() {
    let ns = TestNamespace::new("kstatus").await;
    install_crds(&ns.client, false).await;
    kubectl_apply(&ns.name, &TestApp::new("fresh").yaml());
    let fresh = ns.apps().get("fresh").await.expect("app");
    let status = fresh.status.expect("the defaulted status");
    assert_eq!(status.observed_generation, Some(0));
    assert!(status.conditions.is_empty());
    assert_eq!(fresh.metadata.generation, Some(1));

    let log = audit_log();
    let offset = log.as_deref().map(audit_offset).unwrap_or(0);
    let start = std::time::Instant::now();
    let operator = Operator::start(&ns, &["--status-interval-seconds", "30"]).await;
    let ready = ns.wait_ready("fresh", Duration::from_secs(60)).await;
    assert_eq!(ready.status.and_then(|s| s.observed_generation), Some(1));
    // Ready within the status interval: Ready is written at once, and it is the only write.
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    if let Some(log) = log {
        let status_writes = audit_writes_since(&log, offset, &operator.username)
            .iter()
            .filter(|e| {
                e.object_ref
                    .as_ref()
                    .is_some_and(|o| o.subresource.as_deref() == Some("status"))
            })
            .count();
        assert_eq!(status_writes, 1);
    }
}
