//! A component's Deployment and its pod template.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, PodSecurityContext,
    PodSpec, PodTemplateSpec, SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::ResourceExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Component;
use crate::api::Scaler;
use crate::error::{Error, Result};

pub fn deployment(ctx: &Component) -> Result<Deployment> {
    // An autoscaler owns `replicas` unless the size is fixed: leaving it out keeps the operator
    // and the HPA (or KEDA, or a GitOps tool) from fighting over it.
    let replicas = match ctx.component.scaler() {
        Scaler::Fixed => Some(ctx.component.spec().replicas.min),
        _ => None,
    };
    Ok(Deployment {
        metadata: ctx.metadata(ctx.name.clone()),
        spec: DeploymentSpec {
            replicas,
            selector: LabelSelector {
                match_labels: Some(ctx.selector()),
                ..LabelSelector::default()
            },
            template: pod_template(ctx)?,
            ..DeploymentSpec::default()
        },
        status: None,
    })
}

fn pod_template(ctx: &Component) -> Result<PodTemplateSpec> {
    let app = &ctx.app.spec;
    let spec = ctx.component.spec();
    let image = spec
        .image
        .as_ref()
        .or(app.image.as_ref())
        .cloned()
        .ok_or_else(|| Error::MissingImage {
            component: ctx.component.name().to_string(),
        })?;

    // User labels first so the selector labels always win.
    let mut labels: BTreeMap<String, String> = app.pod_labels.clone();
    labels.extend(spec.pod_labels.clone());
    labels.extend(crate::labels::standard(
        &ctx.app.name_any(),
        ctx.component.name(),
    ));
    let mut annotations = app.pod_annotations.clone();
    annotations.extend(spec.pod_annotations.clone());

    let env_from: Vec<_> = app.env_from.iter().chain(&spec.env_from).cloned().collect();
    let placement = spec.placement.clone().unwrap_or_default();

    let container = Container {
        name: ctx.component.name().to_string(),
        image: Some(image),
        command: non_empty(spec.command.clone()),
        args: non_empty(spec.args.clone()),
        env: non_empty(merge_env(&app.env, &spec.env)),
        env_from: non_empty(env_from),
        ports: non_empty(
            spec.ports
                .iter()
                .map(|p| ContainerPort {
                    name: Some(p.name.clone()),
                    container_port: p.port,
                    protocol: Some("TCP".into()),
                    ..ContainerPort::default()
                })
                .collect(),
        ),
        resources: spec.resources.as_deref().cloned(),
        readiness_probe: spec.readiness_probe.as_deref().cloned(),
        liveness_probe: spec.liveness_probe.as_deref().cloned(),
        startup_probe: spec.startup_probe.as_deref().cloned(),
        volume_mounts: Some(vec![VolumeMount {
            name: TMP_VOLUME.into(),
            mount_path: "/tmp".into(),
            ..VolumeMount::default()
        }]),
        security_context: Some(merge_over(
            restricted_container_security_context(),
            [
                app.security_context.as_deref(),
                spec.security_context.as_deref(),
            ],
        )),
        ..Container::default()
    };

    Ok(PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container],
            // The root filesystem is read-only by default; programs still expect a /tmp.
            volumes: Some(vec![Volume {
                name: TMP_VOLUME.into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            }]),
            service_account_name: spec
                .service_account_name
                .clone()
                .or_else(|| app.service_account_name.clone()),
            image_pull_secrets: non_empty(app.image_pull_secrets.clone()),
            security_context: Some(merge_over(
                restricted_pod_security_context(),
                [app.pod_security_context.as_deref()],
            )),
            // Service links put one env var per Service in every pod; with many small functions in
            // a namespace that is noise at best and an over-long environment at worst.
            enable_service_links: Some(false),
            node_selector: (!placement.node_selector.is_empty()).then_some(placement.node_selector),
            affinity: placement.affinity,
            tolerations: non_empty(placement.tolerations),
            topology_spread_constraints: non_empty(placement.topology_spread_constraints),
            ..PodSpec::default()
        }),
    })
}

/// The app's env with the component's on top: same name replaces in place, new names append.
fn merge_env(app: &[EnvVar], component: &[EnvVar]) -> Vec<EnvVar> {
    let mut env: Vec<EnvVar> = app.to_vec();
    for var in component {
        match env.iter_mut().find(|e| e.name == var.name) {
            Some(existing) => *existing = var.clone(),
            None => env.push(var.clone()),
        }
    }
    env
}

/// The writable `/tmp` of every pod.
const TMP_VOLUME: &str = "tmp";

/// The user and group pods run as unless the app says otherwise: not root, and not a UID that
/// exists on the node (the "nonroot" user of distroless images, also the Flask sample's).
const DEFAULT_UID: i64 = 65532;

/// Pod-level settings that pass Pod Security "restricted". User and group sit here, not on the
/// container, so that the app's `podSecurityContext` can change them too.
fn restricted_pod_security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(DEFAULT_UID),
        run_as_group: Some(DEFAULT_UID),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}

/// Container-level settings that pass Pod Security "restricted", and a read-only root filesystem
/// (what an image writes at run time goes to /tmp or to a volume).
fn restricted_container_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    }
}

/// `base` with each override laid over it field by field (later wins), so a user who sets one
/// field keeps the restricted defaults for the others.
fn merge_over<'a, T: 'a + Serialize + DeserializeOwned + Clone>(
    base: T,
    overrides: impl IntoIterator<Item = Option<&'a T>>,
) -> T {
    let Ok(mut merged) = serde_json::to_value(&base) else {
        return base;
    };
    for over in overrides.into_iter().flatten() {
        if let Ok(over) = serde_json::to_value(over) {
            merge_json(&mut merged, over);
        }
    }
    serde_json::from_value(merged).unwrap_or(base)
}

fn merge_json(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(base), serde_json::Value::Object(over)) => {
            for (key, value) in over {
                merge_json(base.entry(key).or_insert(serde_json::Value::Null), value);
            }
        }
        (base, over) => *base = over,
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            ..EnvVar::default()
        }
    }

    #[test]
    fn component_env_replaces_app_env_by_name_and_keeps_order() {
        let merged = merge_env(
            &[var("A", "1"), var("B", "2")],
            &[var("B", "20"), var("C", "3")],
        );
        let pairs: Vec<_> = merged
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(pairs, [("A", "1"), ("B", "20"), ("C", "3")]);
    }

    #[test]
    fn security_override_keeps_other_restricted_defaults() {
        let over = SecurityContext {
            read_only_root_filesystem: Some(false),
            allow_privilege_escalation: Some(true),
            ..SecurityContext::default()
        };
        let merged = merge_over(restricted_container_security_context(), [Some(&over)]);
        assert_eq!(merged.read_only_root_filesystem, Some(false));
        assert_eq!(merged.allow_privilege_escalation, Some(true));
        assert_eq!(
            merged.capabilities.and_then(|c| c.drop),
            Some(vec!["ALL".to_string()])
        );
    }
}
