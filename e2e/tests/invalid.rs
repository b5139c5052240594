//! Invalid apps are rejected by the real API server at `kubectl apply` time, with the rule's
//! message: the same cases the in-process validation tests use, one per condition of each rule.

use serde_json::Value;
use serverless_e2e::*;

use serverless_e2e::serverless_operator::testing::cases;

fn apply(ns: &str, app: &Value) -> Output {
    kubectl_stdin(ns, app, &["apply", "--server-side"])
}

/// A plain create, which no server-side apply merge precedes.
fn create(ns: &str, app: &Value) -> Output {
    kubectl_stdin(ns, app, &["create"])
}

fn kubectl_stdin(ns: &str, app: &Value, verb: &[&str]) -> Output {
    let mut app = app.clone();
    app["metadata"]["namespace"] = ns.into();
    let yaml = serde_saphyr::to_string(&app).expect("yaml");
    let args: Vec<&str> = verb.iter().copied().chain(["-n", ns, "-f", "-"]).collect();
    kubectl_with(&admin_kubeconfig(), &args, Some(&yaml))
}

#[tokio::test]
async fn every_rule_is_enforced_by_the_api_server() {
    let ns = TestNamespace::new("invalid").await;
    install_crds(&ns.client, false).await;

    // The valid base goes through (then is deleted again), so rejections below are the rules'.
    let out = apply(&ns.name, &cases::valid());
    assert!(out.success, "valid app rejected: {}", out.stderr);
    assert!(kubectl(&["delete", "-n", &ns.name, "serverlessapp", "shop"]).success);

    let mut failures = Vec::new();
    for (case, mutate, expected) in cases::CEL_CASES {
        let mut app = cases::valid();
        mutate(&mut app);
        let out = apply(&ns.name, &app);
        if out.success || !out.stderr.contains(expected) {
            failures.push(format!(
                "{case}: expected rejection with `{expected}`, got: {}{}",
                out.stdout, out.stderr
            ));
        }
    }
    // OpenAPI rules: the API server words these its own way; it must name the field.
    for (case, mutate, expected) in cases::SCHEMA_CASES {
        let Some((path, _)) = expected.split_once(':') else {
            continue;
        };
        if path == "apiVersion" {
            continue; // an unknown version is a discovery error, not a validation message
        }
        let field = path.rsplit('.').next().unwrap_or(path);
        let mut app = cases::valid();
        mutate(&mut app);
        let out = apply(&ns.name, &app);
        if expected.contains("Duplicate value") {
            // A repeated list-map key: server-side apply refuses it while merging, naming the
            // list and the key; a plain create reaches validation, which names the item.
            let list = field.split('[').next().unwrap_or(field);
            let merged = format!(".{list}: duplicate entries for key [name=");
            if out.success || !out.stderr.contains(&merged) {
                failures.push(format!(
                    "{case}: expected apply to refuse with `{merged}`, got: {}{}",
                    out.stdout, out.stderr
                ));
            }
            let out = create(&ns.name, &app);
            if out.success || !out.stderr.contains(expected) {
                failures.push(format!(
                    "{case}: expected create to refuse with `{expected}`, got: {}{}",
                    out.stdout, out.stderr
                ));
            }
            continue;
        }
        if out.success || !out.stderr.contains(field) {
            failures.push(format!(
                "{case}: expected rejection naming `{field}`, got: {}{}",
                out.stdout, out.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases not rejected as expected:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
