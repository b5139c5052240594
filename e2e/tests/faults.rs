//! Faults on the real control plane: the API server and etcd restarted under a running
//! operator, a flood of updates to one app, admission policies refusing one app's children (at
//! once for good, or again on the retry), a webhook answering as an overloaded server, and pods
//! that never start. Each reports how long
//! recovery or the report took.
//!
//! One binary, tests run one at a time (`--test-threads` does not matter: the outage test holds
//! a lock), because stopping the API server disturbs everything else.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use serverless_e2e::*;
use tokio::sync::Mutex;

const TIMEOUT: Duration = Duration::from_secs(180);

/// The outage test stops the shared API server; the others wait for it.
static OUTAGE: Mutex<()> = Mutex::const_new(());

fn app(name: &str, image: &str, mode: &str) -> String {
    TestApp::new(name)
        .image(image)
        .env("MODE", mode)
        .worker("w", 1, json!({}))
        .yaml()
}

fn cluster_script(script: &str, args: &[&str]) {
    let status = Command::new(repo().join("e2e/cluster").join(script))
        .args(args)
        .status()
        .expect("cluster script runs");
    assert!(status.success(), "e2e/cluster/{script} {args:?} failed");
}

#[tokio::test]
async fn api_server_and_etcd_restart_under_a_running_operator() {
    if std::env::var_os("E2E_LOCAL_CLUSTER").is_none() {
        eprintln!(
            "not on the local cluster: this test restarts the local control plane (make e2e sets it)"
        );
        return;
    }
    let _outage = OUTAGE.lock().await;
    let ns = TestNamespace::new("outage").await;
    install_crds(&ns.client, true).await;
    let mut operator = Operator::start(&ns, &[]).await;
    let apps: String = (0..5)
        .map(|i| app(&format!("app-{i}"), "registry.example/app:1", "a"))
        .collect();
    kubectl_apply(&ns.name, &apps);
    for i in 0..5 {
        ns.wait_ready(&format!("app-{i}"), TIMEOUT).await;
    }

    let down = Instant::now();
    cluster_script("down.sh", &["apiserver", "etcd"]);
    tokio::time::sleep(Duration::from_secs(10)).await;
    cluster_script("up.sh", &["--restart-controllers", "etcd", "apiserver"]);
    let back = down.elapsed();
    let apps: String = (0..5)
        .map(|i| app(&format!("app-{i}"), "registry.example/app:2", "b"))
        .collect();
    // The restarted API server may need a moment before it accepts writes.
    let changed = Instant::now();
    wait_for("the API server to accept the update", TIMEOUT, || async {
        let out = kubectl_with(
            &admin_kubeconfig(),
            &[
                "apply",
                "--server-side",
                "--field-manager",
                "e2e",
                "-n",
                &ns.name,
                "-f",
                "-",
            ],
            Some(&apps),
        );
        if out.success { Ok(()) } else { Err(out.stderr) }
    })
    .await;
    let client = admin_client().await;
    let deployments: Api<Deployment> = Api::namespaced(client, &ns.name);
    wait_for("convergence after the outage", TIMEOUT, || {
        let deployments = deployments.clone();
        async move {
            let done = deployments_on_image(&deployments, "registry.example/app:2").await?;
            if done == 10 {
                Ok(())
            } else {
                Err(format!("{done}/10 updated"))
            }
        }
    })
    .await;
    eprintln!(
        "outage: control plane back after {back:?}; update converged {:?} after it was applied",
        changed.elapsed()
    );
    // The operator kept running through the outage.
    assert!(
        operator_alive(&mut operator),
        "the operator exited during the outage"
    );
}

fn operator_alive(operator: &mut Operator) -> bool {
    operator
        .http_get("/livez")
        .map(|r| r.0 == 200)
        .unwrap_or(false)
}

#[tokio::test]
async fn a_flood_of_updates_to_one_app_does_not_starve_the_others() {
    let _outage = OUTAGE.lock().await;
    let ns = TestNamespace::new("flood").await;
    install_crds(&ns.client, true).await;
    let _operator = Operator::start(&ns, &["--concurrency", "4"]).await;
    kubectl_apply(&ns.name, &app("hot", "registry.example/app:1", "0"));
    ns.wait_ready("hot", TIMEOUT).await;

    // Hammer one app with spec changes while ten others are created.
    let apps = ns.apps();
    let flood = tokio::spawn(async move {
        for i in 1..=150 {
            let patch = json!({"spec": {"env": [{"name": "MODE", "value": i.to_string()}]}});
            let _ = apps
                .patch("hot", &PatchParams::default(), &Patch::Merge(&patch))
                .await;
        }
    });
    let start = Instant::now();
    let others: String = (0..10)
        .map(|i| app(&format!("calm-{i}"), "registry.example/app:1", "a"))
        .collect();
    kubectl_apply(&ns.name, &others);
    for i in 0..10 {
        ns.wait_ready(&format!("calm-{i}"), TIMEOUT).await;
    }
    let calm = start.elapsed();
    flood.await.expect("flood task");
    // The hot app ends on its last value.
    let deployments = ns.api::<Deployment>();
    wait_for("the hot app to settle on its last update", TIMEOUT, || {
        let deployments = deployments.clone();
        async move {
            let d = deployments.get("hot").await.map_err(|e| e.to_string())?;
            let env = d
                .spec
                .template
                .spec
                .and_then(|p| p.containers[0].env.clone())
                .unwrap_or_default();
            let mode = env
                .iter()
                .find(|e| e.name == "MODE")
                .and_then(|e| e.value.clone());
            if mode.as_deref() == Some("150") {
                Ok(())
            } else {
                Err(format!("{mode:?}"))
            }
        }
    })
    .await;
    eprintln!("flood: 10 other apps Ready after {calm:?} while one app got 150 updates");
}

#[tokio::test]
async fn a_refused_app_is_stalled_with_the_servers_message_and_others_proceed() {
    let _outage = OUTAGE.lock().await;
    let ns = TestNamespace::new("admission").await;
    install_crds(&ns.client, true).await;
    // A real admission rejection: a ValidatingAdmissionPolicy refusing one registry in this
    // namespace.
    let policy_name = refuse_images(&ns, "forbidden.example/", "Invalid").await;

    let _operator = Operator::start(&ns, &[]).await;
    let start = Instant::now();
    kubectl_apply(
        &ns.name,
        &[
            app("refused", "forbidden.example/app:1", "a"),
            app("fine", "registry.example/app:1", "a"),
        ]
        .concat(),
    );
    ns.wait_ready("fine", TIMEOUT).await;
    let apps = ns.apps();
    let stalled = wait_for("the refused app to be Stalled", TIMEOUT, || {
        let apps = apps.clone();
        async move {
            let status = apps
                .get("refused")
                .await
                .map_err(|e| e.to_string())?
                .status
                .unwrap_or_default();
            status
                .conditions
                .iter()
                .find(|c| c.type_ == "Stalled" && c.status == "True")
                .cloned()
                .ok_or_else(|| format!("{:?}", status.conditions))
        }
    })
    .await;
    eprintln!(
        "admission: Stalled after {:?}: {} {}",
        start.elapsed(),
        stalled.reason,
        stalled.message
    );
    assert_eq!(stalled.reason, "ApplyFailed");
    assert!(
        stalled
            .message
            .contains("images from forbidden.example are not allowed"),
        "{}",
        stalled.message
    );
    let out = kubectl(&["describe", "serverlessapp", "refused", "-n", &ns.name]);
    assert!(
        out.stdout.contains("ApplyFailed"),
        "no Warning event: {}",
        out.stdout
    );

    remove_policy(&policy_name);
}

#[tokio::test]
async fn pods_that_never_start_stall_the_app_at_the_progress_deadline() {
    let Some(node) = RealNode::from_env() else {
        eprintln!("no real node: simulated pods always start");
        return;
    };
    let _lock = OUTAGE.lock().await;
    let ns = TestNamespace::new("deadline").await;
    install_crds(&ns.client, false).await;
    let _operator = Operator::start(&ns, &[]).await;

    // An image the registry does not have: the pod stays in ImagePullBackOff.
    let missing = format!("{}/samples/does-not-exist:1", node.registry);
    let doc = json!({
        "apiVersion": "serverless-operator.dev/v1alpha1", "kind": "ServerlessApp",
        "metadata": {"name": "stuck"},
        "spec": {"image": missing,
                 "master": {"ports": [{"name": "http", "port": 8080}],
                            "replicas": {"min": 1, "max": 1},
                            "placement": RealNode::placement()}}
    });
    kubectl_apply(&ns.name, &doc.to_string());
    let deployments = ns.api::<Deployment>();
    wait_for("the Deployment", TIMEOUT, || async {
        deployments
            .get("stuck")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    // The default deadline is ten minutes; a platform team's own field manager shortens it
    // (the operator does not set the field, so it keeps that value).
    deployments
        .patch(
            "stuck",
            &PatchParams::apply("platform-team"),
            &Patch::Apply(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "stuck"},
                                 "spec": {"progressDeadlineSeconds": 5}}),
            ),
        )
        .await
        .expect("patch the deadline");

    let started = Instant::now();
    let message = wait_for("Stalled with ProgressDeadlineExceeded", TIMEOUT, || async {
        let app = ns.apps().get("stuck").await.map_err(|e| e.to_string())?;
        let status = app.status.unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        assert!(
            ready.is_none_or(|c| c.status == "False"),
            "Ready while no pod runs: {ready:?}"
        );
        status
            .conditions
            .iter()
            .find(|c| {
                c.type_ == "Stalled" && c.status == "True" && c.reason == "ProgressDeadlineExceeded"
            })
            .map(|c| c.message.clone())
            .ok_or(format!("{:?}", status.conditions))
    })
    .await;
    assert!(
        message.starts_with("master: Deployment stuck exceeded its progress deadline: 0/1"),
        "{message}"
    );
    eprintln!("stalled {:?} after the deadline was set", started.elapsed());
}

/// A ValidatingAdmissionPolicy refusing, in `ns` only, Deployments with images under `prefix`,
/// answered with `reason` (and its HTTP code); in force when this returns. Returns its name.
async fn refuse_images(ns: &TestNamespace, prefix: &str, reason: &str) -> String {
    let policy_name = format!("{}-registry", ns.name);
    let policy: ValidatingAdmissionPolicy = serde_json::from_value(json!({
        "metadata": {"name": policy_name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]}]},
            "validations": [{
                "expression": format!("object.spec.template.spec.containers.all(c, !c.image.startsWith('{prefix}'))"),
                "message": format!("images from {} are not allowed", prefix.trim_end_matches('/')),
                "reason": reason,
            }]
        }
    }))
    .expect("policy");
    let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(json!({
        "metadata": {"name": policy_name},
        "spec": {
            "policyName": policy_name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns.name}}}
        }
    }))
    .expect("binding");
    let params = PatchParams::apply("e2e").force();
    Api::<ValidatingAdmissionPolicy>::all(ns.client.clone())
        .patch(&policy_name, &params, &Patch::Apply(&policy))
        .await
        .expect("policy");
    Api::<ValidatingAdmissionPolicyBinding>::all(ns.client.clone())
        .patch(&policy_name, &params, &Patch::Apply(&binding))
        .await
        .expect("binding");
    // Policies take effect asynchronously; wait until a dry run is refused.
    let image = format!("--image={prefix}x");
    wait_for(
        "the policy to be enforced",
        Duration::from_secs(60),
        || async {
            let out = kubectl(&[
                "create",
                "deployment",
                "probe",
                "-n",
                &ns.name,
                &image,
                "--dry-run=server",
            ]);
            if out.success {
                Err("still allowed".to_string())
            } else {
                Ok(())
            }
        },
    )
    .await;
    policy_name
}

fn remove_policy(name: &str) {
    for kind in [
        "validatingadmissionpolicybinding",
        "validatingadmissionpolicy",
    ] {
        let _ = kubectl(&["delete", kind, name, "--ignore-not-found"]);
    }
}

#[tokio::test]
async fn a_refusal_the_retry_gets_again_stalls_the_app_and_it_is_never_ready_meanwhile() {
    let _outage = OUTAGE.lock().await;
    let ns = TestNamespace::new("refusal").await;
    install_crds(&ns.client, true).await;
    let _operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, &app("app", "registry.example/app:1", "a"));
    ns.wait_ready("app", TIMEOUT).await;

    // 413 (RequestEntityTooLarge): not a code that is refused for good at once, but the same
    // body gets it again on the retry.
    let policy = refuse_images(&ns, "big.example/", "RequestEntityTooLarge").await;
    let changed = Instant::now();
    kubectl_apply(&ns.name, &app("app", "big.example/app:2", "a"));
    let stalled = wait_for("the app to be Stalled", TIMEOUT, || async {
        let app = ns.apps().get("app").await.map_err(|e| e.to_string())?;
        let status = app.status.unwrap_or_default();
        // The old children are all available, but the new spec was never applied.
        if status.observed_generation == app.metadata.generation {
            let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
            assert!(
                ready.is_some_and(|c| c.status == "False"),
                "Ready while the new spec is refused: {ready:?}"
            );
        }
        status
            .conditions
            .iter()
            .find(|c| c.type_ == "Stalled" && c.status == "True")
            .cloned()
            .ok_or_else(|| format!("{:?}", status.conditions))
    })
    .await;
    remove_policy(&policy);
    eprintln!(
        "refusal: Stalled after {:?}: {} {}",
        changed.elapsed(),
        stalled.reason,
        stalled.message
    );
    assert_eq!(stalled.reason, "ApplyFailed");
    assert!(
        stalled
            .message
            .contains("images from big.example are not allowed"),
        "{}",
        stalled.message
    );
}

/// A validating webhook served by this test over TLS on loopback. It answers every Deployment
/// write in one namespace with the status code in `code`, so that the real API server gives the
/// operator the answers of an overloaded (429) or unavailable (503) server; 0 allows.
struct Webhook {
    name: String,
    code: Arc<AtomicU16>,
    server: tokio::task::JoinHandle<()>,
}

/// Accepts TLS connections for axum; a failed handshake is dropped and the next one accepted.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.tls.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl Webhook {
    async fn refuse_deployments(ns: &TestNamespace, code: u16) -> Self {
        use tokio_rustls::rustls;
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .expect("cert params")
            .self_signed(&key)
            .expect("cert");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("server config");
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = tcp.local_addr().expect("addr").port();
        let listener = TlsListener {
            tcp,
            tls: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        };
        let shared = Arc::new(AtomicU16::new(code));
        let current = shared.clone();
        let review = move |body: axum::body::Bytes| {
            let current = current.clone();
            async move {
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let uid = request["request"]["uid"].clone();
                let response = match current.load(Ordering::SeqCst) {
                    0 => json!({"uid": uid, "allowed": true}),
                    code => json!({"uid": uid, "allowed": false, "status": {
                        "code": code,
                        "message": format!("the test's webhook answers {code}"),
                    }}),
                };
                let review = json!({"apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview", "response": response});
                ([("content-type", "application/json")], review.to_string())
            }
        };
        let router = axum::Router::new().route("/", axum::routing::post(review));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });

        let name = format!("{}-refuse", ns.name);
        let webhook: ValidatingWebhookConfiguration = serde_json::from_value(json!({
            "metadata": {"name": name},
            "webhooks": [{
                "name": "refuse.e2e.serverless-operator.dev",
                "clientConfig": {
                    "url": format!("https://127.0.0.1:{port}/"),
                    "caBundle": k8s_openapi::ByteString(cert.pem().into_bytes()),
                },
                "rules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]}],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns.name}},
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5,
            }]
        }))
        .expect("webhook");
        Api::<ValidatingWebhookConfiguration>::all(ns.client.clone())
            .patch(
                &name,
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(&webhook),
            )
            .await
            .expect("webhook configuration");
        Webhook {
            name,
            code: shared,
            server,
        }
    }

    fn answer(&self, code: u16) {
        self.code.store(code, Ordering::SeqCst);
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = kubectl(&[
            "delete",
            "validatingwebhookconfiguration",
            &self.name,
            "--ignore-not-found",
        ]);
        self.server.abort();
    }
}

/// The app's Ready and Stalled conditions for its current generation, once it has one.
async fn conditions(ns: &TestNamespace, name: &str) -> Result<(Condition, Condition), String> {
    let app = ns.apps().get(name).await.map_err(|e| e.to_string())?;
    let status = app.status.unwrap_or_default();
    if status.observed_generation != app.metadata.generation {
        return Err("status not observed yet".into());
    }
    let find = |t: &str| status.conditions.iter().find(|c| c.type_ == t).cloned();
    find("Ready")
        .zip(find("Stalled"))
        .ok_or_else(|| format!("{:?}", status.conditions))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_or_unavailable_api_server_is_retried_and_never_stalls_the_app() {
    let _outage = OUTAGE.lock().await;
    let ns = TestNamespace::new("overload").await;
    install_crds(&ns.client, true).await;
    let _operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, &app("app", "registry.example/app:1", "a"));
    ns.wait_ready("app", TIMEOUT).await;

    for code in [429, 503] {
        let webhook = Webhook::refuse_deployments(&ns, code).await;
        // Webhook configurations take effect asynchronously; wait until a dry run is refused.
        wait_for(
            "the webhook to be called",
            Duration::from_secs(60),
            || async {
                let out = kubectl(&[
                    "create",
                    "deployment",
                    "probe",
                    "-n",
                    &ns.name,
                    "--image=x",
                    "--dry-run=server",
                ]);
                if out.stderr.contains(&format!("answers {code}")) {
                    Ok(())
                } else {
                    Err(out.stderr)
                }
            },
        )
        .await;
        let image = format!("registry.example/app:{code}");
        kubectl_apply(&ns.name, &app("app", &image, "a"));
        let retrying = wait_for("the app to be Retrying", TIMEOUT, || async {
            let (ready, _) = conditions(&ns, "app").await?;
            if ready.reason == "Retrying" {
                Ok(ready)
            } else {
                Err(format!("{ready:?}"))
            }
        })
        .await;
        assert_eq!(retrying.status, "False");
        assert!(
            retrying.message.contains(&format!("answers {code}")),
            "{}",
            retrying.message
        );
        // Several retries later the app is still only Retrying: neither Ready nor Stalled.
        let watched = Instant::now();
        while watched.elapsed() < Duration::from_secs(15) {
            let (ready, stalled) = conditions(&ns, "app").await.expect("conditions");
            assert_eq!(ready.status, "False", "Ready while refused: {ready:?}");
            assert_eq!(stalled.status, "False", "Stalled by a {code}: {stalled:?}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // The server recovers: the app converges on its own, with no change to it.
        webhook.answer(0);
        let recovered = Instant::now();
        ns.wait_ready("app", TIMEOUT).await;
        let deployments: Api<Deployment> = ns.api();
        let updated = deployments_on_image(&deployments, &image)
            .await
            .expect("deployments");
        assert_eq!(updated, 2, "both Deployments on {image}");
        eprintln!(
            "overload {code}: Retrying, never Stalled; Ready {:?} after the server recovered",
            recovered.elapsed()
        );
        drop(webhook);
    }
}
