//! KEDA objects: a ScaledObject for event triggers, an HTTPScaledObject for the HTTP add-on.
//!
//! The types hold only the fields the operator sets (plus the status it reads), every one optional
//! and skipped when empty, so server-side apply claims nothing else.

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscalerBehavior};
use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::Component;
use super::autoscaler::resource_targets;
use crate::api::{AuthenticationKind, MetricType, Trigger};
use crate::error::{Error, Result};

/// CRD a ScaledObject needs.
pub const SCALED_OBJECT_CRD: &str = "scaledobjects.keda.sh";
/// CRD an HTTPScaledObject needs.
pub const HTTP_SCALED_OBJECT_CRD: &str = "httpscaledobjects.http.keda.sh";

/// Target concurrency when an HTTP trigger names neither concurrency nor rate.
pub const DEFAULT_TARGET_CONCURRENCY: i32 = 100;

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "keda.sh",
    version = "v1alpha1",
    kind = "ScaledObject",
    namespaced,
    status = "KedaStatus",
    derive = "PartialEq",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct ScaledObjectSpec {
    pub scale_target_ref: ScaleTargetRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replica_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replica_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_replica_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling_interval: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_period: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<KedaFallback>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced: Option<Advanced>,
    #[serde(default)]
    pub triggers: Vec<KedaTrigger>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KedaFallback {
    pub failure_threshold: i32,
    pub replicas: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Advanced {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizontal_pod_autoscaler_config: Option<HorizontalPodAutoscalerConfig>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HorizontalPodAutoscalerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KedaTrigger {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_ref: Option<KedaAuthenticationRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_cached_metrics: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct KedaAuthenticationRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The part of a KEDA object's status the operator reads.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct KedaStatus {
    #[serde(default)]
    pub conditions: Vec<KedaCondition>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct KedaCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl KedaStatus {
    /// `Some(true)` when the named condition is True, `Some(false)` when False, else None.
    pub fn condition(&self, type_: &str) -> Option<bool> {
        self.conditions
            .iter()
            .find(|c| c.type_ == type_)
            .and_then(|c| match c.status.as_str() {
                "True" => Some(true),
                "False" => Some(false),
                _ => None,
            })
    }
}

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "http.keda.sh",
    version = "v1alpha1",
    kind = "HTTPScaledObject",
    namespaced,
    status = "KedaStatus",
    derive = "PartialEq",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct HTTPScaledObjectSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_prefixes: Vec<String>,
    pub scale_target_ref: HttpScaleTargetRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<HttpReplicas>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaledown_period: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling_metric: Option<ScalingMetric>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpScaleTargetRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub service: String,
    pub port: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HttpReplicas {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScalingMetric {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencyTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<RequestRateTarget>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConcurrencyTarget {
    pub target_value: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RequestRateTarget {
    pub target_value: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<String>,
}

/// How long a worker's last replica stays after its last activity: `cooldownSeconds`, or the
/// scale-down window that applies to the others, so one setting governs every step down.
fn cooldown(ctx: &Component) -> Option<i32> {
    ctx.component
        .worker()
        .and_then(|w| w.cooldown_seconds)
        .or_else(|| {
            ctx.component
                .spec()
                .scale_down
                .as_ref()
                .and_then(|s| s.stabilization_window_seconds)
        })
}

/// KEDA's annotation pausing a ScaledObject at its current replicas (KEDA 2.13 and later).
pub const PAUSED: &str = "autoscaling.keda.sh/paused";

/// ScaledObject of a worker with event triggers. CPU/memory targets become KEDA `cpu`/`memory`
/// triggers, since KEDA's own HPA must be the only one on the Deployment.
pub(crate) fn scaled_object(ctx: &Component) -> ScaledObject {
    let spec = ctx.component.spec();
    let worker = ctx.component.worker();
    let mut triggers: Vec<KedaTrigger> = worker
        .map(|w| w.triggers.iter().map(keda_trigger).collect())
        .unwrap_or_default();
    if spec.autoscaling.is_some() {
        triggers.extend(resource_targets(spec.autoscaling.as_ref()).into_iter().map(
            |(resource, utilization)| KedaTrigger {
                type_: resource.into(),
                metric_type: Some("Utilization".into()),
                metadata: BTreeMap::from([("value".into(), utilization.to_string())]),
                ..KedaTrigger::default()
            },
        ));
    }
    let mut metadata = ctx.metadata(ctx.name.clone());
    if ctx.component.paused(ctx.app) {
        // KEDA keeps the current replicas while this is set, and resumes from them without it.
        metadata.annotations = Some(BTreeMap::from([(PAUSED.into(), "true".into())]));
    }
    ScaledObject {
        metadata,
        spec: ScaledObjectSpec {
            scale_target_ref: ScaleTargetRef {
                api_version: Some("apps/v1".into()),
                kind: Some("Deployment".into()),
                name: ctx.name.clone(),
            },
            min_replica_count: Some(spec.replicas.min),
            max_replica_count: Some(spec.replicas.max),
            idle_replica_count: worker.and_then(|w| w.idle_replicas),
            polling_interval: worker.and_then(|w| w.polling_interval_seconds),
            cooldown_period: cooldown(ctx),
            fallback: worker
                .and_then(|w| w.fallback.as_ref())
                .map(|f| KedaFallback {
                    failure_threshold: f.failure_threshold,
                    replicas: f.replicas,
                }),
            advanced: spec.scale_down.as_deref().cloned().map(scale_down_behavior),
            triggers,
        },
        status: None,
    }
}

fn scale_down_behavior(scale_down: HPAScalingRules) -> Advanced {
    Advanced {
        horizontal_pod_autoscaler_config: Some(HorizontalPodAutoscalerConfig {
            behavior: Some(HorizontalPodAutoscalerBehavior {
                scale_down: Some(scale_down),
                scale_up: None,
            }),
        }),
    }
}

fn keda_trigger(trigger: &Trigger) -> KedaTrigger {
    KedaTrigger {
        type_: trigger.type_.clone(),
        name: trigger.name.clone(),
        metadata: trigger.metadata.clone(),
        authentication_ref: trigger
            .authentication_ref
            .as_ref()
            .map(|a| KedaAuthenticationRef {
                name: a.name.clone(),
                kind: a.kind.map(|k| match k {
                    AuthenticationKind::TriggerAuthentication => "TriggerAuthentication".into(),
                    AuthenticationKind::ClusterTriggerAuthentication => {
                        "ClusterTriggerAuthentication".into()
                    }
                }),
            }),
        metric_type: trigger.metric_type.map(|m| {
            match m {
                MetricType::AverageValue => "AverageValue",
                MetricType::Value => "Value",
                MetricType::Utilization => "Utilization",
            }
            .into()
        }),
        use_cached_metrics: trigger.use_cached_metrics,
    }
}

/// HTTPScaledObject of a worker with an HTTP trigger: the add-on routes the hosts/paths to the
/// worker's Service and scales its Deployment from zero.
pub(crate) fn http_scaled_object(ctx: &Component) -> Result<HTTPScaledObject> {
    let spec = ctx.component.spec();
    let worker = ctx.component.worker();
    let http = worker.and_then(|w| w.http.clone()).unwrap_or_default();
    let port = match &http.port {
        Some(name) => spec.ports.iter().find(|p| &p.name == name),
        None => spec.ports.first(),
    }
    .ok_or_else(|| Error::UnknownPort {
        component: ctx.component.name().to_string(),
        port: http.port.clone().unwrap_or_default(),
    })?;
    let scaling_metric = match (&http.request_rate, http.target_concurrency) {
        (Some(rate), _) => ScalingMetric {
            request_rate: Some(RequestRateTarget {
                target_value: rate.target_value,
                window: rate.window.clone(),
                granularity: rate.granularity.clone(),
            }),
            concurrency: None,
        },
        (None, concurrency) => ScalingMetric {
            concurrency: Some(ConcurrencyTarget {
                target_value: concurrency.unwrap_or(DEFAULT_TARGET_CONCURRENCY),
            }),
            request_rate: None,
        },
    };
    Ok(HTTPScaledObject {
        metadata: ctx.metadata(ctx.name.clone()),
        spec: HTTPScaledObjectSpec {
            hosts: http.hosts.clone(),
            path_prefixes: http.path_prefixes.clone(),
            scale_target_ref: HttpScaleTargetRef {
                name: ctx.name.clone(),
                kind: Some("Deployment".into()),
                api_version: Some("apps/v1".into()),
                service: ctx.name.clone(),
                port: port.port,
            },
            replicas: Some(HttpReplicas {
                min: Some(spec.replicas.min),
                max: Some(spec.replicas.max),
            }),
            scaledown_period: cooldown(ctx),
            scaling_metric: Some(scaling_metric),
        },
        status: None,
    })
}
