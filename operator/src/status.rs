//! Status: what the app looks like from its children, as kstatus conditions and per-component
//! summaries. Pure: the reconciler gathers the observations and writes the result only if it
//! differs from what is stored.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

use crate::api::{
    ColdStart, ComponentRef, ComponentState, ComponentStatus, PortProtocol, Scaler, ServerlessApp,
    ServerlessAppStatus,
};
use crate::children::keda::{self, KedaStatus};
use crate::reconciler::caches::CachedDeployment;

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// Field managers that scale a Deployment for an autoscaler: the HorizontalPodAutoscaler
/// controller (which also carries out KEDA's ScaledObjects) and KEDA's operator (to and from
/// zero, as upstream's binary `keda` or a build named `keda-operator`).
const AUTOSCALER_MANAGERS: [&str; 3] = ["kube-controller-manager", "keda-operator", "keda"];

/// Why the operator cannot make progress without someone changing something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    /// CamelCase reason, e.g. `KedaNotInstalled`, `ApplyFailed`.
    pub reason: String,
    pub message: String,
}

/// What the reconciler saw in the cluster for one app.
#[derive(Default)]
pub struct Observed<'a> {
    /// The app's Deployments by name.
    pub deployments: BTreeMap<String, &'a CachedDeployment>,
    /// The last cold start of the app's Deployments by name, where one was measured since the
    /// operator started.
    pub cold_starts: BTreeMap<String, ColdStart>,
    /// Status of the app's ScaledObjects by name.
    pub scaled_objects: BTreeMap<String, &'a KedaStatus>,
    /// CRDs some component needs that the cluster lacks.
    pub missing_crds: Vec<&'static str>,
    /// A failure that stops progress (an apply the API server refused, say).
    pub stall: Option<Stall>,
    /// A failure that a retry may still get past (the API server unreachable, say): the app
    /// is not Ready meanwhile, since its children may not match its spec.
    pub retrying: Option<String>,
}

/// The status an app should have. Conditions keep their `lastTransitionTime` from `previous`
/// while their status does not change, so an unchanged app computes an identical status.
pub fn compute(
    app: &ServerlessApp,
    observed: &Observed,
    previous: Option<&ServerlessAppStatus>,
    now: jiff::Timestamp,
) -> ServerlessAppStatus {
    let components: Vec<ComponentStatus> = app
        .components()
        .map(|c| component_status(app, c, observed))
        .map(|mut c| {
            // Measured in memory: after a restart, the status keeps the last one it showed.
            if c.last_cold_start.is_none() {
                c.last_cold_start = previous
                    .and_then(|p| p.components.iter().find(|p| p.name == c.name))
                    .and_then(|p| p.last_cold_start.clone());
            }
            c
        })
        .collect();

    let healthy = |c: &ComponentStatus| {
        matches!(
            c.state,
            ComponentState::Ready | ComponentState::ScaledToZero
        )
    };
    let master = components.first();
    let workers = &components[1.min(components.len())..];

    let missing_keda = (!observed.missing_crds.is_empty()).then(|| Stall {
        reason: "KedaNotInstalled".into(),
        message: format!(
            "CRD {} not installed: install KEDA (and its HTTP add-on for http triggers) for workers {} to scale; the rest of the app is reconciled",
            observed.missing_crds.join(", "),
            components
                .iter()
                .filter(|c| c.state == ComponentState::ScalerMissing)
                .map(|c| format!("`{}`", c.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    // A Deployment past its progress deadline needs someone to change something too.
    let failed: Vec<String> = components
        .iter()
        .filter(|c| c.state == ComponentState::Failed)
        .map(|c| format!("{}: {}", c.name, c.message.as_deref().unwrap_or_default()))
        .collect();
    let deadline = (!failed.is_empty()).then(|| Stall {
        reason: "ProgressDeadlineExceeded".into(),
        message: failed.join("; "),
    });
    let stall = observed.stall.clone().or(deadline).or(missing_keda);
    let not_ready: Vec<String> = components
        .iter()
        .filter(|c| !healthy(c))
        .map(|c| match &c.message {
            Some(m) => format!("{}: {m}", c.name),
            None => c.name.clone(),
        })
        .collect();

    let paused: Vec<&str> = components
        .iter()
        .filter(|c| c.paused)
        .map(|c| c.name.as_str())
        .collect();
    let generation = app.metadata.generation;
    let (ready, ready_reason, ready_message) = match (&stall, not_ready.is_empty()) {
        (Some(s), _) => (false, s.reason.clone(), s.message.clone()),
        (None, _) if observed.retrying.is_some() => (
            false,
            "Retrying".to_string(),
            observed.retrying.clone().unwrap_or_default(),
        ),
        (None, true) => match paused.is_empty() {
            true => (
                true,
                "Ready".to_string(),
                "all components are available".to_string(),
            ),
            // Healthy, and frozen: said so, so nobody waits for an autoscaler that will not act.
            false => (
                true,
                "Paused".to_string(),
                format!(
                    "all components are available; autoscaling paused for {}",
                    paused.join(", ")
                ),
            ),
        },
        (None, false) => (false, "Progressing".to_string(), not_ready.join("; ")),
    };
    let reconciling = stall.is_none() && !ready;

    let condition = |type_: &str, status: bool, reason: &str, message: &str| {
        let status = if status { "True" } else { "False" };
        let since = previous
            .and_then(|p| p.conditions.iter().find(|c| c.type_ == type_))
            .filter(|c| c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(Time(now));
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: generation,
            last_transition_time: since,
        }
    };
    let conditions = vec![
        condition(READY, ready, &ready_reason, &ready_message),
        condition(
            RECONCILING,
            reconciling,
            if reconciling { "Progressing" } else { "Idle" },
            if reconciling { &ready_message } else { "" },
        ),
        match &stall {
            Some(s) => condition(STALLED, true, &s.reason, &s.message),
            None => condition(STALLED, false, "Healthy", ""),
        },
    ];

    ServerlessAppStatus {
        observed_generation: generation,
        conditions,
        master: master.map(|m| format!("{}/{}", m.ready_replicas, m.desired_replicas.unwrap_or(0))),
        workers: Some(format!(
            "{}/{}",
            workers.iter().filter(|c| healthy(c)).count(),
            workers.len()
        )),
        url: master_url(app),
        scalers: scaler_summary(&components),
        components,
    }
}

/// Whether the operator has reported on the app: a status it wrote, not the API server's
/// default (`observedGeneration: 0`, no conditions).
pub fn reported(status: Option<&ServerlessAppStatus>) -> bool {
    status.is_some_and(|s| s.observed_generation.unwrap_or(0) > 0 || !s.conditions.is_empty())
}

/// Whether Ready and Stalled are True: the headline GitOps tools wait on. A change of it is
/// written at once; other changes may wait for the status interval.
pub fn headline(status: Option<&ServerlessAppStatus>) -> (bool, bool) {
    (is(status, READY), is(status, STALLED))
}

fn is(status: Option<&ServerlessAppStatus>, type_: &str) -> bool {
    status.is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True")
    })
}

/// An Event a status transition is worth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// The Events a written status change produces: a Warning when the app becomes Stalled or its
/// stall changes (not on every retry of the same one, so a broken app does not flood Events),
/// and a Normal `Ready` when it becomes Ready again after a stall, or after the operator changed
/// its children (`after_change`: an edit of the app, a hand edit undone), the end of what an
/// `Applied` or `Deleted` Event began. A new app's first rollout has no Event: its status says
/// all of it, and an Event per new app doubled the writes that are not children while apps
/// converge. Nor has a scale-up (a cold start): traffic, not a person, caused it.
pub fn transitions(
    previous: Option<&ServerlessAppStatus>,
    next: &ServerlessAppStatus,
    after_change: bool,
) -> Vec<Transition> {
    let stalled = |s: Option<&ServerlessAppStatus>| {
        s.and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == STALLED && c.status == "True")
        })
        .map(|c| (c.reason.clone(), c.message.clone()))
    };
    let mut out = Vec::new();
    let now = stalled(Some(next));
    if now.is_some()
        && now != stalled(previous)
        && let Some((reason, message)) = now
    {
        out.push(Transition {
            warning: true,
            reason,
            message,
        });
    }
    // A person (or a tool) took the replicas from an autoscaler: once per takeover.
    for component in next.components.iter().filter(|c| c.replicas_overridden) {
        let before = previous.and_then(|p| p.components.iter().find(|c| c.name == component.name));
        if before.is_some_and(|b| {
            b.replicas_overridden && b.replicas_manager == component.replicas_manager
        }) {
            continue;
        }
        out.push(Transition {
            warning: true,
            reason: "ReplicasOverridden".into(),
            message: format!(
                "{}: spec.replicas set to {} by {}, not by its {:?}; it scales again at its next decision",
                component.name,
                component.desired_replicas.unwrap_or_default(),
                component.replicas_manager.as_deref().unwrap_or_default(),
                component.scaler,
            ),
        });
    }
    let recovered = stalled(previous).is_some();
    if is(Some(next), READY) && !is(previous, READY) && (recovered || after_change) {
        out.push(Transition {
            warning: false,
            reason: "Ready".into(),
            message: "all components are available".into(),
        });
    }
    out
}

fn component_status(
    app: &ServerlessApp,
    component: ComponentRef,
    observed: &Observed,
) -> ComponentStatus {
    let name = component.object_name(&app.name_any());
    let scaler = component.scaler();
    let replicas = &component.spec().replicas;
    let keda_status = observed.scaled_objects.get(&name);
    let mut status = ComponentStatus {
        name: component.name().to_string(),
        scaler,
        min_replicas: replicas.min,
        max_replicas: replicas.max,
        scaler_active: keda_status.and_then(|s| s.condition("Active")),
        paused: component.paused(app),
        ..ComponentStatus::default()
    };

    let needed_crd = match scaler {
        Scaler::ScaledObject => Some(keda::SCALED_OBJECT_CRD),
        Scaler::HTTPScaledObject => Some(keda::HTTP_SCALED_OBJECT_CRD),
        _ => None,
    };
    if let Some(crd) = needed_crd.filter(|crd| observed.missing_crds.contains(crd)) {
        status.state = ComponentState::ScalerMissing;
        status.message = Some(format!("{crd} is not installed"));
        return status;
    }

    let Some(deployment) = observed.deployments.get(&name) else {
        status.state = ComponentState::Progressing;
        status.message = Some("Deployment not created yet".into());
        return status;
    };
    status.last_cold_start = observed.cold_starts.get(&name).cloned();
    status.replicas_manager = deployment.owned.replicas_manager.clone();
    // Someone other than the autoscaler and the operator (which holds the starting count).
    status.replicas_overridden = scaler != Scaler::Fixed
        && !deployment.owned.replicas_ours
        && status
            .replicas_manager
            .as_deref()
            .is_some_and(|m| !AUTOSCALER_MANAGERS.contains(&m));
    let desired = deployment.replicas.unwrap_or(1);
    let st = deployment.status.clone().unwrap_or_default();
    let ready = st.ready_replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    let updated = st.updated_replicas.unwrap_or(0);
    let total = st.replicas.unwrap_or(0);
    status.desired_replicas = Some(desired);
    status.ready_replicas = ready;

    // The ReplicaSet's own complaint (a missing ServiceAccount, a quota, an admission denial)
    // is the most useful thing to show when pods do not come up.
    let replica_failure = st
        .conditions
        .iter()
        .flatten()
        .find(|c| {
            c.type_.as_deref() == Some("ReplicaFailure") && c.status.as_deref() == Some("True")
        })
        .and_then(|c| c.message.clone());
    let rolled_out = st.observed_generation >= deployment.metadata.generation;
    (status.state, status.message) = if !rolled_out {
        (
            ComponentState::Progressing,
            Some("Deployment update not yet observed".into()),
        )
    } else if desired == 0 && total == 0 {
        (ComponentState::ScaledToZero, None)
    } else if updated >= desired && available >= desired && total <= desired {
        (ComponentState::Ready, None)
    } else {
        let progress = format!("{available}/{desired} replicas available, {updated} updated");
        let message = match replica_failure {
            Some(failure) => format!("{progress}: {failure}"),
            None => progress,
        };
        let past_deadline = st.conditions.iter().flatten().any(|c| {
            c.type_.as_deref() == Some("Progressing")
                && c.status.as_deref() == Some("False")
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        });
        if past_deadline {
            (
                ComponentState::Failed,
                Some(format!(
                    "Deployment {name} exceeded its progress deadline: {message}"
                )),
            )
        } else {
            (ComponentState::Progressing, Some(message))
        }
    };
    status
}

/// KEDA's view of the worker pools it scales: how many have an active trigger, how many are idle
/// (no active trigger; at zero once the cooldown has passed). None without KEDA-scaled workers.
fn scaler_summary(components: &[ComponentStatus]) -> Option<String> {
    let keda: Vec<_> = components
        .iter()
        .filter(|c| matches!(c.scaler, Scaler::ScaledObject | Scaler::HTTPScaledObject))
        .collect();
    if keda.is_empty() {
        return None;
    }
    let active = keda
        .iter()
        .filter(|c| c.scaler_active == Some(true))
        .count();
    let idle = keda
        .iter()
        .filter(|c| c.scaler_active == Some(false))
        .count();
    let unknown = keda.len() - active - idle;
    let mut parts = vec![format!("{active} active"), format!("{idle} idle")];
    if unknown > 0 {
        parts.push(format!("{unknown} unknown"));
    }
    Some(parts.join(", "))
}

/// In-cluster URL of the master's first port.
fn master_url(app: &ServerlessApp) -> Option<String> {
    let port = app.spec.master.component.ports.first()?;
    let host = format!("{}.{}.svc", app.name_any(), app.namespace()?);
    let scheme = match port.protocol {
        PortProtocol::Http => "http",
        PortProtocol::Grpc => "grpc",
        PortProtocol::Tcp => "tcp",
    };
    Some(format!("{scheme}://{host}:{}", port.port))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use k8s_openapi::api::apps::v1::Deployment;

    use super::*;
    use crate::reconciler::caches::{Cacheable, Owned};
    use crate::testing::TestApp;

    #[test]
    fn a_deployment_past_its_progress_deadline_stalls_the_app() {
        let app = TestApp::new("shop")
            .namespace("prod")
            .stored("uid-1", 2)
            .build();
        let deployment = |reason: &str| -> CachedDeployment {
            serde_json::from_value::<Deployment>(json!({
                "metadata": {"name": "shop", "generation": 1},
                "spec": {"replicas": 1, "selector": {}, "template": {}},
                "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                           "unavailableReplicas": 1,
                           "conditions": [{"type": "Progressing", "status": if reason == "ProgressDeadlineExceeded" { "False" } else { "True" },
                                           "reason": reason}]}
            }))
            .unwrap()
            .into_cached(Default::default())
        };
        let status_with = |d: &CachedDeployment| {
            let observed = Observed {
                deployments: [("shop".to_string(), d)].into(),
                ..Observed::default()
            };
            compute(&app, &observed, None, jiff::Timestamp::UNIX_EPOCH)
        };

        let late = deployment("ProgressDeadlineExceeded");
        let status = status_with(&late);
        let stalled = status
            .conditions
            .iter()
            .find(|c| c.type_ == STALLED)
            .unwrap();
        assert_eq!(
            (stalled.status.as_str(), stalled.reason.as_str()),
            ("True", "ProgressDeadlineExceeded")
        );
        assert!(
            stalled
                .message
                .starts_with("master: Deployment shop exceeded its progress deadline: 0/1"),
            "{}",
            stalled.message
        );
        assert_eq!(status.components[0].state, ComponentState::Failed);

        // Still within the deadline: progressing, not stalled.
        let slow = deployment("ReplicaSetUpdated");
        let status = status_with(&slow);
        let stalled = status
            .conditions
            .iter()
            .find(|c| c.type_ == STALLED)
            .unwrap();
        assert_eq!(stalled.status, "False");
        assert_eq!(status.components[0].state, ComponentState::Progressing);
    }

    #[test]
    fn a_person_scaling_an_autoscaled_component_is_shown_and_told_once() {
        let app = TestApp::new("shop")
            .namespace("prod")
            .stored("uid-1", 2)
            .master(json!({"resources": {"requests": {"cpu": "100m"}}, "replicas": {"min": 1, "max": 3}}))
            .build();
        let held = |manager: &str, ours: bool| -> CachedDeployment {
            serde_json::from_value::<Deployment>(json!({
                "metadata": {"name": "shop", "generation": 1},
                "spec": {"replicas": 2, "selector": {}, "template": {}},
                "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                           "readyReplicas": 2, "availableReplicas": 2}
            }))
            .unwrap()
            .into_cached(Owned {
                fingerprint: None,
                replicas_manager: Some(manager.to_string()),
                replicas_ours: ours,
            })
        };
        let deployment = |manager: &str| held(manager, false);
        let status_with = |d: &CachedDeployment, previous: Option<&ServerlessAppStatus>| {
            let observed = Observed {
                deployments: [("shop".to_string(), d)].into(),
                ..Observed::default()
            };
            compute(&app, &observed, previous, jiff::Timestamp::UNIX_EPOCH)
        };

        // The operator holds the starting count until the autoscaler first scales.
        let starting = status_with(&held("serverless-operator", true), None);
        assert!(!starting.components[0].replicas_overridden);

        let by_hpa = status_with(&deployment("kube-controller-manager"), None);
        let master = &by_hpa.components[0];
        assert_eq!(master.scaler, Scaler::HorizontalPodAutoscaler);
        assert_eq!(
            master.replicas_manager.as_deref(),
            Some("kube-controller-manager")
        );
        assert!(!master.replicas_overridden);
        let overrides = |t: Vec<Transition>| {
            t.into_iter()
                .filter(|t| t.reason == "ReplicasOverridden")
                .count()
        };
        assert_eq!(overrides(transitions(None, &by_hpa, false)), 0);

        let by_person = status_with(&deployment("kubectl"), Some(&by_hpa));
        assert!(by_person.components[0].replicas_overridden);
        let told = transitions(Some(&by_hpa), &by_person, false);
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(told[0].warning);
        assert_eq!(told[0].reason, "ReplicasOverridden");
        assert!(
            told[0].message.contains("set to 2 by kubectl"),
            "{}",
            told[0].message
        );
        // The Ready condition is untouched: the replicas are available.
        assert!(is(Some(&by_person), READY));
        // Once per takeover.
        assert_eq!(
            overrides(transitions(Some(&by_person), &by_person, false)),
            0
        );

        // The autoscaler takes them back: no longer overridden.
        let back = status_with(&deployment("kube-controller-manager"), Some(&by_person));
        assert!(!back.components[0].replicas_overridden);
        assert_eq!(overrides(transitions(Some(&by_person), &back, false)), 0);
    }

    fn with_conditions(conditions: &[(&str, &str, &str)]) -> ServerlessAppStatus {
        ServerlessAppStatus {
            conditions: conditions
                .iter()
                .map(|(type_, status, reason)| Condition {
                    type_: type_.to_string(),
                    status: status.to_string(),
                    reason: reason.to_string(),
                    message: format!("{reason} message"),
                    observed_generation: Some(1),
                    last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
                })
                .collect(),
            ..ServerlessAppStatus::default()
        }
    }

    #[test]
    fn events_tell_of_becoming_ready_again_and_of_each_new_stall_once() {
        let generation = |mut status: ServerlessAppStatus, generation| {
            status.observed_generation = Some(generation);
            status
        };
        let progressing = generation(
            with_conditions(&[
                (READY, "False", "Progressing"),
                (STALLED, "False", "Healthy"),
            ]),
            2,
        );
        let ready = generation(
            with_conditions(&[(READY, "True", "Ready"), (STALLED, "False", "Healthy")]),
            2,
        );
        let first = |status: &ServerlessAppStatus| generation(status.clone(), 1);
        let stalled =
            |reason| with_conditions(&[(READY, "False", reason), (STALLED, "True", reason)]);
        let reasons = |previous: Option<&ServerlessAppStatus>,
                       next: &ServerlessAppStatus,
                       after_change: bool| {
            transitions(previous, next, after_change)
                .into_iter()
                .map(|t| (t.warning, t.reason))
                .collect::<Vec<_>>()
        };

        assert_eq!(reasons(None, &progressing, false), vec![]);
        // The end of an update the operator applied.
        assert_eq!(
            reasons(Some(&progressing), &ready, true),
            vec![(false, "Ready".to_string())]
        );
        // A worker scaled up (a cold start), the spec unchanged: no news for a person.
        assert_eq!(reasons(Some(&progressing), &ready, false), vec![]);
        // A new app's first rollout.
        assert_eq!(reasons(None, &first(&ready), false), vec![]);
        assert_eq!(
            reasons(Some(&first(&progressing)), &first(&ready), false),
            vec![]
        );
        // Ready all along: nothing became Ready.
        assert_eq!(reasons(Some(&ready), &ready, true), vec![]);
        let failed = stalled("ApplyFailed");
        assert_eq!(
            reasons(Some(&ready), &failed, false),
            vec![(true, "ApplyFailed".to_string())]
        );
        // The same stall again (a retry) is not news; another one is.
        assert_eq!(reasons(Some(&failed), &failed, false), vec![]);
        assert_eq!(
            reasons(Some(&failed), &stalled("NotOwned"), false),
            vec![(true, "NotOwned".to_string())]
        );
        assert_eq!(
            reasons(Some(&failed), &ready, false),
            vec![(false, "Ready".to_string())],
            "recovered from a stall"
        );
        assert_eq!(
            reasons(Some(&first(&failed)), &first(&ready), false),
            vec![(false, "Ready".to_string())],
            "recovered from a stall"
        );
        assert_eq!(headline(Some(&failed)), (false, true));
        // The API server's default status is not a report.
        let defaulted = ServerlessAppStatus {
            observed_generation: Some(0),
            ..ServerlessAppStatus::default()
        };
        assert!(!reported(None) && !reported(Some(&defaulted)));
        assert!(reported(Some(&ready)) && reported(Some(&first(&failed))));
        assert_eq!(headline(Some(&ready)), (true, false));
        assert_eq!(headline(None), (false, false));
    }
}
