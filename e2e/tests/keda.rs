//! KEDA's real CRDs: without them an app reports which CRD is missing while the rest of it is
//! reconciled; once they are installed, the operator picks them up by itself and its
//! ScaledObjects and HTTPScaledObjects are accepted and owned; removed again, the apps report it.
//!
//! One test in this binary on purpose: it removes and installs cluster-wide CRDs.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::DeleteParams;
use kube::{Api, ResourceExt};
use serverless_e2e::serverless_operator::children::{HTTPScaledObject, ScaledObject};
use serverless_e2e::*;

const TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test]
async fn missing_keda_is_reported_and_recovered_from() {
    let admin = admin_client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    remove_keda_crds(&crds).await;

    let ns = TestNamespace::new("keda").await;
    install_crds(&ns.client, false).await;
    let _operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, &sample("queue-worker.yaml"));
    kubectl_apply(&ns.name, &sample("hello-function.yaml"));

    // The clear condition, naming the CRD.
    let apps = ns.apps();
    wait_keda_missing(&apps).await;
    // ...while the rest of the app is reconciled.
    let deployments = ns.api::<Deployment>();
    for name in ["thumbnails", "thumbnails-resize", "hello", "hello-greet"] {
        deployments
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("Deployment {name}: {e}"));
    }
    let out = kubectl(&["describe", "serverlessapp", "-n", &ns.name, "thumbnails"]);
    assert!(
        out.stdout.contains("KedaNotInstalled"),
        "no Event in describe: {}",
        out.stdout
    );

    // KEDA arrives: the operator notices without a restart.
    install_crds(&ns.client, true).await;
    let thumbnails = ns.wait_ready("thumbnails", TIMEOUT).await;
    let hello = ns.wait_ready("hello", TIMEOUT).await;
    let scaled = ns
        .api::<ScaledObject>()
        .get("thumbnails-resize")
        .await
        .expect("ScaledObject");
    assert_eq!(controller_uid(scaled.owner_references()), thumbnails.uid());
    assert_eq!(scaled.spec.min_replica_count, Some(0));
    let http = ns
        .api::<HTTPScaledObject>()
        .get("hello-greet")
        .await
        .expect("HTTPScaledObject");
    assert_eq!(controller_uid(http.owner_references()), hello.uid());
    assert_eq!(http.spec.hosts, ["hello.example.com"]);

    // KEDA removed under running apps: they say so at once instead of staying Ready.
    remove_keda_crds(&crds).await;
    wait_keda_missing(&apps).await;
    install_crds(&ns.client, true).await;
    ns.wait_ready("thumbnails", TIMEOUT).await;
}

/// Wait until both sample apps are Stalled with KedaNotInstalled naming their CRD.
async fn wait_keda_missing(apps: &Api<serverless_e2e::serverless_operator::ServerlessApp>) {
    for (app, crd) in [
        ("thumbnails", "scaledobjects.keda.sh"),
        ("hello", "httpscaledobjects.http.keda.sh"),
    ] {
        wait_for(&format!("{app} to report KEDA missing"), TIMEOUT, || {
            let apps = apps.clone();
            async move {
                let status = apps
                    .get(app)
                    .await
                    .map_err(|e| e.to_string())?
                    .status
                    .unwrap_or_default();
                let stalled = status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Stalled" && c.status == "True");
                match stalled {
                    Some(c) if c.reason == "KedaNotInstalled" && c.message.contains(crd) => Ok(()),
                    _ => Err(format!("{:?}", status.conditions)),
                }
            }
        })
        .await;
    }
}

/// Delete KEDA's ScaledObject and HTTPScaledObject CRDs and wait until they are gone.
async fn remove_keda_crds(crds: &Api<CustomResourceDefinition>) {
    // KEDA's finalizer stays on ScaledObjects whose KEDA is gone (a stopped run, say), and would
    // hold their CRD in Terminating forever: strip it from leftovers first.
    for kind in ["scaledobjects.keda.sh", "httpscaledobjects.http.keda.sh"] {
        let out = kubectl(&[
            "get",
            kind,
            "-A",
            "-o",
            "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}",
        ]);
        for object in out.stdout.split_whitespace() {
            let Some((namespace, name)) = object.split_once('/') else {
                continue;
            };
            let _ = kubectl(&[
                "patch",
                kind,
                name,
                "-n",
                namespace,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ]);
        }
    }
    for name in ["scaledobjects.keda.sh", "httpscaledobjects.http.keda.sh"] {
        let _ = crds.delete(name, &DeleteParams::default()).await;
    }
    wait_for("KEDA CRDs gone", TIMEOUT, || {
        let crds = crds.clone();
        async move {
            let left: Vec<String> = crds
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .map(|c| c.name_any())
                .filter(|n| n.ends_with("keda.sh"))
                .filter(|n| n.starts_with("scaledobjects") || n.starts_with("httpscaledobjects"))
                .collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        }
    })
    .await;
}

fn controller_uid(
    refs: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference],
) -> Option<String> {
    refs.iter()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.clone())
}
