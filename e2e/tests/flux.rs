//! GitOps for real: Flux's source- and kustomize-controller (e2e/flux) reconcile a Git
//! repository served on loopback that holds the operator install (config/default, with the
//! image from the local registry) and two apps; the operator runs as pods on the real node,
//! installed by Flux (as a local process when the cluster has no real node). Commits change and
//! remove apps; the cluster follows, and the apps never drift from what is committed.
//!
//! One test in this binary: it runs cluster-wide Flux controllers for its duration.

use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, ResourceExt};
use serde_json::json;
use serverless_e2e::*;

const TIMEOUT: Duration = Duration::from_secs(180);

/// Flux controllers and the git server for the test's duration. Flux objects carry finalizers,
/// so they are deleted while the controllers still run, then everything is stopped.
struct Flux {
    objects: Vec<(GroupVersionKind, String)>,
}

impl Flux {
    fn start() -> Flux {
        let status = Command::new(repo().join("e2e/flux/up.sh"))
            .status()
            .expect("e2e/flux/up.sh runs");
        assert!(status.success(), "e2e/flux/up.sh failed");
        Flux {
            objects: Vec::new(),
        }
    }
}

impl Drop for Flux {
    fn drop(&mut self) {
        for (gvk, name) in self.objects.iter().rev() {
            let kind = format!("{}.{}", gvk.kind.to_lowercase(), gvk.group);
            let _ = kubectl(&[
                "delete",
                &kind,
                name,
                "-n",
                "flux-system",
                "--ignore-not-found",
                "--timeout=60s",
            ]);
        }
        let _ = Command::new(repo().join("e2e/flux/down.sh"))
            .arg("--all")
            .status();
    }
}

fn gvk_of(value: &serde_json::Value) -> GroupVersionKind {
    let api_version = value["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, value["kind"].as_str().unwrap_or_default())
}

/// Ask Flux to reconcile now rather than at its next interval (what `flux reconcile` does).
async fn nudge(client: &kube::Client, objects: &[(GroupVersionKind, String)]) {
    let now = reconcile_marker();
    for (gvk, name) in objects {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), "flux-system", &ApiResource::from_gvk(gvk));
        let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": now}}});
        let _ = api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await;
    }
}

fn reconcile_marker() -> String {
    format!("{:?}", std::time::SystemTime::now())
}

const LEDGER_V2: &str = "ghcr.io/serverless-operator/samples/ledger:3.3.0";

#[tokio::test]
async fn flux_applies_updates_and_prunes_apps_from_git() {
    if std::env::var_os("E2E_LOCAL_CLUSTER").is_none() {
        eprintln!("not on the local cluster: this test runs Flux's controllers as local processes");
        return;
    }
    let ns = TestNamespace::new("flux").await;
    install_crds(&ns.client, true).await;
    let mut flux = Flux::start();
    let node = RealNode::from_env();
    let _operator = match node {
        Some(_) => None,
        None => Some(Operator::start(&ns, &[]).await),
    };

    // A bare repository on the loopback git server, with the install and two apps.
    let root = repo().join("target/e2e-git").join(&ns.name);
    std::fs::create_dir_all(&root).expect("git root");
    let out = Command::new(repo().join("e2e/flux/git-server.sh"))
        .arg("start")
        .arg(&root)
        .output()
        .expect("git server starts");
    assert!(
        out.status.success(),
        "git server: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    let bare = root.join("serverless.git");
    let init = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(&bare)
        .status()
        .expect("git init");
    assert!(init.success());
    let work = Repo {
        dir: root.join("work"),
    };
    let clone = Command::new("git")
        .args(["clone", "-q", &format!("{url}/serverless.git")])
        .arg(&work.dir)
        .status()
        .expect("git clone");
    assert!(clone.success());
    work.git(&["checkout", "-q", "-b", "main"]);
    copy_dir(&repo().join("config"), &work.dir.join("config"));
    copy_dir(&repo().join("crds"), &work.dir.join("crds"));
    work.write(
        "apps/kustomization.yaml",
        "resources: [fixed-size.yaml, queue-worker.yaml]\n",
    );
    work.write("apps/fixed-size.yaml", &sample("fixed-size.yaml"));
    work.write("apps/queue-worker.yaml", &sample("queue-worker.yaml"));
    // The install as a user with their own registry commits it: config/default, image overridden.
    if let Some(node) = &node {
        work.write(
            "install/kustomization.yaml",
            &node.install_kustomization("../config/default"),
        );
    }
    work.commit("install the operator and two apps");

    // Flux's objects are the committed config/flux, pointed at this repository and namespace.
    // tenant.yaml: the account the apps are applied as, with its binding in this namespace.
    let tenant = std::fs::read_to_string(repo().join("config/flux/tenant.yaml")).expect("tenant");
    for mut object in serde_saphyr::from_multiple::<serde_json::Value>(&tenant).expect("yaml") {
        match object["kind"].as_str() {
            Some("ServiceAccount") => kubectl_apply("flux-system", &object.to_string()),
            Some("RoleBinding") => {
                object["metadata"]
                    .as_object_mut()
                    .expect("metadata")
                    .remove("namespace");
                kubectl_apply(&ns.name, &object.to_string());
            }
            _ => {}
        }
    }
    let started = Instant::now();
    for file in ["source.yaml", "operator.yaml", "apps.yaml"] {
        let text =
            std::fs::read_to_string(repo().join("config/flux").join(file)).expect("config/flux");
        let mut object: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
        match object["kind"].as_str() {
            Some("GitRepository") => {
                object["spec"]["url"] = json!(format!("{url}/serverless.git"));
                object["spec"]["interval"] = json!("10s");
            }
            Some("Kustomization") => {
                object["spec"]["interval"] = json!("10s");
                if object["metadata"]["name"] == "serverless-apps" {
                    object["spec"]["targetNamespace"] = json!(ns.name);
                }
                if object["metadata"]["name"] == "serverless-operator" && node.is_some() {
                    object["spec"]["path"] = json!("./install");
                }
            }
            _ => {}
        }
        let gvk = gvk_of(&object);
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let api: Api<DynamicObject> = Api::namespaced_with(
            ns.client.clone(),
            "flux-system",
            &ApiResource::from_gvk(&gvk),
        );
        api.patch(
            &name,
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {name}: {e}"));
        flux.objects.push((gvk, name));
    }

    // 1. Flux applies the install and the apps; the apps become Ready.
    for app in ["ledger", "thumbnails"] {
        ns.wait_ready(app, TIMEOUT).await;
    }
    let kustomizations: Api<DynamicObject> = Api::namespaced_with(
        ns.client.clone(),
        "flux-system",
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
        )),
    );
    wait_condition_ready(
        &kustomizations,
        "serverless-apps",
        "Flux to report the apps healthy",
        TIMEOUT,
    )
    .await;
    let out = kubectl(&["get", "serverlessapps", "-n", &ns.name]);
    eprintln!(
        "flux: apps Ready {:?} after the Flux objects were applied\n{}",
        started.elapsed(),
        out.stdout
    );

    // 2. A commit changes an image and adds a worker; the cluster converges.
    let changed = Instant::now();
    work.write(
        "apps/fixed-size.yaml",
        &sample("fixed-size.yaml").replace("ledger:3.2.0", "ledger:3.3.0"),
    );
    work.write(
        "apps/queue-worker.yaml",
        &format!(
            "{}    - name: audit\n      replicas: {{min: 1, max: 1}}\n",
            sample("queue-worker.yaml")
        ),
    );
    work.commit("new ledger image, an audit worker for thumbnails");
    nudge(&ns.client, &flux.objects).await;
    let deployments = ns.api::<Deployment>();
    wait_rolled_to(
        &deployments,
        "ledger",
        LEDGER_V2,
        "thumbnails-audit",
        TIMEOUT,
    )
    .await;
    ns.wait_ready("ledger", TIMEOUT).await;
    ns.wait_ready("thumbnails", TIMEOUT).await;
    eprintln!("flux: a pushed change converged in {:?}", changed.elapsed());

    // 4. No drift: what is committed applies as a no-op, and only Flux owns the apps' spec.
    for file in ["fixed-size.yaml", "queue-worker.yaml"] {
        let committed =
            std::fs::read_to_string(work.dir.join("apps").join(file)).expect("committed app");
        let out = kubectl_with(
            &admin_kubeconfig(),
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager=drift-check",
                "-n",
                &ns.name,
                "-o",
                "json",
                "-f",
                "-",
            ],
            Some(&committed),
        );
        assert!(
            out.success,
            "dry-run of committed {file} conflicts with the live app: {}",
            out.stderr
        );
        let dry: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        let name = dry["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let live = ns.apps().get(&name).await.expect("live app");
        assert_eq!(
            dry["metadata"]["generation"],
            json!(live.metadata.generation),
            "{file}: the committed spec would change {name}"
        );
        assert_eq!(
            dry["spec"],
            serde_json::to_value(&live.spec).expect("spec"),
            "{file}: spec drifted"
        );
        for entry in live.metadata.managed_fields.iter().flatten() {
            let fields = entry
                .fields_v1
                .as_ref()
                .map(|f| f.0.to_string())
                .unwrap_or_default();
            let manager = entry.manager.clone().unwrap_or_default();
            if fields.contains("\"f:spec\"") {
                assert_eq!(
                    manager, "kustomize-controller",
                    "{name}: spec fields owned by {manager}"
                );
            }
            if manager == "serverless-operator" {
                assert_eq!(
                    entry.subresource.as_deref(),
                    Some("status"),
                    "{name}: the operator wrote outside status"
                );
            }
        }
    }

    // 3. A commit removes an app; Flux prunes it and its children go with it.
    let removed = Instant::now();
    std::fs::remove_file(work.dir.join("apps/queue-worker.yaml")).expect("rm");
    work.write("apps/kustomization.yaml", "resources: [fixed-size.yaml]\n");
    work.commit("retire thumbnails");
    nudge(&ns.client, &flux.objects).await;
    let apps = ns.apps();
    wait_for("Flux to prune the app and GC its children", TIMEOUT, || {
        let (apps, deployments) = (apps.clone(), deployments.clone());
        async move {
            let app = apps
                .get_opt("thumbnails")
                .await
                .map_err(|e| e.to_string())?;
            let left: Vec<String> = deployments
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .map(|d| d.name_any())
                .filter(|n| n.starts_with("thumbnails"))
                .collect();
            if app.is_none() && left.is_empty() {
                Ok(())
            } else {
                Err(format!("app {}, {left:?}", app.is_some()))
            }
        }
    })
    .await;
    eprintln!("flux: a removal was pruned in {:?}", removed.elapsed());
    ns.wait_ready("ledger", TIMEOUT).await;

    // 3b. The apps path reaches nothing beyond ServerlessApps in their namespace: a committed
    //     ClusterRoleBinding is refused (Flux applies as the tenant account) and never exists.
    work.write(
        "apps/escalate.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n\
         metadata: {name: e2e-flux-escalate}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n\
         subjects: [{kind: User, name: mallory, apiGroup: rbac.authorization.k8s.io}]\n",
    );
    work.write(
        "apps/kustomization.yaml",
        "resources: [fixed-size.yaml, escalate.yaml]\n",
    );
    work.commit("try to escalate through the apps path");
    nudge(&ns.client, &flux.objects).await;
    let refused = wait_for("Flux to refuse the ClusterRoleBinding", TIMEOUT, || {
        let kustomizations = kustomizations.clone();
        async move {
            let object = kustomizations
                .get("serverless-apps")
                .await
                .map_err(|e| e.to_string())?;
            let conditions = &object.data["status"]["conditions"];
            conditions
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| {
                    c["type"] == "Ready"
                        && c["status"] == "False"
                        && c["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("forbidden"))
                })
                .map(|c| c["message"].to_string())
                .ok_or_else(|| conditions.to_string())
        }
    })
    .await;
    assert!(refused.contains("serverless-apps-flux"), "{refused}");
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(ns.client.clone());
    assert!(
        bindings
            .get_opt("e2e-flux-escalate")
            .await
            .expect("get")
            .is_none(),
        "the apps path created a ClusterRoleBinding"
    );
    std::fs::remove_file(work.dir.join("apps/escalate.yaml")).expect("rm");
    work.write("apps/kustomization.yaml", "resources: [fixed-size.yaml]\n");
    work.commit("back to the apps");
    nudge(&ns.client, &flux.objects).await;
    wait_condition_ready(
        &kustomizations,
        "serverless-apps",
        "Flux to apply the apps again",
        TIMEOUT,
    )
    .await;

    // 5. Deleting the operator's Kustomization prunes the operator but never the CRD, so the
    //    apps (and their children) stay.
    let out = kubectl(&[
        "delete",
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "serverless-operator",
        "-n",
        "flux-system",
        "--timeout=120s",
    ]);
    assert!(out.success, "deleting the Kustomization: {}", out.stderr);
    let operator_deployments: Api<Deployment> =
        Api::namespaced(ns.client.clone(), "serverless-operator-system");
    wait_for("Flux to prune the operator", TIMEOUT, || {
        let deployments = operator_deployments.clone();
        async move {
            match deployments.get_opt("serverless-operator").await {
                Ok(None) => Ok(()),
                Ok(Some(_)) => Err("operator Deployment still there".to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
    })
    .await;
    let crds: Api<CustomResourceDefinition> = Api::all(ns.client.clone());
    assert!(
        crds.get_opt("serverlessapps.serverless-operator.dev")
            .await
            .expect("get CRD")
            .is_some(),
        "Flux pruned the CRD, and with it every ServerlessApp"
    );
    assert!(apps.get_opt("ledger").await.expect("get app").is_some());
    assert!(deployments.get_opt("ledger").await.expect("get").is_some());
    // The apps' tenant keeps its role, so Flux can still manage (and finally prune) the apps.
    let roles: Api<ClusterRole> = Api::all(ns.client.clone());
    assert!(
        roles
            .get_opt("serverlessapps-editor")
            .await
            .expect("get role")
            .is_some(),
        "Flux pruned the editor role the apps' tenant holds"
    );
}
