//! The binary as a user runs it: `render` on files and stdin, its exit codes and messages,
//! `crd`, `version` and `--help`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn operator(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_serverless-operator"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut pipe = child.stdin.take().expect("stdin");
    pipe.write_all(stdin.unwrap_or_default().as_bytes())
        .expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("binary exits")
}

#[test]
fn render_prints_children_of_a_file_and_of_stdin() {
    let out = operator(&["render", "-f", "samples/queue-worker.yaml"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8_lossy(&out.stdout);
    for kind in [
        "kind: Deployment",
        "kind: Service",
        "kind: HorizontalPodAutoscaler",
        "kind: ScaledObject",
    ] {
        assert!(yaml.contains(kind), "missing {kind}");
    }
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../samples/queue-worker.yaml"
    ))
    .unwrap();
    let from_stdin = operator(&["render", "-f", "-"], Some(&sample));
    assert!(from_stdin.status.success());
    assert_eq!(from_stdin.stdout, out.stdout);
}

#[test]
fn render_rejects_a_broken_app_like_the_api_server() {
    let out = operator(
        &["render", "-f", "samples/invalid/min-above-max.yaml"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "error: The ServerlessApp \"broken\" is invalid: spec.workers[0].replicas: Invalid value: replicas.min must not exceed replicas.max"
    );
    let missing = operator(&["render", "-f", "does-not-exist.yaml"], None);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does-not-exist.yaml"));
    let garbage = operator(&["render", "-f", "-"], Some("apiVersion: [unclosed"));
    assert_eq!(garbage.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&garbage.stderr).contains("reading YAML"));
}

#[test]
fn crd_version_and_help() {
    let crd = operator(&["crd"], None);
    assert!(crd.status.success());
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crds/serverlessapps.serverless-operator.dev.yaml"
    ))
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&crd.stdout), committed);
    let version = operator(&["version"], None);
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("serverless-operator "));
    let help = operator(&["--help"], None);
    let help = String::from_utf8_lossy(&help.stdout);
    for command in ["run", "crd", "render", "diff", "version"] {
        assert!(help.contains(command), "--help lacks {command}");
    }
    let run_help = operator(&["run", "--help"], None);
    let run_help = String::from_utf8_lossy(&run_help.stdout);
    for flag in [
        "--namespace",
        "--concurrency",
        "--resync-seconds",
        "--metrics-addr",
        "--leader-elect",
        "--log-format",
    ] {
        assert!(run_help.contains(flag), "run --help lacks {flag}");
    }
}
