//! The operator runs with the least-privilege ClusterRole of config/rbac (every e2e test uses
//! it); here, what that identity must be refused.

use serverless_e2e::*;

#[tokio::test]
async fn the_operator_identity_is_refused_what_it_does_not_need() {
    let ns = TestNamespace::new("rbac").await;
    install_crds(&ns.client, false).await;
    let operator = Operator::start(&ns, &[]).await;
    kubectl_apply(&ns.name, &sample("fixed-size.yaml"));
    ns.wait_ready("ledger", std::time::Duration::from_secs(120))
        .await;

    let as_operator = |args: &[&str]| kubectl_with(&operator.kubeconfig, args, None);
    let forbidden: &[&[&str]] = &[
        &["get", "secrets", "-n", &ns.name],
        &["get", "configmaps", "-n", &ns.name],
        &["get", "pods", "-n", &ns.name],
        &["create", "namespace", "not-allowed"],
        &["delete", "serverlessapp", "ledger", "-n", &ns.name],
        &[
            "patch",
            "serverlessapp",
            "ledger",
            "-n",
            &ns.name,
            "--type=merge",
            "-p",
            r#"{"spec":{"image":"x:1"}}"#,
        ],
        &[
            "label",
            "serverlessapp",
            "ledger",
            "-n",
            &ns.name,
            "touched=yes",
        ],
        &[
            "create",
            "clusterrolebinding",
            "escalate",
            "--clusterrole=cluster-admin",
            "--user=x",
        ],
    ];
    for args in forbidden {
        let out = as_operator(args);
        assert!(
            !out.success && out.stderr.contains("forbidden"),
            "allowed: kubectl {}: {}{}",
            args.join(" "),
            out.stdout,
            out.stderr
        );
    }
    // And it can do what it needs.
    for args in [
        ["get", "deployments", "-n", &ns.name],
        ["get", "serverlessapps", "-n", &ns.name],
        [
            "get",
            "customresourcedefinitions",
            "serverlessapps.serverless-operator.dev",
            "",
        ],
    ] {
        let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
        let out = as_operator(&args);
        assert!(
            out.success,
            "refused: kubectl {}: {}",
            args.join(" "),
            out.stderr
        );
    }
}
