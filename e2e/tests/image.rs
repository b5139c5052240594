//! The operator's image as `make image` writes it (operator/image.sh): reproducible, one static
//! binary owned by root and run as 65532, the OCI labels; and the same layout from
//! operator/Containerfile built with Buildah (`make image-containerfile`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use serverless_e2e::repo;

/// The static binary `make e2e` built for the image, or None outside `make e2e`.
fn image_binary() -> Option<PathBuf> {
    std::env::var_os("IMAGE_BINARY").map(PathBuf::from)
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An OCI image layout with one image: its manifest, config and layer blobs.
struct Layout {
    dir: PathBuf,
    manifest_digest: String,
    manifest: Value,
    config: Value,
}

impl Layout {
    fn open(dir: &Path) -> Layout {
        let index = read_json(&dir.join("index.json"));
        let manifests = index["manifests"].as_array().expect("manifests");
        assert_eq!(manifests.len(), 1, "one image in {}", dir.display());
        let manifest_digest = manifests[0]["digest"].as_str().expect("digest").to_string();
        let manifest = read_json(&blob_path(dir, &manifest_digest));
        let config = read_json(&blob_path(
            dir,
            manifest["config"]["digest"]
                .as_str()
                .expect("config digest"),
        ));
        Layout {
            dir: dir.to_path_buf(),
            manifest_digest,
            manifest,
            config,
        }
    }

    /// `tar -tv` of each layer: (mode, owner, size, name) per entry.
    fn entries(&self) -> Vec<(String, String, u64, String)> {
        let mut entries = Vec::new();
        for layer in self.manifest["layers"].as_array().expect("layers") {
            let path = blob_path(&self.dir, layer["digest"].as_str().expect("digest"));
            let out = Command::new("tar")
                .args(["--numeric-owner", "-tvf"])
                .arg(&path)
                .output()
                .expect("tar runs");
            assert!(out.status.success(), "tar: {:?}", out);
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let fields: Vec<&str> = line.split_whitespace().collect();
                entries.push((
                    fields[0].to_string(),
                    fields[1].to_string(),
                    fields[2].parse().expect("size"),
                    fields[5..].join(" "),
                ));
            }
        }
        entries
    }
}

fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").expect("sha256 digest"))
}

fn build(binary: &Path, out: &Path) -> String {
    let out_put = Command::new(repo().join("operator/image.sh"))
        .arg(binary)
        .arg(out)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("IMAGE_REVISION", "0123456789abcdef")
        .output()
        .expect("image.sh runs");
    assert!(
        out_put.status.success(),
        "image.sh: {}",
        String::from_utf8_lossy(&out_put.stderr)
    );
    String::from_utf8_lossy(&out_put.stdout).trim().to_string()
}

#[test]
fn the_image_is_reproducible_and_minimal() {
    let Some(binary) = image_binary() else {
        eprintln!("IMAGE_BINARY is not set: run through `make e2e`, which builds the image");
        return;
    };
    let tmp = repo().join("target/e2e-image");
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    let first = build(&binary, &a);
    let second = build(&binary, &b);
    assert_eq!(first, second, "two builds of one binary differ");
    assert!(first.starts_with("sha256:"), "digest printed: {first}");

    let layout = Layout::open(&a);
    assert_eq!(layout.manifest_digest, first);
    let config = &layout.config["config"];
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/serverless-operator"])
    );
    assert_eq!(config["Cmd"], serde_json::json!(["run"]));
    let labels = &config["Labels"];
    for key in ["source", "revision", "version", "licenses", "created"] {
        let value = labels[format!("org.opencontainers.image.{key}")]
            .as_str()
            .unwrap_or_default();
        assert!(!value.is_empty(), "label {key} missing: {labels}");
    }
    assert_eq!(
        labels["org.opencontainers.image.revision"],
        "0123456789abcdef"
    );
    assert_eq!(
        layout.config["created"], "2023-11-14T22:13:20Z",
        "created from SOURCE_DATE_EPOCH"
    );
    assert_eq!(layout.config["architecture"], "amd64");

    // One file: the binary, root-owned, executable; no shell, no libc, nothing else.
    let size = std::fs::metadata(&binary).expect("binary").len();
    assert_eq!(
        layout.entries(),
        vec![(
            "-rwxr-xr-x".to_string(),
            "0/0".to_string(),
            size,
            "serverless-operator".to_string()
        )]
    );
    let layer = &layout.manifest["layers"][0];
    eprintln!(
        "image: {first}, {:.1} MiB compressed, binary {:.1} MiB",
        layer["size"].as_f64().unwrap_or(0.0) / 1048576.0,
        size as f64 / 1048576.0
    );
}

/// `make image` names the image as config/default asks for it: same repository, same tag.
#[test]
fn config_default_asks_for_the_image_make_builds() {
    if image_binary().is_none() {
        eprintln!("IMAGE_BINARY is not set: run through `make e2e`, which builds the image");
        return;
    }
    let index = read_json(&repo().join("target/image/oci/index.json"));
    let built = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .expect("ref name")
        .to_string();
    let text = std::fs::read_to_string(repo().join("config/default/kustomization.yaml"))
        .expect("config/default");
    let kustomization: Value = serde_saphyr::from_str(&text).expect("yaml");
    let image = &kustomization["images"][0];
    let asked = format!(
        "{}:{}",
        image["name"].as_str().expect("name"),
        image["newTag"].as_str().expect("newTag")
    );
    assert_eq!(built, asked);
    assert_eq!(
        asked,
        format!(
            "ghcr.io/serverless-operator/serverless-operator:v{}",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn the_containerfile_builds_the_same_layout() {
    let Some(binary) = image_binary() else {
        eprintln!("IMAGE_BINARY is not set: run through `make e2e`, which builds the image");
        return;
    };
    let ours = Layout::open(&repo().join("target/image/oci"));
    let theirs = Layout::open(&repo().join("target/image/containerfile"));
    // Same files with the same modes and sizes; Buildah writes its own times and owners' names.
    let names = |l: &Layout| -> Vec<(String, u64, String)> {
        l.entries()
            .into_iter()
            .map(|(mode, _, size, name)| (mode, size, name.trim_start_matches("./").to_string()))
            .filter(|(_, _, name)| !name.is_empty() && name != ".")
            .collect()
    };
    assert_eq!(names(&theirs), names(&ours));
    assert_eq!(
        names(&ours)[0].1,
        std::fs::metadata(&binary).expect("binary").len()
    );
    for key in ["User", "Entrypoint", "Cmd"] {
        assert_eq!(
            theirs.config["config"][key], ours.config["config"][key],
            "{key}"
        );
    }
    for (key, value) in ours.config["config"]["Labels"].as_object().expect("labels") {
        if key != "org.opencontainers.image.created" {
            assert_eq!(
                &theirs.config["config"]["Labels"][key], value,
                "label {key}"
            );
        }
    }
}
