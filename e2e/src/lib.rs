//! Fixtures for the end-to-end suite: a namespace per test, the real operator binary running
//! against the cluster as its own ServiceAccount, kubectl as a user would run it, and waits that
//! print what they saw when they time out.
//!
//! Environment: `E2E_KUBECONFIG` (admin kubeconfig of the cluster under test), `OPERATOR_BIN`
//! (the operator binary), `KEDA_CRDS` (directory of KEDA's CRDs), optional `KUBECTL` and
//! `AUDIT_LOG` (the API server's audit log, for write counting); for the real node
//! `CLUSTER_REAL_NODE`, `NODE_NAME`, `CLUSTER_REGISTRY`, `OPERATOR_IMAGE` (the pushed image) and
//! `IMAGE_BINARY` (the image's static binary). `make e2e` sets them all.
//!
//! Pods land on kwok nodes unless a test selects and tolerates the real node
//! (`RealNode::placement()`), which it does only when it needs running containers.
#![forbid(unsafe_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};
use serde_json::json;
use serverless_operator::ServerlessApp;

pub use serverless_operator;
pub use serverless_operator::testing::TestApp;

const MANAGER: &str = "e2e";

/// Root of the repository.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A path the suite is given in the environment (`make e2e` sets them all).
pub fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with `make e2e` (it builds and sets everything)")
    }))
}

/// The admin kubeconfig of the cluster under test.
pub fn admin_kubeconfig() -> PathBuf {
    env_path("E2E_KUBECONFIG")
}

/// kubectl matching the cluster version when the local build is there.
pub fn kubectl_bin() -> PathBuf {
    std::env::var("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let home = std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| {
                    PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache")
                });
            let built = home.join("serverless-operator/bin/current/kubectl");
            if built.exists() {
                built
            } else {
                PathBuf::from("kubectl")
            }
        })
}

/// Admin client of the cluster under test.
pub async fn admin_client() -> Client {
    let kubeconfig = Kubeconfig::read_from(admin_kubeconfig()).expect("readable kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("valid kubeconfig");
    Client::try_from(config).expect("client")
}

/// Output of a command run to completion.
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run kubectl with the admin kubeconfig, as a user would.
pub fn kubectl(args: &[&str]) -> Output {
    kubectl_with(&admin_kubeconfig(), args, None)
}

/// Run kubectl with `kubeconfig`, feeding `stdin` if given.
pub fn kubectl_with(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(kubectl_bin());
    cmd.args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl runs");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("kubectl finishes");
    Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Server-side apply a YAML document (or file) with kubectl; panics with kubectl's output if
/// it fails.
pub fn kubectl_apply(namespace: &str, yaml: &str) {
    let out = kubectl_with(
        &admin_kubeconfig(),
        &[
            "apply",
            "--server-side",
            "--field-manager",
            MANAGER,
            "-n",
            namespace,
            "-f",
            "-",
        ],
        Some(yaml),
    );
    assert!(
        out.success,
        "kubectl apply failed: {}{}",
        out.stdout, out.stderr
    );
}

/// Poll `check` until it returns Some, or panic after `timeout` with the last thing it saw.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Apply the ServerlessApp CRD and KEDA's CRDs (when `with_keda`), and wait until established.
pub async fn install_crds(client: &Client, with_keda: bool) {
    // The admission policy that goes with the CRD (cluster-wide; a no-op when unchanged).
    let policy = repo().join("crds/serverlessapps-admission.yaml");
    let out = kubectl(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager",
        MANAGER,
        "-f",
        policy.to_str().expect("path"),
    ]);
    assert!(out.success, "applying the policy: {}", out.stderr);
    let mut files = vec![repo().join("crds/serverlessapps.serverless-operator.dev.yaml")];
    if with_keda {
        files.extend(keda_crd_files());
    }
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("CRD file");
        let crd: CustomResourceDefinition = serde_saphyr::from_str(&text).expect("CRD YAML");
        let name = crd.name_any();
        api.patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
        wait_for(
            &format!("CRD {name} established"),
            Duration::from_secs(60),
            || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    let crd = api.get(&name).await.map_err(|e| e.to_string())?;
                    let established = crd
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True");
                    established
                        .then_some(())
                        .ok_or_else(|| "not established".to_string())
                }
            },
        )
        .await;
    }
}

/// KEDA's CRD files (ScaledObject, HTTPScaledObject and their siblings).
pub fn keda_crd_files() -> Vec<PathBuf> {
    let dir = env_path("KEDA_CRDS");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// A namespace of its own for one test, deleted when the test ends.
pub struct TestNamespace {
    pub name: String,
    pub client: Client,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestNamespace {
    pub async fn new(test: &str) -> Self {
        let client = admin_client().await;
        let name = format!(
            "e2e-{test}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // Every workload the operator creates in a test must pass Pod Security "restricted".
        let ns: Namespace = serde_json::from_value(json!({"metadata": {
            "name": name,
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
        }}))
        .expect("namespace");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        TestNamespace { name, client }
    }

    pub fn apps(&self) -> Api<ServerlessApp> {
        Api::namespaced(self.client.clone(), &self.name)
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Wait until the app's Ready condition is True for its current generation.
    pub async fn wait_ready(&self, app: &str, timeout: Duration) -> ServerlessApp {
        let apps = self.apps();
        wait_for(
            &format!("ServerlessApp {}/{app} Ready", self.name),
            timeout,
            || {
                let apps = apps.clone();
                async move {
                    let current = apps.get(app).await.map_err(|e| e.to_string())?;
                    let status = current.status.clone().unwrap_or_default();
                    let ready = status.observed_generation == current.metadata.generation
                        && status
                            .conditions
                            .iter()
                            .any(|c| c.type_ == "Ready" && c.status == "True");
                    if ready {
                        Ok(current)
                    } else {
                        Err(serde_json::to_string(&status).unwrap_or_default())
                    }
                }
            },
        )
        .await
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Best effort and non-blocking; a failed test keeps its namespace for inspection.
        if !std::thread::panicking() {
            let _ = kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
        }
    }
}

/// The operator binary running against the cluster, watching one namespace, authenticated as a
/// ServiceAccount of its own. Killed on drop; its log is printed if the test failed.
pub struct Operator {
    process: Option<Child>,
    pub log: PathBuf,
    pub kubeconfig: PathBuf,
    pub username: String,
    /// Its `run` arguments but the metrics address.
    args: Vec<String>,
    log_filter: String,
    /// Port of its /metrics, /livez and /readyz server on 127.0.0.1.
    pub metrics_port: u16,
}

impl Operator {
    /// Start an operator for `namespace` with the given extra `run` arguments.
    pub async fn start(ns: &TestNamespace, extra_args: &[&str]) -> Self {
        let filter = std::env::var("E2E_OPERATOR_LOG").unwrap_or_else(|_| "info".into());
        Self::start_with_log(ns, extra_args, &filter).await
    }

    /// Same, with a `RUST_LOG` filter of its own.
    pub async fn start_with_log(ns: &TestNamespace, extra_args: &[&str], log_filter: &str) -> Self {
        Self::start_as(ns, extra_args, log_filter, OPERATOR_ROLE).await
    }

    /// Same, with the ClusterRole of `role_file` (see [`install_cluster_role`]).
    pub async fn start_as(
        ns: &TestNamespace,
        extra_args: &[&str],
        log_filter: &str,
        role_file: &str,
    ) -> Self {
        let dir = repo().join("target/e2e-logs");
        let (kubeconfig, username) =
            service_account_kubeconfig(&ns.client, &ns.name, OPERATOR_ACCOUNT, role_file, &dir)
                .await;
        let mut args = vec!["--namespace".to_string(), ns.name.clone()];
        args.extend(extra_args.iter().map(|s| s.to_string()));
        Self::launch(
            kubeconfig,
            username,
            args,
            dir.join(format!("{}.log", ns.name)),
            log_filter,
        )
    }

    /// Start `$OPERATOR_BIN run ARGS` authenticated by `kubeconfig` (of `username`), logging to
    /// `log` with the `RUST_LOG` filter `log_filter`.
    pub fn launch(
        kubeconfig: PathBuf,
        username: String,
        args: Vec<String>,
        log: PathBuf,
        log_filter: &str,
    ) -> Self {
        std::fs::create_dir_all(log.parent().expect("log dir")).expect("log dir");
        let mut operator = Operator {
            process: None,
            log,
            kubeconfig,
            username,
            args,
            log_filter: log_filter.to_string(),
            metrics_port: free_port(),
        };
        operator.spawn();
        operator
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    /// Wait until its `/readyz` answers 200 (its caches are full); panics if it exits or takes
    /// longer than `timeout`.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(success) = self.exited() {
                panic!(
                    "operator exited (success: {success}); log: {}",
                    self.log.display()
                );
            }
            if matches!(self.http_get("/readyz"), Ok((200, _))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "operator not ready after {timeout:?}; log: {}",
            self.log.display()
        );
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("operator log");
        let child = Command::new(env_path("OPERATOR_BIN"))
            .arg("run")
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{}", self.metrics_port))
            .args(&self.args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", &self.log_filter)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("operator starts");
        self.process = Some(child);
    }

    /// Kill the operator at once (SIGKILL): nothing gets to finish.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process has exited, and how (`Some(success)`).
    pub fn exited(&mut self) -> Option<bool> {
        let child = self.process.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.success()),
            _ => None,
        }
    }

    /// Start it again with the same settings.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Send SIGTERM and wait up to `timeout` for it to exit; returns whether it exited cleanly.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(mut child) = self.process.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// GET a path of its HTTP server: (status code, body).
    pub fn http_get(&self, path: &str) -> Result<(u16, String), String> {
        http_get(self.metrics_port, path)
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Minimal HTTP/1.0 GET against 127.0.0.1:`port`: (status code, body).
pub fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    http_request(
        &format!("127.0.0.1:{port}"),
        "GET",
        "127.0.0.1",
        path,
        None,
        Duration::from_secs(5),
    )
}

/// Minimal HTTP/1.0 request to `addr` (host:port) with a Host header and an optional JSON body:
/// (status code, body). Enough for the tests' own servers, the sample app and the interceptor.
pub fn http_request(
    addr: &str,
    method: &str,
    host: &str,
    path: &str,
    json: Option<&serde_json::Value>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let body = json.map(|j| j.to_string()).unwrap_or_default();
    let content = if json.is_some() {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\n{content}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("{addr}: {e}"))?;
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad response: {response}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// Wait until the object `name` (any kind: Flux, KEDA, ...) has a `Ready` condition that is
/// True; panics after `timeout` with its last conditions.
pub async fn wait_condition_ready(
    api: &Api<kube::api::DynamicObject>,
    name: &str,
    what: &str,
    timeout: Duration,
) {
    wait_for(what, timeout, || async {
        let object = api.get(name).await.map_err(|e| e.to_string())?;
        let conditions = &object.data["status"]["conditions"];
        let ready = conditions
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        if ready {
            Ok(())
        } else {
            Err(conditions.to_string())
        }
    })
    .await;
}

/// KEDA's processes on this machine (e2e/keda/up.sh) for the life of the value: `operator`,
/// and `http-add-on` (its operator, and with the real node its interceptor and scaler).
/// Stopped on drop.
pub struct Keda;

impl Keda {
    pub fn start(components: &[&str]) -> Keda {
        let status = Command::new(repo().join("e2e/keda/up.sh"))
            .args(components)
            .status()
            .expect("e2e/keda/up.sh runs");
        assert!(status.success(), "e2e/keda/up.sh {components:?} failed");
        Keda
    }

    /// A setting from the env file up.sh writes (ports of the processes), such as
    /// `KEDA_HTTP_PROXY_PORT`.
    pub fn setting(&self, name: &str) -> String {
        let dir = std::env::var("CLUSTER_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo().join(".cache/cluster"));
        let env = std::fs::read_to_string(dir.join("keda/env")).expect("KEDA's env file");
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("{name} is not in KEDA's env file"))
            .trim_matches('"')
            .to_string()
    }
}

impl Drop for Keda {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("e2e/keda/down.sh")).status();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- operator log {} (last 40 lines) ---",
                self.log.display()
            );
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// The name of the operator's ServiceAccount, as config/default names it.
pub const OPERATOR_ACCOUNT: &str = "serverless-operator";

/// The operator's ClusterRole of config/rbac (config/default's).
pub const OPERATOR_ROLE: &str = "config/rbac/role.yaml";
/// The operator's ClusterRole when it acts as the tenant (config/impersonation's).
pub const IMPERSONATING_ROLE: &str = "config/impersonation/role.yaml";

/// Apply the operator's ClusterRole exactly as `config/rbac/role.yaml` defines it; returns its
/// name.
pub async fn install_operator_cluster_role(client: &Client) -> String {
    install_cluster_role(client, OPERATOR_ROLE).await
}

/// Apply the ClusterRole of `file` (relative to the repository), with the rules it defines; a
/// role other than config/rbac's gets a name of its own, so tests using either can run at once.
pub async fn install_cluster_role(client: &Client, file: &str) -> String {
    let text = std::fs::read_to_string(repo().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut role: ClusterRole = serde_saphyr::from_str(&text).expect("ClusterRole YAML");
    if file != OPERATOR_ROLE {
        let dir = file.rsplit('/').nth(1).unwrap_or("other");
        role.metadata.name = Some(format!("{}-{dir}", role.name_any()));
    }
    let name = role.name_any();
    Api::<ClusterRole>::all(client.clone())
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&role),
        )
        .await
        .expect("cluster role");
    name
}

/// A ServiceAccount `name` in `namespace`, bound to the ClusterRole of `role_file` (see
/// [`install_cluster_role`]), and a kubeconfig for it written to `dir`: the admin kubeconfig's
/// cluster (server, CA) with a token from the TokenRequest API as the user. Returns the
/// kubeconfig's path and the account's audit username. Used by the e2e tests' operator and by
/// the benchmark's operator and baseline.
pub async fn service_account_kubeconfig(
    client: &Client,
    namespace: &str,
    name: &str,
    role_file: &str,
    dir: &Path,
) -> (PathBuf, String) {
    let apply = PatchParams::apply(MANAGER).force();
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("sa");
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), namespace);
    accounts
        .patch(name, &apply, &Patch::Apply(&sa))
        .await
        .expect("service account");
    let role = install_cluster_role(client, role_file).await;
    let binding = ClusterRoleBinding {
        metadata: kube::api::ObjectMeta {
            name: Some(format!("{namespace}-{name}")),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: role,
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.into(),
            namespace: Some(namespace.into()),
            ..Default::default()
        }]),
    };
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(&binding.name_any(), &apply, &Patch::Apply(&binding))
        .await
        .expect("cluster role binding");
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: None,
            // Long enough for the benchmark's largest size.
            expiration_seconds: Some(4 * 3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let token = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .expect("token request")
        .status
        .and_then(|s| s.token)
        .expect("token");

    let admin = Kubeconfig::read_from(admin_kubeconfig()).expect("admin kubeconfig");
    let cluster = admin.clusters.first().cloned().expect("a cluster");
    let cluster_name = cluster.name.clone();
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [serde_json::to_value(&cluster).expect("cluster")],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": cluster_name, "user": name, "namespace": namespace}}],
        "current-context": name,
    });
    let path = dir.join(format!("{namespace}-{name}.kubeconfig"));
    std::fs::create_dir_all(dir).expect("dir");
    let yaml = serde_saphyr::to_string(&kubeconfig).expect("kubeconfig yaml");
    std::fs::write(&path, yaml).expect("write kubeconfig");
    (path, format!("system:serviceaccount:{namespace}:{name}"))
}

/// A client authenticated by the kubeconfig at `path`.
pub async fn kubeconfig_client(path: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(path).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

/// Delete with background propagation, ignoring "not found".
pub async fn delete_app(ns: &TestNamespace, name: &str) {
    match ns.apps().delete(name, &DeleteParams::background()).await {
        Ok(_) | Err(kube::Error::Api(_)) => {}
        Err(e) => panic!("deleting {name}: {e}"),
    }
}

/// Read a sample file, namespace-free YAML text.
pub fn sample(name: &str) -> String {
    std::fs::read_to_string(repo().join("samples").join(name)).expect("sample")
}

/// One request recorded in the API server's audit log.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub stage: String,
    pub verb: String,
    pub user: AuditUser,
    /// Whom `user` acted as, when it impersonated someone.
    #[serde(default)]
    pub impersonated_user: Option<AuditUser>,
    #[serde(default)]
    pub object_ref: Option<AuditObject>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct AuditUser {
    pub username: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct AuditObject {
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub subresource: Option<String>,
}

/// The API server's audit log, when the cluster under test is the local one.
pub fn audit_log() -> Option<PathBuf> {
    std::env::var("AUDIT_LOG")
        .ok()
        .map(PathBuf::from)
        .filter(|p| p.exists())
}

/// Current size of the audit log, to read only what comes after.
pub fn audit_offset(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// Write requests (create, update, patch, delete) by `username` logged after `offset`, one per
/// request.
pub fn audit_writes_since(log: &Path, offset: u64, username: &str) -> Vec<AuditEvent> {
    use std::io::{BufRead, Seek, SeekFrom};
    let mut file = std::fs::File::open(log).expect("audit log");
    file.seek(SeekFrom::Start(offset)).expect("seek");
    let mut seen = std::collections::BTreeSet::new();
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<AuditEvent>(&line).ok())
        .filter(|e| e.user.username == username)
        .filter(|e| {
            matches!(
                e.verb.as_str(),
                "create" | "update" | "patch" | "delete" | "deletecollection"
            )
        })
        .filter(|e| seen.insert(e.audit_id.clone()))
        .collect()
}

/// Wait until Deployment `name` has `replicas` ready pods of its current template.
pub async fn wait_deployment_ready(
    api: &Api<k8s_openapi::api::apps::v1::Deployment>,
    name: &str,
    replicas: i32,
    timeout: Duration,
) {
    wait_for(
        &format!("Deployment {name} with {replicas} ready replicas"),
        timeout,
        || async move {
            let d = api.get(name).await.map_err(|e| e.to_string())?;
            let status = d.status.unwrap_or_default();
            if status.ready_replicas == Some(replicas) && status.updated_replicas == Some(replicas)
            {
                Ok(())
            } else {
                Err(format!("{status:?}"))
            }
        },
    )
    .await
}

/// How many Deployments behind `api` run `image` in their first container.
pub async fn deployments_on_image(
    api: &Api<k8s_openapi::api::apps::v1::Deployment>,
    image: &str,
) -> Result<usize, String> {
    let list = api
        .list(&Default::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(list
        .iter()
        .filter(|d| {
            d.spec
                .template
                .spec
                .as_ref()
                .and_then(|p| p.containers.first())
                .and_then(|c| c.image.as_deref())
                == Some(image)
        })
        .count())
}

/// The real worker node of the local cluster (e2e/cluster/node.sh): its name, the registry it
/// pulls from, and the operator image `make e2e` pushed there. None when the cluster has no
/// real node (`CLUSTER_REAL_NODE=0`, or a cluster of `E2E_KUBECONFIG`).
pub struct RealNode {
    pub name: String,
    /// host:port of the OCI registry on loopback.
    pub registry: String,
    /// The operator's image in that registry.
    pub operator_image: String,
}

/// Label and taint of the real node: tests that need running containers select and tolerate
/// it, the rest land on kwok nodes.
pub const REAL_NODE_LABEL: (&str, &str) = ("type", "real");

impl RealNode {
    pub fn from_env() -> Option<RealNode> {
        if std::env::var("CLUSTER_REAL_NODE").ok().as_deref() != Some("1") {
            return None;
        }
        Some(RealNode {
            name: std::env::var("NODE_NAME").ok()?,
            registry: std::env::var("CLUSTER_REGISTRY").ok()?,
            operator_image: std::env::var("OPERATOR_IMAGE").ok()?,
        })
    }

    /// Placement (a ServerlessApp's `placement`, or a pod spec's fields) onto this node.
    pub fn placement() -> serde_json::Value {
        let (key, value) = REAL_NODE_LABEL;
        json!({
            "nodeSelector": {key: value},
            "tolerations": [{"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}],
        })
    }

    /// `image` (in this node's registry) pinned to the digest the registry serves now, so a
    /// rebuilt image under the same tag is pulled again.
    pub fn pinned(&self, image: &str) -> String {
        let crane = std::env::var("CLUSTER_BIN_DIR")
            .map(|d| PathBuf::from(d).join("crane"))
            .expect("CLUSTER_BIN_DIR (the cluster's env file) names where crane is");
        let out = Command::new(crane)
            .args(["digest", "--insecure", image])
            .output()
            .expect("crane runs");
        assert!(
            out.status.success(),
            "no {image} in the registry ({}): `make sample-images` pushes the samples' images",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        format!("{image}@{}", String::from_utf8_lossy(&out.stdout).trim())
    }

    /// The sandbox image every pod starts from: a real, long-running, non-root process.
    pub fn pause_image(&self) -> String {
        format!("{}/pause:3.10", self.registry)
    }

    /// A kustomization installing `config/default` (at `config_default`, relative to the
    /// kustomization's directory) as a user with their own registry would, with the operator
    /// pinned to this node.
    pub fn install_kustomization(&self, config_default: &str) -> String {
        // By digest: the node keeps an image it pulled before under the same tag.
        let pinned = self.pinned(&self.operator_image);
        let (tagged, digest) = pinned.split_once('@').expect("pinned");
        let (name, _tag) = tagged.rsplit_once(':').expect("OPERATOR_IMAGE has a tag");
        let placement = Self::placement();
        let patch = json!([
            {"op": "add", "path": "/spec/template/spec/nodeSelector", "value": placement["nodeSelector"]},
            {"op": "add", "path": "/spec/template/spec/tolerations", "value": placement["tolerations"]},
        ]);
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - {config_default}
images:
  - name: ghcr.io/serverless-operator/serverless-operator
    newName: {name}
    digest: {digest}
patches:
  - target: {{kind: Deployment, name: serverless-operator}}
    patch: '{patch}'
"
        )
    }
}

/// GET a path of the API server with the admin kubeconfig (`kubectl get --raw`), as JSON.
pub fn get_raw(path: &str) -> Result<serde_json::Value, String> {
    let out = kubectl(&["get", "--raw", path]);
    if !out.success {
        return Err(out.stderr);
    }
    serde_json::from_str(&out.stdout).map_err(|e| e.to_string())
}

/// A working copy of a bare repository a loopback git server serves (Flux's, Argo CD's).
pub struct Repo {
    pub dir: PathBuf,
}

impl Repo {
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args([
                "-c",
                "user.name=e2e",
                "-c",
                "user.email=e2e@example.invalid",
            ])
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn write(&self, path: &str, content: &str) {
        let file = self.dir.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, content).expect("write");
    }

    /// Commit everything and push; the new revision.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["push", "-q", "origin", "main"]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// Copy the directory `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Wait until Deployment `name` runs `image` and Deployment `added` exists: a pushed change of
/// an app's image and a new worker, converged.
pub async fn wait_rolled_to(
    deployments: &Api<k8s_openapi::api::apps::v1::Deployment>,
    name: &str,
    image: &str,
    added: &str,
    timeout: Duration,
) {
    wait_for("the change to converge", timeout, || async move {
        let current = deployments.get(name).await.map_err(|e| e.to_string())?;
        let running = current
            .spec
            .template
            .spec
            .and_then(|p| p.containers[0].image.clone())
            .unwrap_or_default();
        let new = deployments
            .get_opt(added)
            .await
            .map_err(|e| e.to_string())?;
        if running == image && new.is_some() {
            Ok(())
        } else {
            Err(format!("image {running}, {added} {}", new.is_some()))
        }
    })
    .await;
}
