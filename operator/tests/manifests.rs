//! Committed artifacts stay in sync with the code: the CRD under `crds/`, and the rendered
//! children of every sample under `operator/tests/golden/`.
//!
//! Regenerate after an intended change with `make manifests` (the CRD) and
//! `UPDATE_GOLDEN=1 cargo test --test manifests` (the golden files), then review the diff.

use std::path::{Path, PathBuf};

use serverless_operator::children::ChildKind;
use serverless_operator::{crd, render};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn samples(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The ServerlessApps under `samples/`: its files, and those of an app's own directory next to
/// its source (such as `samples/flask-faas/flask-faas.yaml`).
fn sample_apps() -> Vec<PathBuf> {
    let root = repo().join("samples");
    let mut files = samples(&root);
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() && dir.file_name().is_some_and(|n| n != "invalid") {
            files.extend(samples(&dir).into_iter().filter(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .contains("\nkind: ServerlessApp\n")
            }));
        }
    }
    files.sort_by_key(|p| p.file_name().unwrap().to_owned());
    files
}

#[test]
fn committed_crd_matches_the_rust_types() {
    let path = repo().join("crds/serverlessapps.serverless-operator.dev.yaml");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == crd::crd_yaml(),
        "{} is out of date with operator/src/api.rs: run `make manifests` and commit the result",
        path.display()
    );
}

#[test]
fn committed_policy_matches_the_code() {
    let path = repo().join("crds/serverlessapps-admission.yaml");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == serverless_operator::policy::policy_yaml(),
        "{} is out of date with operator/src/policy.rs: run `make manifests` and commit the result",
        path.display()
    );
}

#[test]
fn every_sample_renders_as_its_golden_file() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let files = sample_apps();
    assert!(files.len() >= 5, "expected at least 5 samples");
    for sample in files {
        let input = std::fs::read_to_string(&sample).unwrap();
        let rendered = render::render(&input)
            .unwrap_or_else(|e| panic!("{} does not render: {e}", sample.display()));
        let golden = repo()
            .join("operator/tests/golden")
            .join(sample.file_name().unwrap());
        if update {
            std::fs::write(&golden, &rendered).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        assert!(
            expected == rendered,
            "{} renders differently from {}; if intended, run `UPDATE_GOLDEN=1 cargo test --test manifests` and review the diff",
            sample.display(),
            golden.display()
        );
    }
}

#[test]
fn every_invalid_sample_is_rejected_with_a_field_message() {
    let files = samples(&repo().join("samples/invalid"));
    assert!(!files.is_empty());
    for sample in files {
        let input = std::fs::read_to_string(&sample).unwrap();
        let err =
            render::render(&input).expect_err(&format!("{} should be rejected", sample.display()));
        let message = err.to_string();
        assert!(
            message.contains("is invalid: spec."),
            "{}: {message}",
            sample.display()
        );
    }
}

/// The rules of the RBAC role in `file` as (API groups, resources, verbs).
fn rules(file: &str) -> Vec<(Vec<String>, Vec<String>, Vec<String>)> {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let role: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let list = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                list(&r["apiGroups"]),
                list(&r["resources"]),
                list(&r["verbs"]),
            )
        })
        .collect()
}

fn allowed(file: &str, kind: ChildKind, verbs: &[&str]) -> bool {
    let (group, resource) = kind.api_resource();
    verbs.iter().all(|verb| {
        rules(file).iter().any(|(groups, resources, allowed)| {
            groups.contains(&group)
                && resources.contains(&resource)
                && allowed.iter().any(|v| v == verb)
        })
    })
}

#[test]
fn the_operator_may_read_and_write_every_child_kind() {
    for &kind in ChildKind::ALL {
        assert!(
            allowed(
                "config/rbac/role.yaml",
                kind,
                &["get", "list", "watch", "create", "patch", "delete"]
            ),
            "config/rbac/role.yaml does not let the operator watch, apply and prune {kind:?}"
        );
        // Acting as the tenant, the operator still watches every kind itself.
        assert!(
            allowed(
                "config/impersonation/role.yaml",
                kind,
                &["get", "list", "watch"]
            ),
            "config/impersonation/role.yaml does not let the operator watch {kind:?}"
        );
    }
}

#[test]
fn every_child_kind_is_rendered_in_a_golden_file() {
    let golden: String = samples(&repo().join("operator/tests/golden"))
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for &kind in ChildKind::ALL {
        assert!(
            golden.contains(&format!("\nkind: {}\n", kind.as_str())),
            "no sample renders a {kind:?}: add one to samples/ and run UPDATE_GOLDEN=1"
        );
    }
}
