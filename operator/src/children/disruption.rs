//! A component's PodDisruptionBudget: voluntary disruptions (a node drain, a cluster upgrade)
//! keep `min - 1` of its pods available. Only for a component that always runs at least two:
//! one that may scale to zero or runs a single replica would block every drain.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Component;

pub fn pod_disruption_budget(ctx: &Component) -> Option<PodDisruptionBudget> {
    let min = ctx.component.spec().replicas.min;
    if min < 2 {
        return None;
    }
    Some(PodDisruptionBudget {
        metadata: ctx.metadata(ctx.name.clone()),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(min - 1)),
            selector: Some(LabelSelector {
                match_labels: Some(ctx.selector()),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    })
}
