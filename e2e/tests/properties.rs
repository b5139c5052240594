//! Property test against the real API server: generated apps are accepted by the CRD, and every
//! object rendered from them is accepted by the API server's schema for its kind (server-side
//! dry run, including KEDA's CRDs).

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serverless_e2e::serverless_operator::{ServerlessApp, children};
use serverless_e2e::*;

use serverless_e2e::serverless_operator::testing::arbitrary;

const CASES: usize = 24;

#[tokio::test]
async fn rendered_objects_of_generated_apps_are_accepted() {
    let ns = TestNamespace::new("props").await;
    install_crds(&ns.client, true).await;
    let mut runner = TestRunner::deterministic();
    let strategy = arbitrary::app();
    let mut failures = Vec::new();
    let mut objects = 0;
    for case in 0..CASES {
        let mut app = strategy
            .new_tree(&mut runner)
            .expect("a generated app")
            .current();
        app["metadata"]["name"] = format!(
            "p{case}-{}",
            app["metadata"]["name"].as_str().unwrap_or_default()
        )
        .into();
        app["metadata"]["namespace"] = ns.name.clone().into();
        let typed: ServerlessApp = serde_json::from_value(app.clone()).expect("typed");
        let mut docs = vec![serde_saphyr::to_string(&app).expect("yaml")];
        for child in children::desired(&typed).expect("children") {
            docs.push(serde_saphyr::to_string(&child.to_json().expect("json")).expect("yaml"));
        }
        objects += docs.len();
        let stream = docs.iter().map(|d| format!("---\n{d}")).collect::<String>();
        let out = kubectl_with(
            &admin_kubeconfig(),
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager=properties",
                "-f",
                "-",
            ],
            Some(&stream),
        );
        if !out.success {
            failures.push(format!("case {case}: {}\n{stream}", out.stderr));
        }
    }
    eprintln!("{CASES} generated apps, {objects} objects dry-run applied");
    assert!(failures.is_empty(), "refused:\n{}", failures.join("\n"));
}
