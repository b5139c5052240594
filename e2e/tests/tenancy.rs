//! A tenant allowed only ServerlessApps in its namespace (the shipped `serverlessapps-editor`
//! role, used through `kubectl --as`) gets nothing more through the operator: what Pod Security
//! "restricted" refuses in a pod is refused at apply time, and an object the operator does not
//! own is never taken over, nor deleted with the app.

use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::ResourceExt;
use serde_json::{Value, json};
use serverless_e2e::*;
use serverless_operator::policy;

const TENANT: &str = "tenant-a";
const TIMEOUT: Duration = Duration::from_secs(120);

fn as_user(user: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut all = vec!["--as", user];
    all.extend_from_slice(args);
    kubectl_with(&admin_kubeconfig(), &all, stdin)
}

/// The people roles of config/rbac, and `user` bound to `role` in `ns`.
fn grant(ns: &str, user: &str, role: &str) {
    for file in [
        "config/rbac/serverlessapp_editor_role.yaml",
        "config/rbac/serverlessapp_viewer_role.yaml",
    ] {
        let path = repo().join(file);
        let out = kubectl(&["apply", "--server-side", "-f", path.to_str().expect("path")]);
        assert!(out.success, "{file}: {}", out.stderr);
    }
    let out = kubectl(&[
        "create",
        "rolebinding",
        &format!("{user}-{role}"),
        "-n",
        ns,
        &format!("--clusterrole={role}"),
        &format!("--user={user}"),
    ]);
    assert!(out.success, "rolebinding: {}", out.stderr);
}

/// `kubectl auth can-i`; `resource` may name a subresource (`serverlessapps/status`).
fn can_i(user: &str, ns: &str, verb: &str, resource: &str) -> bool {
    let mut args = vec!["auth", "can-i", verb, "-n", ns];
    let subresource;
    match resource.split_once('/') {
        Some((resource, sub)) => {
            subresource = format!("--subresource={sub}");
            args.extend([resource, subresource.as_str()]);
        }
        None => args.push(resource),
    }
    as_user(user, &args, None).stdout.trim() == "yes"
}

fn app(name: &str) -> Value {
    TestApp::new(name)
        .image("registry.example/shop:1")
        .master(json!({"expose": {"ingress": {"host": "shop.tenant-a.example.com"}}}))
        .worker("orders", 1, json!({}))
        .json()
}

/// Apply `doc` as the tenant (server-side dry run when `dry`).
fn tenant_apply(ns: &str, doc: &Value, dry: bool) -> Output {
    let mut args = vec!["apply", "--server-side", "-n", ns, "-f", "-"];
    if dry {
        args.push("--dry-run=server");
    }
    as_user(TENANT, &args, Some(&doc.to_string()))
}

/// An app with `value` at `pointer` (JSON pointer into the app, intermediate objects created).
fn with(pointer: &str, value: Value) -> Value {
    let mut doc = app("bad");
    let mut at = &mut doc;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, key) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        at = match key.parse::<usize>() {
            Ok(index) => &mut at[index],
            Err(_) => {
                let object = at.as_object_mut().expect("object on the path");
                if last {
                    object.insert(key.to_string(), value.clone());
                    return doc;
                }
                object.entry(key.to_string()).or_insert_with(|| json!({}))
            }
        };
    }
    doc
}

/// For every field the policy checks, a value Pod Security "restricted" refuses.
fn refused_value(field: &str) -> Value {
    match field {
        "privileged" | "allowPrivilegeEscalation" => json!(true),
        "capabilities.add" => json!({"add": ["SYS_ADMIN"]}),
        "capabilities.drop" => json!({"drop": ["NET_RAW"]}),
        "runAsNonRoot" => json!(false),
        "runAsUser" => json!(0),
        "seccompProfile.type" => json!({"type": "Unconfined"}),
        "appArmorProfile.type" => json!({"type": "Unconfined"}),
        "procMount" => json!("Unmasked"),
        "seLinuxOptions.type" => json!({"type": "spc_t"}),
        "seLinuxOptions.user" => json!({"user": "root"}),
        "seLinuxOptions.role" => json!({"role": "sysadm_r"}),
        "windowsOptions.hostProcess" => json!({"hostProcess": true}),
        "sysctls" => json!([{"name": "kernel.msgmax", "value": "65536"}]),
        other => panic!("no refused value for {other}: add one"),
    }
}

#[tokio::test]
async fn a_tenant_is_refused_at_apply_what_pod_security_restricted_refuses() {
    let ns = TestNamespace::new("tenant-psa").await;
    install_crds(&ns.client, false).await;
    grant(&ns.name, TENANT, "serverlessapps-editor");
    grant(&ns.name, "viewer-a", "serverlessapps-viewer");

    // The roles: the tenant manages ServerlessApps and nothing else; the viewer only reads.
    assert!(can_i(TENANT, &ns.name, "create", "serverlessapps"));
    assert!(can_i(TENANT, &ns.name, "delete", "serverlessapps"));
    for (verb, resource) in [
        ("patch", "serverlessapps/status"),
        ("create", "deployments"),
        ("create", "services"),
        ("create", "pods"),
        ("get", "secrets"),
        ("patch", "namespaces"),
    ] {
        assert!(
            !can_i(TENANT, &ns.name, verb, resource),
            "tenant may {verb} {resource}"
        );
    }
    assert!(can_i("viewer-a", &ns.name, "list", "serverlessapps"));
    assert!(!can_i("viewer-a", &ns.name, "create", "serverlessapps"));
    // Aggregated into the built-in `edit` role.
    grant(&ns.name, "editor-b", "edit");
    wait_for("edit to aggregate serverlessapps", TIMEOUT, || async {
        can_i("editor-b", &ns.name, "create", "serverlessapps")
            .then_some(())
            .ok_or("not yet".to_string())
    })
    .await;

    // A policy takes a moment to be enforced after it is created.
    let privileged = with("/spec/master/securityContext/privileged", json!(true));
    wait_for("the pod security policy in force", TIMEOUT, || async {
        let out = tenant_apply(&ns.name, &privileged, true);
        (!out.success)
            .then_some(())
            .ok_or(format!("accepted: {}", out.stdout))
    })
    .await;

    let (pod_fields, container_fields) = policy::checked_fields();
    let mut cases: Vec<(String, String, Value)> = Vec::new();
    for field in &pod_fields {
        cases.push((
            format!("spec.podSecurityContext.{field}"),
            "/spec/podSecurityContext".into(),
            refused_value(field),
        ));
    }
    for field in &container_fields {
        for (path, pointer) in [
            ("spec.securityContext", "/spec/securityContext"),
            (
                "spec.master.securityContext",
                "/spec/master/securityContext",
            ),
            (
                "spec.workers[orders].securityContext",
                "/spec/workers/0/securityContext",
            ),
        ] {
            cases.push((
                format!("{path}.{field}"),
                pointer.into(),
                refused_value(field),
            ));
        }
    }
    let mut accepted = Vec::new();
    for (path, pointer, value) in &cases {
        // The refused value goes at the field's first segment (`capabilities`, `seccompProfile`).
        let field = path.rsplit_once("ecurityContext.").expect("field").1;
        let key = field.split('.').next().expect("key");
        let doc = with(&format!("{pointer}/{key}"), value.clone());
        let out = tenant_apply(&ns.name, &doc, true);
        let expected = format!("{path}: Forbidden");
        if out.success || !out.stderr.contains(&expected) {
            accepted.push(format!("{path}: {}{}", out.stdout, out.stderr));
        }
    }
    assert!(
        accepted.is_empty(),
        "{} of {} cases not refused with their field:\n{}",
        accepted.len(),
        cases.len(),
        accepted.join("\n")
    );

    // What "restricted" allows still passes.
    for (pointer, value) in [
        (
            "/spec/master/securityContext",
            json!({"capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                   "readOnlyRootFilesystem": true, "runAsUser": 1000}),
        ),
        (
            "/spec/podSecurityContext",
            json!({"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000,
                   "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
                   "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}),
        ),
    ] {
        let out = tenant_apply(&ns.name, &with(pointer, value), true);
        assert!(out.success, "{pointer}: {}", out.stderr);
    }

    // Only a cluster admin lifts it, per namespace.
    let out = as_user(
        TENANT,
        &[
            "label",
            "namespace",
            &ns.name,
            &format!("{}={}", policy::ALLOW_LABEL, policy::ALLOW_VALUE),
        ],
        None,
    );
    assert!(
        !out.success && out.stderr.contains("forbidden"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let out = kubectl(&[
        "label",
        "namespace",
        &ns.name,
        &format!("{}={}", policy::ALLOW_LABEL, policy::ALLOW_VALUE),
    ]);
    assert!(out.success, "{}", out.stderr);
    wait_for("the label to lift the policy", TIMEOUT, || async {
        let out = tenant_apply(&ns.name, &privileged, true);
        out.success.then_some(()).ok_or(out.stderr)
    })
    .await;
}

#[tokio::test]
async fn an_object_the_operator_does_not_own_is_never_taken_over() {
    let ns = TestNamespace::new("tenant-own").await;
    install_crds(&ns.client, false).await;
    grant(&ns.name, TENANT, "serverlessapps-editor");
    let _operator = Operator::start(&ns, &[]).await;

    // Another team's Service and Ingress, without the operator's labels, named as the app's
    // master would name its own.
    let theirs = json!([
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop"},
         "spec": {"selector": {"team": "payments"}, "ports": [{"name": "http", "port": 80}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "shop"},
         "spec": {"rules": [{"host": "pay.example.com", "http": {"paths": [{"path": "/",
             "pathType": "Prefix", "backend": {"service": {"name": "shop",
             "port": {"number": 80}}}}]}}]}},
    ]);
    for object in theirs.as_array().expect("objects") {
        kubectl_apply(&ns.name, &object.to_string());
    }
    let services = ns.api::<Service>();
    let ingresses = ns.api::<Ingress>();
    let before = (
        services.get("shop").await.expect("service"),
        ingresses.get("shop").await.expect("ingress"),
    );

    let out = tenant_apply(&ns.name, &app("shop"), false);
    assert!(out.success, "{}", out.stderr);
    let message = wait_stalled(&ns, "shop", "NotOwned").await;
    assert!(
        message.contains("shop already exists and is not controlled by this ServerlessApp"),
        "{message}"
    );
    // The children that are the app's own were still created.
    let deployments = ns.api::<k8s_openapi::api::apps::v1::Deployment>();
    let ours = deployments.get("shop-orders").await;
    assert!(ours.is_ok(), "{ours:?}");

    let unchanged = |what: &str, a: &kube::api::ObjectMeta, b: &kube::api::ObjectMeta| {
        assert_eq!(a.resource_version, b.resource_version, "{what} was written");
        assert!(
            b.owner_references.is_none(),
            "{what} gained {:?}",
            b.owner_references
        );
    };
    let service = services.get("shop").await.expect("service");
    unchanged("Service", &before.0.metadata, &service.metadata);
    let ingress = ingresses.get("shop").await.expect("ingress");
    unchanged("Ingress", &before.1.metadata, &ingress.metadata);

    // Deleting the app takes its own children and leaves theirs.
    let out = as_user(
        TENANT,
        &["delete", "serverlessapp", "shop", "-n", &ns.name, "--wait"],
        None,
    );
    assert!(out.success, "{}", out.stderr);
    wait_for("the app's own Deployment gone", TIMEOUT, || async {
        match deployments.get_opt("shop-orders").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let service = services.get("shop").await.expect("their Service survives");
    unchanged("Service", &before.0.metadata, &service.metadata);
    let ingress = ingresses.get("shop").await.expect("their Ingress survives");
    unchanged("Ingress", &before.1.metadata, &ingress.metadata);

    // Once the objects in the way are gone, the app recovers by itself (no watch event tells
    // it: the operator looks again at a steady pace).
    let out = tenant_apply(&ns.name, &app("shop"), false);
    assert!(out.success, "{}", out.stderr);
    wait_stalled(&ns, "shop", "NotOwned").await;
    let out = kubectl(&["delete", "service,ingress", "shop", "-n", &ns.name]);
    assert!(out.success, "{}", out.stderr);
    ns.wait_ready("shop", TIMEOUT).await;
    let service = services.get("shop").await.expect("the app's Service");
    assert!(
        service
            .owner_references()
            .iter()
            .any(|r| r.kind == "ServerlessApp" && r.name == "shop"),
        "{:?}",
        service.metadata
    );
}

#[tokio::test]
async fn a_cluster_trigger_authentication_is_not_lent_to_a_tenant() {
    let ns = TestNamespace::new("tenant-keda").await;
    install_crds(&ns.client, true).await;
    grant(&ns.name, TENANT, "serverlessapps-editor");
    let _operator = Operator::start(&ns, &[]).await;

    let mut doc = app("queue");
    doc["spec"]["workers"] = json!([{
        "name": "jobs",
        "replicas": {"min": 0, "max": 3},
        "triggers": [{"type": "redis", "metadata": {"listName": "jobs"},
                      "authenticationRef": {"name": "cluster-redis",
                                            "kind": "ClusterTriggerAuthentication"}}],
    }]);
    let out = tenant_apply(&ns.name, &doc, false);
    assert!(out.success, "{}", out.stderr);
    let message = wait_stalled(&ns, "queue", "NotAllowed").await;
    assert!(
        message.starts_with(
            "spec.workers[jobs].triggers[0].authenticationRef.kind: ClusterTriggerAuthentication"
        ),
        "{message}"
    );
    // Nothing was created for it.
    let deployments = ns
        .api::<k8s_openapi::api::apps::v1::Deployment>()
        .list(&Default::default())
        .await
        .expect("deployments");
    assert!(deployments.items.is_empty(), "{:?}", deployments.items);
}

/// Apply `config/impersonation/tenant` to `ns` as a platform team would (a kustomization of
/// its own setting the namespace), plus `extra` objects.
fn tenant_account(ns: &str, extra: &[Value]) {
    let dir = repo().join("target/e2e-tenant").join(ns);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!("namespace: {ns}\nresources:\n  - ../../../config/impersonation/tenant\n"),
    )
    .expect("kustomization");
    let out = kubectl(&["apply", "--server-side", "-k", dir.to_str().expect("dir")]);
    assert!(out.success, "{}", out.stderr);
    for object in extra {
        kubectl_apply(ns, &object.to_string());
    }
}

async fn wait_stalled(ns: &TestNamespace, app: &str, reason: &str) -> String {
    wait_for(&format!("{app} Stalled with {reason}"), TIMEOUT, || async {
        let current = ns.apps().get(app).await.map_err(|e| e.to_string())?;
        let status = current.status.unwrap_or_default();
        status
            .conditions
            .iter()
            .find(|c| c.type_ == "Stalled" && c.status == "True" && c.reason == reason)
            .map(|c| c.message.clone())
            .ok_or(format!("{:?}", status.conditions))
    })
    .await
}

#[tokio::test]
async fn acting_as_the_tenant_an_app_gets_only_what_its_account_may_use() {
    let ns = TestNamespace::new("tenant-as").await;
    install_crds(&ns.client, false).await;
    grant(&ns.name, TENANT, "serverlessapps-editor");
    // The platform team's part: the account, plus one Secret it may hand to pods.
    tenant_account(
        &ns.name,
        &[
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app-config"},
                   "stringData": {"url": "redis://cache:6379"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-admin"},
                   "stringData": {"password": "root"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": "serverless-apps-secrets"},
                   "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
                              "resourceNames": ["app-config"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "serverless-apps-secrets"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                               "name": "serverless-apps-secrets"},
                   "subjects": [{"kind": "ServiceAccount", "name": "serverless-apps",
                                 "namespace": ns.name}]}),
        ],
    );
    let audit = audit_log();
    let offset = audit.as_deref().map(audit_offset);
    let operator = Operator::start_as(
        &ns,
        &["--impersonate-service-account", "serverless-apps"],
        "info",
        IMPERSONATING_ROLE,
    )
    .await;

    // Allowed: children the account may create, a Secret it may read.
    let mut good = app("good");
    good["spec"]["master"]
        .as_object_mut()
        .expect("master")
        .remove("expose");
    good["spec"]["env"] = json!([{"name": "CACHE", "valueFrom":
        {"secretKeyRef": {"name": "app-config", "key": "url"}}}]);
    let out = tenant_apply(&ns.name, &good, false);
    assert!(out.success, "{}", out.stderr);
    ns.wait_ready("good", TIMEOUT).await;
    if let (Some(log), Some(offset)) = (audit.as_deref(), offset) {
        let writes: Vec<_> = audit_writes_since(log, offset, &operator.username)
            .into_iter()
            .filter(|e| {
                e.object_ref
                    .as_ref()
                    .and_then(|o| o.resource.as_deref())
                    .is_some_and(|r| r == "deployments" || r == "services")
            })
            .collect();
        assert!(!writes.is_empty(), "no child writes in the audit log");
        let account = format!("system:serviceaccount:{}:serverless-apps", ns.name);
        for write in &writes {
            assert_eq!(
                write
                    .impersonated_user
                    .as_ref()
                    .map(|u| u.username.as_str()),
                Some(account.as_str()),
                "a child written as the operator itself: {write:?}"
            );
        }
    }

    // A Secret the account may not read, another account for the pods, an Ingress the
    // account may not create: each stalls its app, naming the cause.
    let mut secret = app("secret");
    secret["spec"]["master"]
        .as_object_mut()
        .expect("master")
        .remove("expose");
    secret["spec"]["envFrom"] = json!([{"secretRef": {"name": "db-admin"}}]);
    let mut account = app("account");
    account["spec"]["master"]
        .as_object_mut()
        .expect("master")
        .remove("expose");
    account["spec"]["workers"][0]["serviceAccountName"] = json!("admin");
    for doc in [&secret, &account, &app("exposed")] {
        let out = tenant_apply(&ns.name, doc, false);
        assert!(out.success, "{}", out.stderr);
    }
    let message = wait_stalled(&ns, "secret", "NotAllowed").await;
    assert!(
        message.starts_with("spec.envFrom[0].secretRef.name: ServiceAccount serverless-apps")
            && message.contains("may not get Secret db-admin"),
        "{message}"
    );
    let message = wait_stalled(&ns, "account", "NotAllowed").await;
    assert!(
        message.starts_with("spec.workers[orders].serviceAccountName: ")
            && message.contains("may not create tokens of ServiceAccount admin"),
        "{message}"
    );
    let message = wait_stalled(&ns, "exposed", "ApplyFailed").await;
    assert!(
        message.contains("Ingress exposed") && message.contains("forbidden"),
        "{message}"
    );
    // Refused apps got nothing; the Ingress of the last is the one thing missing.
    let deployments = ns.api::<k8s_openapi::api::apps::v1::Deployment>();
    for name in ["secret", "secret-orders", "account", "account-orders"] {
        assert!(
            deployments.get_opt(name).await.expect("get").is_none(),
            "{name} was created"
        );
    }
    assert!(
        ns.api::<Ingress>()
            .get_opt("exposed")
            .await
            .expect("get")
            .is_none()
    );

    // Granting the account the Secret lets that app through, by itself.
    let grant = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "serverless-apps-secrets"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
                   "resourceNames": ["app-config", "db-admin"]}]});
    kubectl_apply(&ns.name, &grant.to_string());
    ns.wait_ready("secret", Duration::from_secs(360)).await;
}

#[tokio::test]
async fn in_a_tenant_namespace_an_app_claims_only_the_exposure_it_was_granted() {
    let ns = TestNamespace::new("tenant-expose").await;
    install_crds(&ns.client, false).await;
    grant(&ns.name, TENANT, "serverlessapps-editor");
    // What a cluster admin grants this tenant, on its namespace.
    for (key, value) in [
        (
            policy::HOSTS_ANNOTATION,
            "*.team-a.example.com, api.example.com",
        ),
        (policy::INGRESS_CLASSES_ANNOTATION, "internal"),
        (
            policy::ANNOTATION_PREFIXES_ANNOTATION,
            "nginx.ingress.kubernetes.io/rewrite-",
        ),
    ] {
        let out = kubectl(&["annotate", "namespace", &ns.name, &format!("{key}={value}")]);
        assert!(out.success, "{}", out.stderr);
    }
    let out = kubectl(&[
        "label",
        "namespace",
        &ns.name,
        &format!("{}=true", policy::TENANT_LABEL),
    ]);
    assert!(out.success, "{}", out.stderr);

    let mut base = app("exposed");
    base["spec"]["master"]["expose"] = json!({"ingress": {
        "host": "shop.team-a.example.com", "className": "internal",
        "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"}}});
    base["spec"]["workers"] = json!([{
        "name": "web", "ports": [{"name": "http", "port": 8080}],
        "replicas": {"min": 0, "max": 2},
        "http": {"hosts": ["fn.team-a.example.com", "api.example.com"], "port": "http"}}]);
    let mutate = |pointer: &str, value: Value| {
        let mut doc = base.clone();
        *doc.pointer_mut(pointer).expect(pointer) = value;
        doc
    };
    let refused = [
        (
            mutate(
                "/spec/master/expose",
                json!({"serviceType": "LoadBalancer"}),
            ),
            "spec.master.expose.serviceType: Forbidden: LoadBalancer",
        ),
        (
            mutate(
                "/spec/master/expose",
                json!({"serviceType": "ClusterIP",
                       "serviceAnnotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}}),
            ),
            "spec.master.expose.serviceAnnotations: Forbidden: service.beta.kubernetes.io/aws-load-balancer-scheme",
        ),
        (
            mutate("/spec/master/expose/ingress/className", json!("public")),
            "spec.master.expose.ingress.className: Forbidden: public",
        ),
        (
            mutate("/spec/master/expose/ingress/host", json!("pay.example.com")),
            "spec.master.expose.ingress.host: Forbidden: pay.example.com",
        ),
        (
            mutate("/spec/master/expose/ingress/host", json!("*.example.com")),
            "spec.master.expose.ingress.host: Forbidden: *.example.com",
        ),
        (
            mutate(
                "/spec/master/expose/ingress/annotations",
                json!({"nginx.ingress.kubernetes.io/server-snippet": "return 200;"}),
            ),
            "spec.master.expose.ingress.annotations: Forbidden: nginx.ingress.kubernetes.io/server-snippet",
        ),
        (
            mutate(
                "/spec/workers/0/http",
                json!({"pathPrefixes": ["/pay"], "port": "http"}),
            ),
            "spec.workers[web].http.hosts: Required value",
        ),
        (
            mutate(
                "/spec/workers/0/http/hosts",
                json!(["fn.team-a.example.com", "pay.team-b.example.com"]),
            ),
            "spec.workers[web].http.hosts: Forbidden: pay.team-b.example.com",
        ),
    ];
    // A policy takes a moment to be enforced after it is created.
    wait_for("the exposure policy in force", TIMEOUT, || async {
        let out = tenant_apply(&ns.name, &refused[0].0, true);
        (!out.success)
            .then_some(())
            .ok_or(format!("accepted: {}", out.stdout))
    })
    .await;
    let mut wrong = Vec::new();
    for (doc, expected) in &refused {
        let out = tenant_apply(&ns.name, doc, true);
        if out.success || !out.stderr.contains(expected) {
            wrong.push(format!("{expected}: {}{}", out.stdout, out.stderr));
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused as expected:\n{}",
        wrong.join("\n")
    );
    // What was granted passes.
    let out = tenant_apply(&ns.name, &base, true);
    assert!(out.success, "{}", out.stderr);
}
