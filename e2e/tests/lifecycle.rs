//! An app's life on a real cluster: updates converge, removed children go, hand edits are
//! undone, and deleting the app deletes everything through garbage collection.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;
use serverless_e2e::*;

const TIMEOUT: Duration = Duration::from_secs(120);

const APP: &str = r#"
apiVersion: serverless-operator.dev/v1alpha1
kind: ServerlessApp
metadata:
  name: shop
spec:
  image: registry.example/shop:1.0
  env:
    - {name: MODE, value: blue}
  master:
    ports: [{name: http, port: 8080}]
    resources: {requests: {cpu: 100m}}
    replicas: {min: 1, max: 3}
  workers:
    - name: resize
      replicas: {min: 1, max: 1}
    - name: mail
      ports: [{name: http, port: 8080}]
      replicas: {min: 2, max: 2}
"#;

const UPDATED: &str = r#"
apiVersion: serverless-operator.dev/v1alpha1
kind: ServerlessApp
metadata:
  name: shop
spec:
  image: registry.example/shop:2.0
  env:
    - {name: MODE, value: green}
  master:
    ports: [{name: http, port: 8080}]
    resources: {requests: {cpu: 100m}}
    replicas: {min: 2, max: 2}
  workers:
    - name: resize
      replicas: {min: 1, max: 1}
    - name: search
      replicas: {min: 1, max: 4}
      resources: {requests: {cpu: 100m}}
      autoscaling: {cpuUtilization: 50}
"#;

fn image_and_env(d: &Deployment) -> (String, String) {
    let container = &d.spec.template.spec.as_ref().expect("pod spec").containers[0];
    let env = container.env.clone().unwrap_or_default();
    let mode = env
        .iter()
        .find(|e| e.name == "MODE")
        .and_then(|e| e.value.clone())
        .unwrap_or_default();
    (container.image.clone().unwrap_or_default(), mode)
}

async fn names<K>(api: &Api<K>) -> Vec<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut names: Vec<String> = api
        .list(&ListParams::default().labels("serverless-operator.dev/app=shop"))
        .await
        .expect("list")
        .items
        .iter()
        .map(|o| o.meta().name.clone().unwrap_or_default())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn update_converges_and_removed_children_are_deleted() {
    let ns = TestNamespace::new("update").await;
    install_crds(&ns.client, true).await;
    let _operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, APP);
    ns.wait_ready("shop", TIMEOUT).await;
    let deployments = ns.api::<Deployment>();
    let hpas = ns.api::<HorizontalPodAutoscaler>();
    let services = ns.api::<Service>();
    assert_eq!(
        names(&deployments).await,
        ["shop", "shop-mail", "shop-resize"]
    );
    assert_eq!(names(&hpas).await, ["shop"]);

    kubectl_apply(&ns.name, UPDATED);
    ns.wait_ready("shop", TIMEOUT).await;
    wait_for("children to converge", TIMEOUT, || {
        let (deployments, hpas, services) = (deployments.clone(), hpas.clone(), services.clone());
        async move {
            let seen = (
                names(&deployments).await,
                names(&hpas).await,
                names(&services).await,
            );
            let want = (
                vec![
                    "shop".to_string(),
                    "shop-resize".into(),
                    "shop-search".into(),
                ],
                vec!["shop-search".to_string()],
                vec!["shop".to_string()],
            );
            if seen == want {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        }
    })
    .await;
    for name in ["shop", "shop-resize", "shop-search"] {
        let d = deployments.get(name).await.expect("deployment");
        assert_eq!(
            image_and_env(&d),
            ("registry.example/shop:2.0".into(), "green".into()),
            "{name}"
        );
    }
    // Master went from HPA-scaled to fixed size: the operator owns replicas again.
    assert_eq!(
        deployments.get("shop").await.expect("master").spec.replicas,
        Some(2)
    );
    // The new HPA-scaled worker starts at its minimum, held by the operator until the HPA
    // first scales it (it has no metrics here, so it never does).
    let search = deployments.get("shop-search").await.expect("search");
    assert_eq!(search.spec.replicas, Some(1));
    assert_eq!(replicas_holders(&search), ["serverless-operator"]);
}

/// The field managers whose `managedFields` entry holds `spec.replicas`.
fn replicas_holders(d: &Deployment) -> Vec<String> {
    d.metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer("/f:spec/f:replicas").is_some())
        })
        .filter_map(|m| m.manager.clone())
        .collect()
}

fn pool_app(replicas: &str) -> String {
    format!(
        "
apiVersion: serverless-operator.dev/v1alpha1
kind: ServerlessApp
metadata:
  name: shop
spec:
  image: registry.example/shop:1.0
  master:
    ports: [{{name: http, port: 8080}}]
    replicas: {{min: 1, max: 1}}
  workers:
    - name: pool
      resources: {{requests: {{cpu: 100m}}}}
      replicas: {replicas}
"
    )
}

/// Fixed size -> HPA: the Deployment keeps its replicas through the switch instead of falling
/// back to the default of 1 when the operator stops setting the field.
#[tokio::test]
async fn gaining_an_autoscaler_keeps_the_current_replicas() {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};

    let ns = TestNamespace::new("handover").await;
    install_crds(&ns.client, true).await;
    let _operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, &pool_app("{min: 3, max: 3}"));
    ns.wait_ready("shop", TIMEOUT).await;
    let deployments = ns.api::<Deployment>();
    assert_eq!(
        deployments
            .get("shop-pool")
            .await
            .expect("pool")
            .spec
            .replicas,
        Some(3)
    );

    // Every replicas value the Deployment takes from here on.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let watch = {
        let seen = seen.clone();
        let config = watcher::Config::default().fields("metadata.name=shop-pool");
        let stream = watcher(deployments.clone(), config).applied_objects();
        tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(Ok(d)) = stream.next().await {
                seen.lock().unwrap().push(d.spec.replicas);
            }
        })
    };
    wait_for("the watch to see the Deployment", TIMEOUT, || {
        let seen = seen.clone();
        async move {
            (!seen.lock().unwrap().is_empty())
                .then_some(())
                .ok_or_else(|| "nothing yet".to_string())
        }
    })
    .await;

    kubectl_apply(&ns.name, &pool_app("{min: 2, max: 5}"));
    ns.wait_ready("shop", TIMEOUT).await;
    let hpas = ns.api::<HorizontalPodAutoscaler>();
    wait_for("the pool's HPA", TIMEOUT, || {
        let hpas = hpas.clone();
        async move { hpas.get("shop-pool").await.map_err(|e| e.to_string()) }
    })
    .await;
    // Long enough for the operator's applies and an HPA sync (15 s) to land.
    tokio::time::sleep(Duration::from_secs(20)).await;
    watch.abort();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|r| *r == Some(3)),
        "replicas changed during the switch: {seen:?}"
    );
    // Still the operator's (the HPA has no metrics here, so it never scales), with no write of
    // a second field manager in between.
    assert_eq!(
        replicas_holders(&deployments.get("shop-pool").await.expect("pool")),
        ["serverless-operator"]
    );
}

#[tokio::test]
async fn hand_edits_and_deletions_are_undone() {
    let ns = TestNamespace::new("drift").await;
    install_crds(&ns.client, true).await;
    let _operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, APP);
    ns.wait_ready("shop", TIMEOUT).await;
    let deployments = ns.api::<Deployment>();
    let services = ns.api::<Service>();

    // Someone changes the image with kubectl edit/patch, and deletes a Service.
    let out = kubectl(&[
        "-n",
        &ns.name,
        "set",
        "image",
        "deployment/shop-resize",
        "resize=evil:latest",
    ]);
    assert!(out.success, "{}", out.stderr);
    services
        .delete("shop-mail", &DeleteParams::default())
        .await
        .expect("delete service");
    // And someone removes a label the operator set.
    deployments
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app.kubernetes.io/part-of": null}}})),
        )
        .await
        .expect("patch");

    wait_for("drift undone", TIMEOUT, || {
        let (deployments, services) = (deployments.clone(), services.clone());
        async move {
            let image = image_and_env(
                &deployments
                    .get("shop-resize")
                    .await
                    .map_err(|e| e.to_string())?,
            )
            .0;
            let service = services
                .get_opt("shop-mail")
                .await
                .map_err(|e| e.to_string())?;
            let label = deployments
                .get("shop")
                .await
                .map_err(|e| e.to_string())?
                .metadata
                .labels
                .unwrap_or_default()
                .get("app.kubernetes.io/part-of")
                .cloned();
            if image == "registry.example/shop:1.0"
                && service.is_some()
                && label.as_deref() == Some("shop")
            {
                Ok(())
            } else {
                Err(format!(
                    "image {image}, service {}, label {label:?}",
                    service.is_some()
                ))
            }
        }
    })
    .await;
}

#[tokio::test]
async fn deleting_the_app_deletes_every_child() {
    let ns = TestNamespace::new("delete").await;
    install_crds(&ns.client, true).await;
    let _operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, APP);
    ns.wait_ready("shop", TIMEOUT).await;

    delete_app(&ns, "shop").await;
    let deployments = ns.api::<Deployment>();
    let services = ns.api::<Service>();
    let hpas = ns.api::<HorizontalPodAutoscaler>();
    wait_for("garbage collection", TIMEOUT, || {
        let (deployments, services, hpas) = (deployments.clone(), services.clone(), hpas.clone());
        async move {
            let left = (
                names(&deployments).await,
                names(&services).await,
                names(&hpas).await,
            );
            if left.0.is_empty() && left.1.is_empty() && left.2.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        }
    })
    .await;
}

/// The caches keep no pod template, only a fingerprint of the fields the operator owns: a hand
/// edit deep inside one (a JSON patch, as `kubectl patch --type=json` sends it, and a forced
/// server-side apply by another field manager) is still seen and undone.
#[tokio::test]
async fn a_hand_edit_deep_in_the_pod_template_is_undone() {
    let ns = TestNamespace::new("deep-drift").await;
    install_crds(&ns.client, true).await;
    let _operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, APP);
    ns.wait_ready("shop", TIMEOUT).await;
    let deployments = ns.api::<Deployment>();

    let container = "/spec/template/spec/containers/0";
    let out = kubectl(&[
        "-n",
        &ns.name,
        "patch",
        "deployment/shop",
        "--type=json",
        "-p",
        &json!([
            {"op": "replace", "path": format!("{container}/securityContext/allowPrivilegeEscalation"), "value": true},
            {"op": "replace", "path": format!("{container}/env/0/value"), "value": "red"},
        ])
        .to_string(),
    ]);
    assert!(out.success, "{}", out.stderr);
    let intruder = PatchParams::apply("intruder").force();
    deployments
        .patch(
            "shop-resize",
            &intruder,
            &Patch::Apply(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "spec": {"template": {"spec": {"containers": [
                    {"name": "resize", "securityContext": {"readOnlyRootFilesystem": false}}
                ]}}}
            })),
        )
        .await
        .expect("forced apply");

    wait_for("deep drift undone", TIMEOUT, || {
        let deployments = deployments.clone();
        async move {
            let container =
                |d: Deployment| d.spec.template.spec.expect("pod spec").containers[0].clone();
            let shop = container(deployments.get("shop").await.map_err(|e| e.to_string())?);
            let resize = container(
                deployments
                    .get("shop-resize")
                    .await
                    .map_err(|e| e.to_string())?,
            );
            let escalation = shop
                .security_context
                .and_then(|s| s.allow_privilege_escalation);
            let mode = shop.env.unwrap_or_default()[0].value.clone();
            let read_only = resize
                .security_context
                .and_then(|s| s.read_only_root_filesystem);
            if escalation == Some(false)
                && mode.as_deref() == Some("blue")
                && read_only == Some(true)
            {
                Ok(())
            } else {
                Err(format!(
                    "escalation {escalation:?}, MODE {mode:?}, resize read-only root {read_only:?}"
                ))
            }
        }
    })
    .await;
}

/// What a person reads: the Normal Events of an update, as `kubectl describe` lists them, and
/// the operator's log in JSON, one object per line with the app's fields.
#[tokio::test]
async fn an_update_is_told_in_normal_events_and_json_logs() {
    let ns = TestNamespace::new("events").await;
    install_crds(&ns.client, true).await;
    let operator = Operator::start(&ns, &["--log-format", "json"]).await;
    kubectl_apply(&ns.name, APP);
    ns.wait_ready("shop", TIMEOUT).await;
    kubectl_apply(&ns.name, UPDATED);
    ns.wait_ready("shop", TIMEOUT).await;

    // Applied (the changed children), Deleted (the pruned worker), Ready (the update rolled out).
    let events = ns.api::<k8s_openapi::api::core::v1::Event>();
    let selector = "involvedObject.kind=ServerlessApp,involvedObject.name=shop";
    let seen = wait_for("Normal Events of the update", TIMEOUT, || {
        let events = events.clone();
        async move {
            let list = events
                .list(&ListParams::default().fields(selector))
                .await
                .map_err(|e| e.to_string())?;
            let seen: Vec<(String, String, String)> = list
                .items
                .into_iter()
                .map(|e| {
                    let text = |s: Option<String>| s.unwrap_or_default();
                    (text(e.type_), text(e.reason), text(e.message))
                })
                .collect();
            let has = |reason: &str| seen.iter().any(|(t, r, _)| t == "Normal" && r == reason);
            if has("Applied") && has("Deleted") && has("Ready") {
                Ok(seen)
            } else {
                Err(format!("{seen:?}"))
            }
        }
    })
    .await;
    let message = |reason: &str| {
        seen.iter()
            .find(|(_, r, _)| r == reason)
            .map(|(_, _, m)| m.clone())
            .unwrap_or_default()
    };
    assert!(
        message("Applied").contains("Deployment shop-search"),
        "{seen:?}"
    );
    assert!(
        message("Deleted").contains("Deployment shop-mail"),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|(t, _, _)| t == "Warning"),
        "a clean update raised a Warning: {seen:?}"
    );
    let describe = kubectl(&["describe", "serverlessapp", "-n", &ns.name, "shop"]);
    for reason in ["Applied", "Deleted", "Ready"] {
        assert!(
            describe.stdout.contains(reason),
            "{reason} not in describe: {}",
            describe.stdout
        );
    }

    // Every line of the log is a JSON object; the update's lines carry the app as a field.
    let log = std::fs::read_to_string(&operator.log).expect("operator log");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string()),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l["message"] == "applied"
            && l["app"] == "shop"
            && l["ns"] == ns.name.as_str()
            && l["objects"]
                .as_str()
                .is_some_and(|o| o.contains("shop-search"))),
        "no JSON line for the applied update: {log}"
    );
}

/// `serverless-operator diff -f FILE`: what applying a file would change in the children, read
/// from the cluster; exit 0 when nothing, 1 when something, 2 on error, like `kubectl diff`.
#[tokio::test]
async fn diff_tells_what_applying_a_file_would_change() {
    let ns = TestNamespace::new("diff").await;
    install_crds(&ns.client, true).await;
    let dir = repo().join("target/e2e-logs");
    let file = |name: &str, text: &str| {
        let path = dir.join(format!("{}-{name}.yaml", ns.name));
        std::fs::write(&path, text).expect("write");
        path
    };
    let (app, updated) = (file("app", APP), file("updated", UPDATED));
    let diff = |path: &std::path::Path| {
        let out = std::process::Command::new(env_path("OPERATOR_BIN"))
            .args(["diff", "-n", &ns.name, "-f"])
            .arg(path)
            .env("KUBECONFIG", admin_kubeconfig())
            .output()
            .expect("diff runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Not applied yet: everything would be created.
    let (code, out, err) = diff(&app);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains(&format!("ServerlessApp {}/shop (new)", ns.name)),
        "{out}"
    );
    assert!(out.contains("+ Deployment shop-mail"), "{out}");

    let _operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, APP);
    ns.wait_ready("shop", TIMEOUT).await;
    let deployments = ns.api::<Deployment>();
    let versions = || async {
        let mut v: Vec<_> = deployments
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .into_iter()
            .map(|d| (d.metadata.name, d.metadata.resource_version))
            .collect();
        v.sort();
        v
    };
    let before = versions().await;

    // Applied: nothing to change.
    let (code, out, err) = diff(&app);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("no change"), "{out}");

    // The update: each changed field with both values, what is created, what is pruned.
    let (code, out, err) = diff(&updated);
    assert_eq!(code, Some(1), "{out}{err}");
    for line in [
        "~ Deployment shop\n",
        "spec.template.spec.containers[name=master].image: \"registry.example/shop:1.0\" -> \"registry.example/shop:2.0\"",
        "spec.template.spec.containers[name=master].env[name=MODE].value: \"blue\" -> \"green\"",
        // The operator held the master's starting count while its HPA never scaled.
        "spec.replicas: 1 -> 2",
        "+ Deployment shop-search",
        "+ HorizontalPodAutoscaler shop-search",
        "- Deployment shop-mail",
        "- Service shop-mail",
        "- HorizontalPodAutoscaler shop\n",
    ] {
        assert!(out.contains(line), "{line:?} not in:\n{out}");
    }
    // Read only: nothing was written.
    assert_eq!(versions().await, before);

    // A file the API server would refuse: an error, exit 2.
    let (code, _, err) = diff(&file(
        "bad",
        &APP.replace("min: 1, max: 3", "min: 3, max: 1"),
    ));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("replicas"), "{err}");
}

/// Who owns the replicas: the status names the field manager of each Deployment's
/// `spec.replicas`, and a person scaling an autoscaled component (`kubectl scale`) is shown
/// and told in a Warning Event.
#[tokio::test]
async fn a_person_scaling_an_autoscaled_component_is_reported() {
    let ns = TestNamespace::new("replicas-owner").await;
    install_crds(&ns.client, true).await;
    let _operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, APP);
    let app = ns.wait_ready("shop", TIMEOUT).await;
    let components = app.status.expect("status").components;
    let resize = components
        .iter()
        .find(|c| c.name == "resize")
        .expect("resize");
    assert_eq!(
        resize.replicas_manager.as_deref(),
        Some("serverless-operator"),
        "a fixed size is the operator's: {components:?}"
    );
    assert!(
        !components.iter().any(|c| c.replicas_overridden),
        "{components:?}"
    );

    let out = kubectl(&["-n", &ns.name, "scale", "deployment/shop", "--replicas=3"]);
    assert!(out.success, "{}", out.stderr);
    let apps = ns.apps();
    let master = wait_for("the override in the status", TIMEOUT, || {
        let apps = apps.clone();
        async move {
            let app = apps.get("shop").await.map_err(|e| e.to_string())?;
            let master = app
                .status
                .unwrap_or_default()
                .components
                .into_iter()
                .find(|c| c.name == "master")
                .ok_or("no master status")?;
            if master.replicas_overridden {
                Ok(master)
            } else {
                Err(format!("{master:?}"))
            }
        }
    })
    .await;
    let manager = master.replicas_manager.clone().unwrap_or_default();
    assert!(manager.starts_with("kubectl"), "{master:?}");
    let describe = kubectl(&["describe", "serverlessapp", "-n", &ns.name, "shop"]);
    assert!(
        describe.stdout.contains("ReplicasOverridden")
            && describe.stdout.contains(&format!("set to 3 by {manager}")),
        "{}",
        describe.stdout
    );
}
