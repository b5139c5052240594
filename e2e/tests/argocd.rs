//! GitOps for real with Argo CD: its application controller and repo server (e2e/argocd, built
//! from github.com/argoproj/argo-cd/v3) sync a Git repository served on loopback that holds the
//! operator's install (config/default) and the apps. Argo CD is set up as the README tells a
//! user: `config/argocd` (two AppProjects, two Applications, the health check merged into
//! argocd-cm) with its repoURL pointed at that repository. The operator runs as pods on the real
//! node, installed by Argo CD; on a cluster without one, Argo CD's Deployment lands on kwok nodes
//! and the operator runs as a local process beside it.
//!
//! Proves: both Applications Synced / Healthy; each app's health in Argo CD (the Lua check, run
//! by Argo CD) follows its state (Progressing, Healthy with a worker at zero, Degraded when
//! Stalled); the apps stay Synced, with no sync, over several resync periods while the operator,
//! the HPA controller and KEDA write; pushed changes converge, a pushed removal prunes, a hand
//! edit is reverted by self-heal; the operator's path removed from Git and its Application
//! deleted leave the CRD and every app.
//!
//! Needs the local cluster (`E2E_LOCAL_CLUSTER`) and `E2E_ARGOCD=1` (its first run builds Argo
//! CD: about 4 minutes on 2 cores). One test in this binary: Argo CD and the namespaces of
//! config/argocd are cluster-wide.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use serverless_e2e::*;

const TIMEOUT: Duration = Duration::from_secs(180);
/// Seconds between the application controller's resyncs (upstream: 120, with 60 of jitter).
const RESYNC: u64 = 10;
const ARGOCD_NS: &str = "argocd";
/// The namespaces config/argocd names.
const APPS_NS: &str = "serverless-apps";
const OPERATOR_NS: &str = "serverless-operator-system";
/// The Applications of config/argocd.
const OPERATOR_APP: &str = "serverless-operator";
const APPS_APP: &str = "serverless-apps";
/// config/argocd's root Application, which syncs the two above from Git (app of apps).
const ROOT_APP: &str = "serverless";
/// Where the two Applications are in Git.
const CHILD_APPS: &str = "config/argocd/apps/applications.yaml";
/// The repoURL config/argocd ships with, for the user to replace.
const PLACEHOLDER_REPO: &str = "https://git.example.com/platform/serverless.git";
const CRD: &str = "serverlessapps.serverless-operator.dev";
const LEDGER_V2: &str = "ghcr.io/serverless-operator/samples/ledger:3.3.0";

/// Argo CD's processes (e2e/argocd/up.sh) and its git server for the test's duration. On drop,
/// the Applications and projects are deleted (no finalizer: what they synced stays), the
/// processes stopped, and (unless the test failed) the namespaces of config/argocd deleted.
struct ArgoCd;

impl ArgoCd {
    fn start() -> ArgoCd {
        // Restarted, so that it runs with this test's resync period.
        let _ = Command::new(repo().join("e2e/argocd/down.sh")).status();
        let status = Command::new(repo().join("e2e/argocd/up.sh"))
            .env("ARGOCD_APP_RESYNC", RESYNC.to_string())
            .env("ARGOCD_APP_RESYNC_JITTER", "0")
            // Each resource's health in the Application's status, where the test reads it (by
            // default since v3.0 it is kept in Redis, for the API server).
            .env("ARGOCD_CONTROLLER_ARGS", "--persist-resource-health=true")
            .status()
            .expect("e2e/argocd/up.sh runs");
        assert!(status.success(), "e2e/argocd/up.sh failed");
        ArgoCd
    }

    /// Serve the bare repositories under `root`; the base URL.
    fn git_server(&self, root: &Path) -> String {
        let out = Command::new(repo().join("e2e/argocd/git-server.sh"))
            .arg("start")
            .arg(root)
            .output()
            .expect("git server starts");
        assert!(
            out.status.success(),
            "git server: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// The application controller's log, for a failure message.
    fn controller_log_tail() -> String {
        let dir = std::env::var("CLUSTER_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo().join(".cache/cluster"));
        let log = std::fs::read_to_string(dir.join("argocd/argocd-application-controller.log"))
            .unwrap_or_default();
        let lines: Vec<&str> = log.lines().rev().take(30).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for ArgoCd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- Argo CD application controller log (last 30 lines) ---\n{}",
                ArgoCd::controller_log_tail()
            );
        }
        // The root first: it would recreate the others.
        for app in [ROOT_APP, APPS_APP, OPERATOR_APP] {
            let _ = kubectl(&[
                "delete",
                "applications.argoproj.io",
                app,
                "-n",
                ARGOCD_NS,
                "--ignore-not-found",
                "--timeout=60s",
            ]);
        }
        let _ = kubectl(&[
            "delete",
            "appprojects.argoproj.io",
            APPS_APP,
            OPERATOR_APP,
            "serverless-root",
            "-n",
            ARGOCD_NS,
            "--ignore-not-found",
        ]);
        let _ = Command::new(repo().join("e2e/argocd/down.sh"))
            .arg("--all")
            .status();
        // Gone before the next test binary runs: flux.rs and install.rs use these names too.
        if !std::thread::panicking() {
            let _ = kubectl(&[
                "delete",
                "namespace",
                OPERATOR_NS,
                APPS_NS,
                "--ignore-not-found",
                "--timeout=120s",
            ]);
        }
    }
}

/// What Argo CD reports about one Application.
#[derive(Debug, Clone, Default)]
struct AppState {
    sync: String,
    health: String,
    revision: String,
    reconciled_at: String,
    /// When its last sync operation started.
    sync_started_at: String,
    /// When its last sync operation finished: unchanged means no sync ran since.
    synced_at: String,
    /// (kind, name) -> (sync status, health status, health message) of its resources.
    resources: Vec<(String, String, String, String, String)>,
    conditions: String,
}

impl AppState {
    fn synced_healthy(&self, revision: &str) -> bool {
        self.sync == "Synced" && self.health == "Healthy" && self.revision == revision
    }

    /// Health status and message of the resource `kind`/`name`.
    fn health_of(&self, kind: &str, name: &str) -> Option<(&str, &str)> {
        self.resources
            .iter()
            .find(|r| r.0 == kind && r.1 == name)
            .map(|r| (r.3.as_str(), r.4.as_str()))
    }

    fn summary(&self) -> String {
        let resources: Vec<String> = self
            .resources
            .iter()
            .map(|(kind, name, sync, health, message)| {
                format!("{kind}/{name} {sync} {health} {message}")
            })
            .collect();
        format!(
            "{}/{} at {:.7}, reconciled {}, last sync {} - {}; conditions {}; resources [{}]",
            self.sync,
            self.health,
            self.revision,
            self.reconciled_at,
            self.sync_started_at,
            self.synced_at,
            self.conditions,
            resources.join("; ")
        )
    }
}

fn applications(client: &Client) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        ARGOCD_NS,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "argoproj.io",
            "v1alpha1",
            "Application",
        )),
    )
}

async fn app_state(api: &Api<DynamicObject>, name: &str) -> Result<AppState, String> {
    let app = api.get(name).await.map_err(|e| format!("{name}: {e}"))?;
    let status = &app.data["status"];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    Ok(AppState {
        sync: text(&status["sync"]["status"]),
        health: text(&status["health"]["status"]),
        revision: text(&status["sync"]["revision"]),
        reconciled_at: text(&status["reconciledAt"]),
        sync_started_at: text(&status["operationState"]["startedAt"]),
        synced_at: text(&status["operationState"]["finishedAt"]),
        resources: status["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    text(&r["kind"]),
                    text(&r["name"]),
                    text(&r["status"]),
                    text(&r["health"]["status"]),
                    text(&r["health"]["message"]),
                )
            })
            .collect(),
        conditions: status["conditions"].to_string(),
    })
}

/// Wait until `check` holds for the Application `name`; its state then.
async fn wait_app(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    check: impl Fn(&AppState) -> bool,
) -> AppState {
    wait_for(what, TIMEOUT, || async {
        let state = app_state(api, name).await?;
        if check(&state) {
            Ok(state)
        } else {
            Err(state.summary())
        }
    })
    .await
}

/// What `argocd app get --refresh` does: the repo server looks at Git again now, rather than
/// after its revision cache (3 minutes) expires.
async fn refresh(api: &Api<DynamicObject>, name: &str) {
    let patch = json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("refreshing {name}: {e}"));
}

/// The deployments of the apps' namespace whose name starts with `prefix`.
async fn deployments_named(deployments: &Api<Deployment>, prefix: &str) -> Vec<String> {
    deployments
        .list(&Default::default())
        .await
        .map(|l| {
            l.iter()
                .map(|d| d.name_any())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// An app whose pods never get a node: Progressing (the default progress deadline is 10
/// minutes away).
const UNPLACED: &str = "apiVersion: serverless-operator.dev/v1alpha1
kind: ServerlessApp
metadata:
  name: unplaced
spec:
  image: registry.example/unplaced:1
  master:
    ports: [{name: http, port: 8080}]
    replicas: {min: 1, max: 1}
    placement:
      nodeSelector: {e2e.serverless-operator.dev/nowhere: \"true\"}
";

/// An app the operator refuses (a cluster-wide KEDA credential, not lent by default): Stalled.
const BORROWER: &str = "apiVersion: serverless-operator.dev/v1alpha1
kind: ServerlessApp
metadata:
  name: borrower
spec:
  image: registry.example/borrower:1
  master:
    ports: [{name: http, port: 8080}]
    replicas: {min: 1, max: 1}
  workers:
    - name: jobs
      replicas: {min: 0, max: 2}
      triggers:
        - type: cron
          metadata: {timezone: Etc/UTC, start: 0 6 * * *, end: 0 7 * * *, desiredReplicas: \"1\"}
          authenticationRef: {name: shared, kind: ClusterTriggerAuthentication}
";

#[tokio::test]
async fn argocd_syncs_the_install_and_apps_from_git() {
    if std::env::var_os("E2E_LOCAL_CLUSTER").is_none() {
        eprintln!("not on the local cluster: this test runs Argo CD as local processes");
        return;
    }
    if std::env::var("E2E_ARGOCD").as_deref() != Ok("1") {
        eprintln!("E2E_ARGOCD is not 1: skipping the Argo CD test (its first run builds Argo CD)");
        return;
    }
    let client = admin_client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let keda_missing = crds
        .get_opt("scaledobjects.keda.sh")
        .await
        .expect("get CRD")
        .is_none();
    // What a failed run left (it keeps its namespaces for inspection). KEDA's finalizer on a
    // ScaledObject would hold the namespace while KEDA is not running: dropped first.
    let left = kubectl(&["get", "scaledobjects.keda.sh", "-n", APPS_NS, "-o", "name"]);
    for object in left.stdout.lines() {
        let _ = kubectl(&[
            "patch",
            object,
            "-n",
            APPS_NS,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ]);
    }
    for ns in [APPS_NS, OPERATOR_NS] {
        let _ = kubectl(&[
            "delete",
            "namespace",
            ns,
            "--ignore-not-found",
            "--timeout=120s",
        ]);
    }
    let argocd = ArgoCd::start();
    let node = RealNode::from_env();

    // A bare repository on the loopback git server, with the install and two apps.
    let root = repo()
        .join("target/e2e-git")
        .join(format!("argocd-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("git root");
    let url = argocd.git_server(&root);
    let repo_url = format!("{url}/serverless.git");
    let init = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(root.join("serverless.git"))
        .status()
        .expect("git init");
    assert!(init.success());
    let work = Repo {
        dir: root.join("work"),
    };
    let clone = Command::new("git")
        .args(["clone", "-q", &repo_url])
        .arg(&work.dir)
        .status()
        .expect("git clone");
    assert!(clone.success());
    work.git(&["checkout", "-q", "-b", "main"]);
    copy_dir(&repo().join("config"), &work.dir.join("config"));
    copy_dir(&repo().join("crds"), &work.dir.join("crds"));
    work.write("apps/fixed-size.yaml", &sample("fixed-size.yaml"));
    work.write("apps/queue-worker.yaml", &sample("queue-worker.yaml"));
    // The Applications point at the user's repository (and, with the real node, at the install
    // a user with their own registry commits).
    let mut children = std::fs::read_to_string(work.dir.join(CHILD_APPS))
        .expect("applications")
        .replace(PLACEHOLDER_REPO, &repo_url);
    if let Some(node) = &node {
        work.write(
            "install/kustomization.yaml",
            &node.install_kustomization("../config/default"),
        );
        children = children.replace("path: config/default", "path: install");
    }
    work.write(CHILD_APPS, &children);
    let mut revision = work.commit("install the operator and two apps");

    // config/argocd as the README says (`kubectl apply --server-side -k config/argocd`), with
    // the repoURL a user puts there.
    let rendered = kubectl(&[
        "kustomize",
        repo().join("config/argocd").to_str().expect("path"),
    ]);
    assert!(rendered.success, "kubectl kustomize: {}", rendered.stderr);
    let install = rendered.stdout.replace(PLACEHOLDER_REPO, &repo_url);
    let started = Instant::now();
    let out = kubectl_with(
        &admin_kubeconfig(),
        &["apply", "--server-side", "-f", "-"],
        Some(&install),
    );
    assert!(out.success, "applying config/argocd: {}", out.stderr);
    // The apps' namespace comes with the install (the apps' project may not create it).
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    assert!(
        namespaces.get_opt(APPS_NS).await.expect("get").is_some(),
        "`kubectl apply --server-side -k config/argocd` did not create namespace {APPS_NS}"
    );

    // 1. The operator's Application installs the CRD; then (without a real node) the operator
    //    runs beside Argo CD's Deployment of it, which kwok shows as running.
    let crd_ready = wait_for("Argo CD to install the CRD", TIMEOUT, || async {
        let crd = crds.get_opt(CRD).await.map_err(|e| e.to_string())?;
        let established = crd
            .and_then(|c| c.status)
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        established.then_some(()).ok_or("not yet".to_string())
    });
    crd_ready.await;
    let ns = TestNamespace {
        name: APPS_NS.to_string(),
        client: client.clone(),
    };
    let _operator = match node {
        Some(_) => None,
        None => Some(Operator::start(&ns, &[]).await),
    };
    let apps = applications(&client);

    // 2. KEDA missing: the app with a KEDA worker is Stalled, which Argo CD shows as Degraded.
    //    (The suite's earlier tests install KEDA's CRDs: then only on a fresh cluster.)
    if keda_missing {
        let state = wait_app(&apps, APPS_APP, "thumbnails Degraded (KEDA missing)", |s| {
            s.health_of("ServerlessApp", "thumbnails")
                .is_some_and(|(h, m)| h == "Degraded" && m.contains("KedaNotInstalled"))
        })
        .await;
        assert_eq!(state.health, "Degraded", "{}", state.summary());
        eprintln!("argocd: KEDA missing: {}", state.summary());
    }
    // KEDA's operator, writing ScaledObjects' status and the HPAs it scales through.
    let _keda = Keda::start(&["operator"]);

    // 3. Both Applications Synced / Healthy at the commit; the apps Ready, the KEDA worker at zero.
    let operator_done = wait_app(
        &apps,
        OPERATOR_APP,
        "the operator's Application Synced / Healthy",
        |s| s.synced_healthy(&revision),
    )
    .await;
    let operator_at = started.elapsed();
    let apps_done = wait_app(
        &apps,
        APPS_APP,
        "the apps' Application Synced / Healthy",
        |s| s.synced_healthy(&revision),
    )
    .await;
    let apps_at = started.elapsed();
    eprintln!(
        "argocd: operator Synced/Healthy after {operator_at:?}, apps after {apps_at:?}\n  {}\n  {}",
        operator_done.summary(),
        apps_done.summary()
    );
    // Sync waves: the root creates the apps' Application only once the operator's is Healthy,
    // after its sync installed the CRD.
    let apps_created = apps
        .get(APPS_APP)
        .await
        .expect("apps Application")
        .metadata
        .creation_timestamp
        .expect("created")
        .0;
    let operator_synced: jiff::Timestamp = operator_done
        .synced_at
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", operator_done.synced_at));
    eprintln!(
        "argocd: operator synced {operator_synced}, apps' Application created {apps_created}"
    );
    assert!(
        apps_created >= operator_synced,
        "the apps' Application came before the operator's sync finished: {}",
        apps_done.summary()
    );
    for app in ["ledger", "thumbnails"] {
        assert_eq!(
            apps_done.health_of("ServerlessApp", app).map(|h| h.0),
            Some("Healthy"),
            "{}",
            apps_done.summary()
        );
        ns.wait_ready(app, TIMEOUT).await;
    }
    let thumbnails = ns.apps().get("thumbnails").await.expect("thumbnails");
    let resize = thumbnails
        .status
        .unwrap_or_default()
        .components
        .into_iter()
        .find(|c| c.name == "resize")
        .expect("resize component");
    assert_eq!(
        serde_json::to_value(resize.state).expect("state"),
        json!("ScaledToZero"),
        "the resize worker is at zero: {resize:?}"
    );

    // 4. No drift: over several resyncs, with the operator, the HPA controller and KEDA
    //    writing, both stay Synced and Argo CD runs no sync (self-heal would hide a diff).
    let watched = Instant::now();
    let before = [
        app_state(&apps, OPERATOR_APP).await.expect("state"),
        app_state(&apps, APPS_APP).await.expect("state"),
    ];
    let mut reconciles = [0u32; 2];
    let mut last = [
        before[0].reconciled_at.clone(),
        before[1].reconciled_at.clone(),
    ];
    while watched.elapsed() < Duration::from_secs(4 * RESYNC + 5) {
        for (i, name) in [OPERATOR_APP, APPS_APP].into_iter().enumerate() {
            let now = app_state(&apps, name).await.expect("state");
            assert_eq!(
                (now.sync.as_str(), now.health.as_str()),
                ("Synced", "Healthy"),
                "{name} left Synced / Healthy after convergence: {}",
                now.summary()
            );
            assert_eq!(
                now.synced_at,
                before[i].synced_at,
                "{name} was synced again after convergence (a diff self-heal corrected): {}",
                now.summary()
            );
            if now.reconciled_at != last[i] {
                reconciles[i] += 1;
                last[i] = now.reconciled_at.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        reconciles.iter().all(|&n| n >= 3),
        "Argo CD compared each Application at least 3 times: {reconciles:?}"
    );
    eprintln!(
        "argocd: both Synced for {:?}, no sync; comparisons (operator, apps): {reconciles:?}",
        watched.elapsed()
    );

    // 5. A pushed change: a new image, a new worker, and two apps that cannot get Ready: one
    //    whose pods find no node (Progressing), one the operator refuses (Stalled: Degraded).
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
    work.write("apps/unplaced.yaml", UNPLACED);
    work.write("apps/borrower.yaml", BORROWER);
    revision = work.commit("new ledger image, an audit worker, two apps that cannot be Ready");
    refresh(&apps, APPS_APP).await;
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
    let state = wait_app(
        &apps,
        APPS_APP,
        "health per app: ledger, thumbnails Healthy; unplaced Progressing; borrower Degraded",
        |s| {
            s.sync == "Synced"
                && s.revision == revision
                && s.health_of("ServerlessApp", "ledger").map(|h| h.0) == Some("Healthy")
                && s.health_of("ServerlessApp", "thumbnails").map(|h| h.0) == Some("Healthy")
                // Progressing as the operator reports it (not for want of a status).
                && s.health_of("ServerlessApp", "unplaced").is_some_and(|(h, m)| {
                    h == "Progressing" && !m.contains("Waiting for the operator")
                })
                && s.health_of("ServerlessApp", "borrower").map(|h| h.0) == Some("Degraded")
        },
    )
    .await;
    assert_eq!(state.health, "Degraded", "{}", state.summary());
    eprintln!(
        "argocd: a pushed change converged in {:?}: {}",
        changed.elapsed(),
        state.summary()
    );

    // 6. A hand edit of an app's spec: self-heal puts Git's back.
    let healed = Instant::now();
    let out = kubectl(&[
        "patch",
        "serverlessapp",
        "ledger",
        "-n",
        APPS_NS,
        "--type=merge",
        "-p",
        r#"{"spec":{"master":{"replicas":{"min":3,"max":3}}}}"#,
    ]);
    assert!(out.success, "hand edit: {}", out.stderr);
    let app_api = ns.apps();
    wait_for("self-heal to revert the hand edit", TIMEOUT, || {
        let app_api = app_api.clone();
        async move {
            let ledger = app_api.get("ledger").await.map_err(|e| e.to_string())?;
            let replicas =
                serde_json::to_value(&ledger.spec).unwrap_or_default()["master"]["replicas"]
                    .clone();
            if replicas == json!({"min": 2, "max": 2}) {
                Ok(())
            } else {
                Err(replicas.to_string())
            }
        }
    })
    .await;
    eprintln!("argocd: a hand edit reverted in {:?}", healed.elapsed());

    // 7. A pushed removal: Argo CD prunes the apps, and their children go with them.
    let removed = Instant::now();
    for file in ["queue-worker.yaml", "unplaced.yaml", "borrower.yaml"] {
        std::fs::remove_file(work.dir.join("apps").join(file)).expect("rm");
    }
    revision = work.commit("retire thumbnails and the two broken apps");
    refresh(&apps, APPS_APP).await;
    let app_api = ns.apps();
    wait_for(
        "Argo CD to prune the apps and GC their children",
        TIMEOUT,
        || {
            let (app_api, deployments) = (app_api.clone(), deployments.clone());
            async move {
                let mut left = Vec::new();
                for name in ["thumbnails", "unplaced", "borrower"] {
                    if app_api
                        .get_opt(name)
                        .await
                        .map_err(|e| e.to_string())?
                        .is_some()
                    {
                        left.push(name.to_string());
                    }
                    left.extend(deployments_named(&deployments, name).await);
                }
                left.is_empty().then_some(()).ok_or(format!("{left:?}"))
            }
        },
    )
    .await;
    let state = wait_app(
        &apps,
        APPS_APP,
        "apps Synced / Healthy after the prune",
        |s| s.synced_healthy(&revision),
    )
    .await;
    eprintln!(
        "argocd: a removal was pruned in {:?}: {}",
        removed.elapsed(),
        state.summary()
    );

    // 8. The operator's path removed from Git: Argo CD cannot render it and prunes nothing.
    std::fs::remove_dir_all(work.dir.join("config/default")).expect("rm");
    if node.is_some() {
        std::fs::remove_dir_all(work.dir.join("install")).expect("rm");
    }
    work.commit("remove the operator's path");
    refresh(&apps, OPERATOR_APP).await;
    let state = wait_app(
        &apps,
        OPERATOR_APP,
        "the operator's Application to see its path gone",
        |s| s.conditions.contains("ComparisonError") || s.sync == "Unknown",
    )
    .await;
    eprintln!("argocd: operator path removed: {}", state.summary());
    let operator_deployments: Api<Deployment> = Api::namespaced(client.clone(), OPERATOR_NS);
    tokio::time::sleep(Duration::from_secs(RESYNC)).await;
    assert!(
        crds.get_opt(CRD).await.expect("get CRD").is_some(),
        "the CRD went with the operator's path"
    );
    assert!(
        operator_deployments
            .get_opt("serverless-operator")
            .await
            .expect("get")
            .is_some(),
        "Argo CD pruned the operator when its path could not be rendered"
    );

    // 9. The operator's Application removed from Git, with cascade (its resources finalizer):
    //    the root prunes it and Argo CD deletes the operator, but never the CRD (Delete=false),
    //    so every app stays.
    let patch = json!({"metadata": {"finalizers": ["resources-finalizer.argocd.argoproj.io"]}});
    apps.patch(OPERATOR_APP, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("finalizer");
    let only_apps: Vec<&str> = children
        .split("\n---\n")
        .filter(|doc| doc.contains(&format!("name: {APPS_APP}\n")))
        .collect();
    assert_eq!(only_apps.len(), 1, "{children}");
    work.write(CHILD_APPS, only_apps[0]);
    work.commit("remove the operator's Application");
    refresh(&apps, ROOT_APP).await;
    wait_for("Argo CD to delete the operator", TIMEOUT, || {
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
    assert!(
        crds.get_opt(CRD).await.expect("get CRD").is_some(),
        "Argo CD deleted the CRD, and with it every ServerlessApp"
    );
    assert!(app_api.get_opt("ledger").await.expect("get").is_some());
    assert!(deployments.get_opt("ledger").await.expect("get").is_some());
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(client.clone());
    assert!(
        roles
            .get_opt("serverlessapps-editor")
            .await
            .expect("get role")
            .is_some(),
        "Argo CD deleted the editor role the apps' tenants hold"
    );
    eprintln!("argocd: all done in {:?}", started.elapsed());
}
