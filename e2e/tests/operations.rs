//! Running it like production: health and metrics endpoints, two replicas with leader
//! election, failover when the leader dies, and a graceful SIGTERM that hands the Lease over.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Patch, PatchParams};
use serde_json::json;
use serverless_e2e::*;

const TIMEOUT: Duration = Duration::from_secs(120);

fn app(name: &str, image: &str) -> String {
    TestApp::new(name)
        .image(image)
        .worker("w", 1, json!({}))
        .yaml()
}

/// Grant the test's operator ServiceAccount the leader-election Role of config/rbac, in the
/// test namespace (where the Lease lives).
async fn grant_leases(ns: &TestNamespace) {
    let text = std::fs::read_to_string(repo().join("config/rbac/leader_election_role.yaml"))
        .expect("role file");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("yaml");
    let params = PatchParams::apply("e2e").force();
    for mut doc in docs {
        doc["metadata"]["namespace"] = json!(ns.name);
        match doc["kind"].as_str() {
            Some("Role") => {
                let role: Role = serde_json::from_value(doc).expect("role");
                ns.api::<Role>()
                    .patch(
                        role.metadata.name.as_deref().unwrap_or_default(),
                        &params,
                        &Patch::Apply(&role),
                    )
                    .await
                    .expect("role");
            }
            Some("RoleBinding") => {
                doc["subjects"][0]["namespace"] = json!(ns.name);
                let binding: RoleBinding = serde_json::from_value(doc).expect("binding");
                ns.api::<RoleBinding>()
                    .patch(
                        binding.metadata.name.as_deref().unwrap_or_default(),
                        &params,
                        &Patch::Apply(&binding),
                    )
                    .await
                    .expect("binding");
            }
            _ => {}
        }
    }
}

async fn holder(ns: &TestNamespace) -> Option<String> {
    ns.api::<Lease>()
        .get_opt("serverless-operator")
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

async fn images_converged(ns: &TestNamespace, apps: usize, image: &str) -> Result<(), String> {
    let done = deployments_on_image(&ns.api::<Deployment>(), image).await?;
    if done == apps * 2 {
        Ok(())
    } else {
        Err(format!("{done}/{} Deployments on {image}", apps * 2))
    }
}

#[tokio::test]
async fn health_and_metrics_endpoints() {
    let ns = TestNamespace::new("metrics").await;
    install_crds(&ns.client, true).await;
    let operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, &app("shop", "registry.example/shop:1"));
    ns.wait_ready("shop", TIMEOUT).await;

    assert_eq!(operator.http_get("/livez").map(|r| r.0), Ok(200));
    let ready = wait_for("readyz", Duration::from_secs(30), || async {
        match operator.http_get("/readyz") {
            Ok((200, body)) => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(ready, "ok");
    // The apps gauge is counted from the operator's watch cache, which trails the API server the
    // Ready wait above read: wait for the cache to see the status the operator wrote.
    let ready_gauge = "serverless_operator_apps{condition=\"Ready\",status=\"True\"} 1";
    let metrics = wait_for("the Ready gauge", Duration::from_secs(30), || async {
        match operator.http_get("/metrics") {
            Ok((200, body)) if body.contains(ready_gauge) => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    for expected in [
        "serverless_operator_reconciles_total{result=\"success\"}",
        "serverless_operator_reconcile_duration_seconds_bucket",
        "serverless_operator_api_requests_total{verb=\"patch\"}",
        "serverless_operator_api_requests_total{verb=\"watch\"}",
        "serverless_operator_apps{condition=\"Ready\",status=\"False\"} 0",
        "serverless_operator_leader 1",
    ] {
        assert!(
            metrics.contains(expected),
            "missing `{expected}` in:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn standby_takes_over_when_the_leader_dies_and_on_sigterm() {
    const APPS: usize = 8;
    const LEASE_SECONDS: u64 = 6;
    let ns = TestNamespace::new("leader").await;
    install_crds(&ns.client, true).await;
    let lease_args = [
        "--leader-elect",
        "--lease-namespace",
        &ns.name,
        "--lease-duration-seconds",
        "6",
    ];
    grant_leases(&ns).await;
    let mut a = Operator::start(
        &ns,
        &[&lease_args[..], &["--identity", "replica-a"]].concat(),
    )
    .await;
    let first = wait_for("a leader", TIMEOUT, || async {
        holder(&ns).await.ok_or("none".to_string())
    })
    .await;
    assert_eq!(first, "replica-a");
    let mut b = Operator::start(
        &ns,
        &[&lease_args[..], &["--identity", "replica-b"]].concat(),
    )
    .await;
    let all: String = (0..APPS)
        .map(|i| app(&format!("app-{i}"), "registry.example/app:1"))
        .collect();
    kubectl_apply(&ns.name, &all);
    for i in 0..APPS {
        ns.wait_ready(&format!("app-{i}"), TIMEOUT).await;
    }
    // The standby is ready but not leading.
    let standby_metrics = b.http_get("/metrics").expect("standby metrics").1;
    assert!(
        standby_metrics.contains("serverless_operator_leader 0"),
        "{standby_metrics}"
    );
    assert!(
        !standby_metrics.contains("verb=\"patch\""),
        "the standby wrote: {standby_metrics}"
    );

    // Kill the leader mid-rollout: the standby takes over within the lease duration.
    let all_v2: String = (0..APPS)
        .map(|i| app(&format!("app-{i}"), "registry.example/app:2"))
        .collect();
    kubectl_apply(&ns.name, &all_v2);
    a.kill();
    let killed = Instant::now();
    let next = wait_for("the standby to take over", TIMEOUT, || async {
        match holder(&ns).await {
            Some(h) if h == "replica-b" => Ok(h),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let takeover = killed.elapsed();
    wait_for("rollout to converge", TIMEOUT, || {
        images_converged(&ns, APPS, "registry.example/app:2")
    })
    .await;
    eprintln!(
        "leader killed: {next} took over after {takeover:?}; rollout converged after {:?}",
        killed.elapsed()
    );
    assert!(
        takeover < Duration::from_secs(LEASE_SECONDS * 3),
        "takeover took {takeover:?}"
    );
    let apps = ns.apps().list(&Default::default()).await.expect("apps");
    assert_eq!(apps.items.len(), APPS, "nothing duplicated or lost");

    // A graceful stop releases the Lease, so the next replica does not wait for expiry.
    a.restart(); // comes back as the standby
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopped = Instant::now();
    assert!(
        b.terminate(Duration::from_secs(20)),
        "SIGTERM did not stop the leader cleanly"
    );
    wait_for("replica-a to lead again", TIMEOUT, || async {
        match holder(&ns).await {
            Some(h) if h == "replica-a" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let handover = stopped.elapsed();
    eprintln!("SIGTERM: lease handed over after {handover:?}");
    assert!(
        handover < Duration::from_secs(LEASE_SECONDS),
        "handover took {handover:?}: the lease was not released"
    );
    let all_v3: String = (0..APPS)
        .map(|i| app(&format!("app-{i}"), "registry.example/app:3"))
        .collect();
    kubectl_apply(&ns.name, &all_v3);
    wait_for("new leader reconciles", TIMEOUT, || {
        images_converged(&ns, APPS, "registry.example/app:3")
    })
    .await;
}

#[tokio::test]
async fn a_leader_that_cannot_renew_stops_before_the_standby_takes_over() {
    let ns = TestNamespace::new("renew").await;
    install_crds(&ns.client, true).await;
    grant_leases(&ns).await;
    let lease_args = [
        "--leader-elect",
        "--lease-namespace",
        &ns.name,
        "--lease-duration-seconds",
        "6",
    ];
    let mut a = Operator::start(
        &ns,
        &[&lease_args[..], &["--identity", "replica-a"]].concat(),
    )
    .await;
    wait_for("replica-a to lead", TIMEOUT, || async {
        match holder(&ns).await {
            Some(h) if h == "replica-a" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let _b = Operator::start(
        &ns,
        &[&lease_args[..], &["--identity", "replica-b"]].concat(),
    )
    .await;
    kubectl_apply(&ns.name, &app("app-0", "registry.example/app:1"));
    ns.wait_ready("app-0", TIMEOUT).await;

    // From now on the API server refuses replica-a's renewals (and nothing else of it): the
    // lease manager in replica-a keeps believing it leads; a standby takes over at expiry.
    let policy = format!("e2e-no-renewal-{}", ns.name);
    let out = kubectl_with(
        &admin_kubeconfig(),
        &["apply", "--server-side", "-f", "-"],
        Some(
            &json!([
                {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
                 "metadata": {"name": policy},
                 "spec": {"failurePolicy": "Fail",
                          "matchConstraints": {"resourceRules": [{"apiGroups": ["coordination.k8s.io"],
                              "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["leases"]}]},
                          "validations": [{"expression": "object.spec.?holderIdentity.orValue('') != 'replica-a'",
                                           "message": "renewals of replica-a refused"}]}},
                {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
                 "metadata": {"name": policy},
                 "spec": {"policyName": policy, "validationActions": ["Deny"],
                          "matchResources": {"namespaceSelector": {"matchLabels":
                              {"kubernetes.io/metadata.name": ns.name}}}}},
            ])
            .as_array()
            .expect("objects")
            .iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>()
            .join("\n---\n"),
        ),
    );
    assert!(out.success, "{}", out.stderr);
    let refused = Instant::now();

    // Whichever comes first is recorded; the leader must be gone before the standby leads.
    let (mut a_stopped, mut b_leads) = (None, None);
    while (a_stopped.is_none() || b_leads.is_none()) && refused.elapsed() < TIMEOUT {
        if a_stopped.is_none() && a.exited().is_some() {
            a_stopped = Some(refused.elapsed());
        }
        if b_leads.is_none() && holder(&ns).await.as_deref() == Some("replica-b") {
            b_leads = Some(refused.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = kubectl(&[
        "delete",
        "validatingadmissionpolicy,validatingadmissionpolicybinding",
        &policy,
    ]);
    eprintln!(
        "renewals refused: replica-a stopped after {a_stopped:?}, replica-b led after {b_leads:?}"
    );
    let (Some(stopped), Some(took_over)) = (a_stopped, b_leads) else {
        panic!("replica-a stopped: {a_stopped:?}, replica-b leads: {b_leads:?}");
    };
    assert!(
        stopped < took_over,
        "two writers: replica-a still ran {:?} after replica-b took over",
        stopped - took_over
    );
    assert_eq!(
        a.exited(),
        Some(false),
        "replica-a should exit with an error"
    );
    // The new leader reconciles.
    kubectl_apply(&ns.name, &app("app-0", "registry.example/app:2"));
    wait_for("replica-b reconciles", TIMEOUT, || {
        images_converged(&ns, 1, "registry.example/app:2")
    })
    .await;
}

/// Past 90% of its memory limit the operator stops its controller instead of being killed
/// into a crash loop: it stays up, not ready, and says so in its log and metrics.
#[tokio::test]
async fn past_its_memory_limit_the_operator_stops_reconciling_and_says_so() {
    let ns = TestNamespace::new("memory").await;
    install_crds(&ns.client, false).await;
    kubectl_apply(&ns.name, &app("big", "registry.example/big:1"));
    // Any operator needs more than 4 MiB.
    let mut operator = Operator::start(&ns, &["--memory-limit-mib", "4"]).await;
    let metrics = wait_for("the controller to stop for memory", TIMEOUT, || {
        let got = operator.http_get("/metrics");
        async move {
            match got {
                Ok((200, body))
                    if body
                        .lines()
                        .any(|l| l == "serverless_operator_memory_stopped 1") =>
                {
                    Ok(body)
                }
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "serverless_operator_memory_limit_bytes 4194304"),
        "{metrics}"
    );
    assert!(matches!(operator.http_get("/readyz"), Ok((503, _))));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(operator.exited(), None, "the operator exited");
    let log = std::fs::read_to_string(&operator.log).expect("log");
    assert!(
        log.contains("controller stopped, nothing is reconciled"),
        "{log}"
    );
    // Nothing reconciled: the app has only the API server's default status.
    let app = ns.apps().get("big").await.expect("app");
    assert_eq!(app.status.and_then(|s| s.observed_generation), Some(0));
    // And SIGTERM still ends it cleanly while it waits.
    assert!(operator.terminate(Duration::from_secs(10)), "no clean exit");
}

/// `--namespace-selector`: an app in an unlabelled namespace is left alone; labelling the
/// namespace starts reconciling it within seconds, unlabelling stops it and leaves its children
/// as they are, with no restart either way.
#[tokio::test]
async fn namespaces_are_turned_on_and_off_by_a_label() {
    const LABEL: &str = "serverless-operator.dev/enabled";
    let ns = TestNamespace::new("ns-select").await;
    install_crds(&ns.client, true).await;
    let _operator = Operator::start(&ns, &["--namespace-selector", &format!("{LABEL}=true")]).await;
    kubectl_apply(&ns.name, &app("shop", "registry.example/shop:1"));
    let deployments = ns.api::<Deployment>();

    // Off: nothing is created and no status written.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(deployments.get_opt("shop").await.expect("get").is_none());
    let status = ns
        .apps()
        .get("shop")
        .await
        .expect("app")
        .status
        .unwrap_or_default();
    assert_eq!(status.observed_generation, Some(0), "{status:?}");

    // On: reconciled without a restart.
    let label = |value: &str| {
        let out = kubectl(&["label", "namespace", &ns.name, "--overwrite", value]);
        assert!(out.success, "{}", out.stderr);
        Instant::now()
    };
    let on = label(&format!("{LABEL}=true"));
    ns.wait_ready("shop", TIMEOUT).await;
    eprintln!("Ready {:?} after the label", on.elapsed());

    // Off again: a change of the app is not applied, and its children stay.
    label(&format!("{LABEL}-"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    kubectl_apply(&ns.name, &app("shop", "registry.example/shop:2"));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        images(&deployments, "shop").await,
        "registry.example/shop:1"
    );
    assert!(deployments.get_opt("shop-w").await.expect("get").is_some());

    // On again: the change is applied.
    label(&format!("{LABEL}=true"));
    wait_for("the change applied", TIMEOUT, || {
        let deployments = deployments.clone();
        async move {
            let image = images(&deployments, "shop").await;
            (image == "registry.example/shop:2")
                .then_some(())
                .ok_or(image)
        }
    })
    .await;
}

async fn images(deployments: &kube::Api<Deployment>, name: &str) -> String {
    deployments
        .get(name)
        .await
        .ok()
        .and_then(|d| d.spec.template.spec?.containers.first()?.image.clone())
        .unwrap_or_default()
}
