//! The HorizontalPodAutoscaler of a component that scales on CPU/memory with min >= 1.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
    ResourceMetricSource,
};

use super::Component;
use crate::api::Autoscaling;

/// CPU target used when a component scales but names no target of its own.
pub const DEFAULT_CPU_UTILIZATION: i32 = 80;

pub fn horizontal_pod_autoscaler(ctx: &Component) -> HorizontalPodAutoscaler {
    let spec = ctx.component.spec();
    HorizontalPodAutoscaler {
        metadata: ctx.metadata(ctx.name.clone()),
        spec: HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: ctx.name.clone(),
            },
            min_replicas: Some(spec.replicas.min),
            max_replicas: spec.replicas.max,
            metrics: Some(
                resource_targets(spec.autoscaling.as_ref())
                    .into_iter()
                    .map(|(resource, utilization)| MetricSpec {
                        type_: "Resource".into(),
                        resource: Some(ResourceMetricSource {
                            name: resource.into(),
                            target: MetricTarget {
                                type_: "Utilization".into(),
                                average_utilization: Some(utilization),
                                ..MetricTarget::default()
                            },
                        }),
                        ..MetricSpec::default()
                    })
                    .collect(),
            ),
            behavior: if ctx.component.paused(ctx.app) {
                // Held: the HPA keeps computing and reporting, and scales neither way.
                let disabled = || HPAScalingRules {
                    select_policy: Some("Disabled".into()),
                    ..HPAScalingRules::default()
                };
                Some(HorizontalPodAutoscalerBehavior {
                    scale_down: Some(disabled()),
                    scale_up: Some(disabled()),
                })
            } else {
                spec.scale_down.as_deref().cloned().map(|scale_down| {
                    HorizontalPodAutoscalerBehavior {
                        scale_down: Some(scale_down),
                        scale_up: None,
                    }
                })
            },
        },
        status: None,
    }
}

/// (resource, utilization percent) pairs; CPU at the default when nothing is set.
pub fn resource_targets(autoscaling: Option<&Autoscaling>) -> Vec<(&'static str, i32)> {
    let Some(a) = autoscaling else {
        return vec![("cpu", DEFAULT_CPU_UTILIZATION)];
    };
    [("cpu", a.cpu_utilization), ("memory", a.memory_utilization)]
        .into_iter()
        .filter_map(|(name, target)| target.map(|t| (name, t)))
        .collect()
}
