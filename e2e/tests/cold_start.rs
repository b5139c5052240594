//! Cold starts, timed on the local cluster: kwok makes a pod annotated with its
//! `pod-ready.stage.kwok.x-k8s.io/delay` ready that long after it is created (the
//! `pod-ready-delayed` Stage of `e2e/cluster/build.sh`), and the operator reports the time from
//! the replica being wanted to that pod being ready: in the component's status, in its
//! histogram, and in an Event when over the budget. The real node's cold starts are in
//! `flask_faas.rs`.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use serverless_e2e::*;

const TIMEOUT: Duration = Duration::from_secs(120);

/// How long kwok keeps each pod of the app from being ready.
const POD_READY_DELAY: Duration = Duration::from_secs(2);

const APP: &str = r#"
apiVersion: serverless-operator.dev/v1alpha1
kind: ServerlessApp
metadata:
  name: shop
spec:
  image: registry.example/shop:1.0
  master:
    ports: [{name: http, port: 8080}]
    replicas: {min: 1, max: 1}
  workers:
    - name: jobs
      replicas: {min: 1, max: 3}
      resources: {requests: {cpu: 100m}}
      autoscaling: {cpuUtilization: 80}
      podAnnotations: {pod-ready.stage.kwok.x-k8s.io/delay: 2s}
      coldStartBudget: 1500ms
"#;

async fn ready_replicas(deployments: &kube::Api<Deployment>) -> Result<i32, String> {
    let d = deployments
        .get("shop-jobs")
        .await
        .map_err(|e| e.to_string())?;
    Ok(d.status.and_then(|s| s.ready_replicas).unwrap_or(0))
}

#[tokio::test]
async fn a_scale_from_zero_is_timed_to_the_first_ready_pod() {
    let ns = TestNamespace::new("cold-start").await;
    install_crds(&ns.client, false).await;
    let operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, APP);
    ns.wait_ready("shop", TIMEOUT).await;

    // Someone scales the worker to zero (its HPA leaves a Deployment at zero alone) ...
    let deployments = ns.api::<Deployment>();
    let scale = |n: &str| {
        let out = kubectl(&[
            "scale",
            "-n",
            &ns.name,
            "deployment/shop-jobs",
            "--replicas",
            n,
        ]);
        assert!(out.success, "{}", out.stderr);
    };
    scale("0");
    wait_for("shop-jobs at 0 ready", TIMEOUT, || {
        let deployments = deployments.clone();
        async move {
            match ready_replicas(&deployments).await? {
                0 => Ok(()),
                n => Err(format!("{n} ready")),
            }
        }
    })
    .await;
    // The first rollout was not a start from zero: nothing measured yet.
    let before = ns.apps().get("shop").await.expect("app");
    let jobs = |app: &serverless_operator::api::ServerlessApp| {
        app.status
            .as_ref()
            .and_then(|s| s.components.iter().find(|c| c.name == "jobs").cloned())
            .expect("jobs in status")
    };
    assert_eq!(jobs(&before).last_cold_start, None);

    // ... and back to one.
    let wanted = Instant::now();
    scale("1");
    let cold = wait_for("lastColdStart of jobs", TIMEOUT, || {
        let apps = ns.apps();
        async move {
            let app = apps.get("shop").await.map_err(|e| e.to_string())?;
            jobs(&app)
                .last_cold_start
                .ok_or_else(|| "not yet".to_string())
        }
    })
    .await;
    let seen_after = wanted.elapsed();
    let took = Duration::from_millis(cold.milliseconds as u64);
    // Not before kwok let the pod be ready, and not after the test saw it reported.
    assert!(took >= POD_READY_DELAY, "{cold:?}");
    assert!(took <= seen_after, "{cold:?} after {seen_after:?}");
    assert!(cold.over_budget, "{cold:?}");
    eprintln!(
        "cold start: {took:?} (pod ready delay {POD_READY_DELAY:?}, seen after {seen_after:?})"
    );

    let describe = kubectl(&["describe", "serverlessapp", "-n", &ns.name, "shop"]);
    assert!(
        describe.stdout.contains("ColdStartOverBudget")
            && describe.stdout.contains("over its coldStartBudget of 1.5s"),
        "{}",
        describe.stdout
    );
    let (_, metrics) = operator.http_get("/metrics").expect("metrics");
    assert!(
        metrics.contains(
            r#"serverless_operator_cold_start_seconds_count{scaler="HorizontalPodAutoscaler"} 1"#
        ),
        "{metrics}"
    );
}
