//! Every install manifest builds with kustomize and is accepted by the real API server
//! (server-side dry run): config/default, config/impersonation, config/shards, config/flux
//! (against Flux's CRDs) and config/argocd (against Argo CD's CRDs).

use std::path::PathBuf;

use serverless_e2e::*;

fn kustomize(dir: &str) -> String {
    let out = kubectl(&["kustomize", &repo().join(dir).to_string_lossy()]);
    assert!(out.success, "kustomize build {dir} failed: {}", out.stderr);
    out.stdout
}

async fn apply_crds(dir: PathBuf) {
    let path = dir.to_string_lossy().into_owned();
    let out = kubectl(&["apply", "--server-side", "--force-conflicts", "-f", &path]);
    assert!(out.success, "applying CRDs from {path}: {}", out.stderr);
    // A just-created CRD has no conditions yet, which `kubectl wait` treats as an error.
    wait_for(
        &format!("CRDs from {path} established"),
        std::time::Duration::from_secs(60),
        || async {
            let out = kubectl(&[
                "wait",
                "--for",
                "condition=established",
                "--timeout=10s",
                "-f",
                &path,
            ]);
            if out.success { Ok(()) } else { Err(out.stderr) }
        },
    )
    .await;
}

fn dry_run(dir: &str, yaml: &str) {
    let out = kubectl_with(
        &admin_kubeconfig(),
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            // Objects another test applied (Flux's, say) may hold other values: acceptance,
            // not ownership, is the question here.
            "--force-conflicts",
            "--field-manager=manifests-check",
            "-f",
            "-",
        ],
        Some(yaml),
    );
    assert!(
        out.success,
        "the API server refused {dir}: {}{}",
        out.stdout, out.stderr
    );
    eprintln!("{dir}: {} objects accepted", out.stdout.lines().count());
}

#[tokio::test]
async fn install_manifests_build_and_are_accepted_by_the_api_server() {
    let client = admin_client().await;
    install_crds(&client, false).await;
    // Namespaced objects can only be dry-run into namespaces that exist.
    for ns in [
        "serverless-operator-system",
        "flux-system",
        "argocd",
        "serverless-apps",
    ] {
        let _ = kubectl(&["create", "namespace", ns]);
    }
    dry_run("config/default", &kustomize("config/default"));
    dry_run("config/impersonation", &kustomize("config/impersonation"));
    let shards = kustomize("config/shards");
    dry_run("config/shards", &shards);
    // Two operators, each with the selector and Lease of its shard.
    for expected in [
        "value: '!sharding.fluxcd.io/key'",
        "value: sharding.fluxcd.io/key=shard1",
        "value: serverless-operator-shard1",
        "name: serverless-operator-shard1",
    ] {
        assert_eq!(
            shards.matches(expected).count(),
            1,
            "{expected} in config/shards"
        );
    }
    // ... sharing out one operator's budget of progress writes.
    assert_eq!(
        shards
            .matches(
                "name: PROGRESS_WRITES_PER_SECOND
          value: \"1\""
            )
            .count(),
        2,
        "{shards}"
    );

    apply_crds(PathBuf::from(
        std::env::var("ARGOCD_CRDS").expect("ARGOCD_CRDS (make e2e sets it)"),
    ))
    .await;
    dry_run("config/argocd", &kustomize("config/argocd"));
    dry_run("config/argocd/apps", &kustomize("config/argocd/apps"));

    let flux_crds = flux_crds();
    apply_crds(flux_crds).await;
    dry_run("config/flux", &kustomize("config/flux"));
}

/// Flux's CRDs, from the build of e2e/flux (built on demand).
fn flux_crds() -> PathBuf {
    let out = std::process::Command::new(repo().join("e2e/flux/build.sh"))
        .output()
        .expect("e2e/flux/build.sh runs");
    assert!(
        out.status.success(),
        "e2e/flux/build.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    PathBuf::from(bin).join("crds")
}
