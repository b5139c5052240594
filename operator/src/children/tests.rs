use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;

use super::*;
use crate::api::ServerlessApp;
use crate::diff::HASH_ANNOTATION;

fn app(spec: serde_json::Value) -> ServerlessApp {
    serde_json::from_value(json!({
        "apiVersion": "serverless-operator.dev/v1alpha1",
        "kind": "ServerlessApp",
        "metadata": {"name": "shop", "namespace": "prod", "uid": "uid-1"},
        "spec": spec,
    }))
    .unwrap()
}

fn spec_with_workers(workers: serde_json::Value) -> serde_json::Value {
    json!({
        "image": "img:1",
        "master": {"ports": [{"name": "http", "port": 8080}], "replicas": {"min": 1, "max": 1}},
        "workers": workers,
    })
}

fn kinds_of(children: &[Child], name: &str) -> Vec<ChildKind> {
    children
        .iter()
        .filter(|c| c.name() == name)
        .map(Child::kind)
        .collect()
}

fn deployment<'a>(children: &'a [Child], name: &str) -> &'a Deployment {
    children
        .iter()
        .find_map(|c| match c {
            Child::Deployment(d) if d.metadata.name.as_deref() == Some(name) => Some(d),
            _ => None,
        })
        .unwrap()
}

#[test]
fn the_mapping_table_per_scaling_mode() {
    let app = app(spec_with_workers(json!([
        {"name": "fixed", "replicas": {"min": 2, "max": 2}},
        {"name": "cpu", "replicas": {"min": 1, "max": 4}},
        {"name": "queue", "replicas": {"min": 0, "max": 4}, "triggers": [{"type": "cron"}]},
        {"name": "web", "ports": [{"name": "http", "port": 80}], "replicas": {"min": 0, "max": 4},
         "http": {"hosts": ["a.example"]}},
    ])));
    let children = desired(&app).unwrap();
    use ChildKind::*;
    assert_eq!(kinds_of(&children, "shop"), [Deployment, Service]);
    assert_eq!(
        kinds_of(&children, "shop-fixed"),
        [Deployment, PodDisruptionBudget]
    );
    assert_eq!(
        kinds_of(&children, "shop-cpu"),
        [Deployment, HorizontalPodAutoscaler]
    );
    assert_eq!(
        kinds_of(&children, "shop-queue"),
        [Deployment, ScaledObject]
    );
    assert_eq!(
        kinds_of(&children, "shop-web"),
        [Deployment, Service, HTTPScaledObject]
    );

    // replicas only where no autoscaler owns it
    assert_eq!(deployment(&children, "shop").spec.replicas, Some(1));
    assert_eq!(deployment(&children, "shop-fixed").spec.replicas, Some(2));
    for scaled in ["shop-cpu", "shop-queue", "shop-web"] {
        assert_eq!(
            deployment(&children, scaled).spec.replicas,
            None,
            "{scaled}"
        );
    }
}

#[test]
fn never_an_hpa_and_a_scaled_object_on_one_deployment() {
    // Resource targets on a KEDA worker become KEDA triggers, not an HPA.
    let app = app(spec_with_workers(json!([
        {"name": "mixed", "replicas": {"min": 0, "max": 4}, "resources": {"requests": {"cpu": "1"}},
         "autoscaling": {"cpuUtilization": 60}, "triggers": [{"type": "cron"}]},
    ])));
    let children = desired(&app).unwrap();
    assert_eq!(
        kinds_of(&children, "shop-mixed"),
        [ChildKind::Deployment, ChildKind::ScaledObject]
    );
    let so = children
        .iter()
        .find_map(|c| match c {
            Child::ScaledObject(s) => Some(s),
            _ => None,
        })
        .unwrap();
    let types: Vec<_> = so.spec.triggers.iter().map(|t| t.type_.as_str()).collect();
    assert_eq!(types, ["cron", "cpu"]);
    assert_eq!(so.spec.triggers[1].metadata["value"], "60");
    assert_eq!(so.spec.min_replica_count, Some(0));
}

#[test]
fn every_child_is_labelled_owned_and_hashed() {
    let app = app(spec_with_workers(json!([
        {"name": "queue", "replicas": {"min": 0, "max": 4}, "triggers": [{"type": "cron"}]},
    ])));
    for child in desired(&app).unwrap() {
        let value = child.to_json().unwrap();
        let meta = &value["metadata"];
        assert_eq!(meta["namespace"], "prod");
        assert_eq!(meta["labels"][crate::labels::APP_LABEL], "shop");
        assert_eq!(
            meta["labels"]["app.kubernetes.io/managed-by"],
            "serverless-operator"
        );
        assert_eq!(meta["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(meta["ownerReferences"][0]["controller"], true);
        assert!(meta["annotations"][HASH_ANNOTATION].is_string());
        assert!(value["apiVersion"].is_string() && value["kind"].is_string());
        assert!(meta["labels"][crate::labels::SHARD_LABEL].is_null());
    }
}

#[test]
fn children_carry_the_shard_label_of_their_app() {
    let mut app = app(spec_with_workers(json!([
        {"name": "queue", "replicas": {"min": 0, "max": 4}, "triggers": [{"type": "cron"}]},
    ])));
    app.metadata.labels = Some([(crate::labels::SHARD_LABEL.into(), "shard1".into())].into());
    let children = desired(&app).unwrap();
    assert!(children.len() > 2);
    for child in children {
        let value = child.to_json().unwrap();
        assert_eq!(
            value["metadata"]["labels"][crate::labels::SHARD_LABEL],
            "shard1",
            "{} {}",
            child.kind().as_str(),
            child.name()
        );
    }
}

#[test]
fn restricted_security_defaults_and_inheritance() {
    let mut spec = spec_with_workers(json!([
        {"name": "w", "image": "other:2", "replicas": {"min": 1, "max": 1},
         "env": [{"name": "B", "value": "worker"}], "serviceAccountName": "special"},
    ]));
    spec["env"] = json!([{"name": "A", "value": "app"}, {"name": "B", "value": "app"}]);
    spec["serviceAccountName"] = json!("shared");
    let children = desired(&app(spec)).unwrap();

    let master = deployment(&children, "shop")
        .spec
        .template
        .spec
        .clone()
        .unwrap();
    let worker = deployment(&children, "shop-w")
        .spec
        .template
        .spec
        .clone()
        .unwrap();
    assert_eq!(master.service_account_name.as_deref(), Some("shared"));
    assert_eq!(worker.service_account_name.as_deref(), Some("special"));
    assert_eq!(master.containers[0].image.as_deref(), Some("img:1"));
    assert_eq!(worker.containers[0].image.as_deref(), Some("other:2"));
    let env: Vec<_> = worker.containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| format!("{}={}", e.name, e.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(env, ["A=app", "B=worker"]);

    let pod = master.security_context.unwrap();
    assert_eq!(pod.run_as_non_root, Some(true));
    assert_eq!(pod.seccomp_profile.unwrap().type_, "RuntimeDefault");
    let container = master.containers[0].security_context.clone().unwrap();
    assert_eq!(container.allow_privilege_escalation, Some(false));
    assert_eq!(
        container.capabilities.unwrap().drop,
        Some(vec!["ALL".to_string()])
    );
}

#[test]
fn a_spec_without_image_is_an_error_not_a_panic() {
    let mut spec = spec_with_workers(json!([]));
    spec.as_object_mut().unwrap().remove("image");
    let err = desired(&app(spec)).unwrap_err();
    assert!(err.to_string().contains("no image"), "{err}");
}

#[test]
fn render_without_uid_has_no_owner_reference() {
    let mut app = app(spec_with_workers(json!([])));
    app.metadata.uid = None;
    for child in desired(&app).unwrap() {
        assert!(
            child.to_json().unwrap()["metadata"]
                .get("ownerReferences")
                .is_none()
        );
    }
}

#[test]
fn a_component_that_always_runs_two_or_more_keeps_all_but_one_through_disruptions() {
    let app = app(spec_with_workers(json!([
        {"name": "three", "replicas": {"min": 3, "max": 3}},
        {"name": "scaled", "resources": {"requests": {"cpu": "1"}}, "replicas": {"min": 2, "max": 6}},
        {"name": "single", "replicas": {"min": 1, "max": 4}},
        {"name": "zero", "replicas": {"min": 0, "max": 4}, "triggers": [{"type": "cron"}]},
    ])));
    let children = desired(&app).unwrap();
    let budget = |name: &str| {
        children.iter().find_map(|c| match c {
            Child::PodDisruptionBudget(b) if b.metadata.name.as_deref() == Some(name) => {
                Some(b.spec.clone().unwrap())
            }
            _ => None,
        })
    };
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let three = budget("shop-three").expect("a budget for min 3");
    assert_eq!(three.min_available, Some(IntOrString::Int(2)));
    assert_eq!(
        three.selector.unwrap().match_labels.unwrap(),
        deployment(&children, "shop-three")
            .spec
            .selector
            .match_labels
            .clone()
            .unwrap()
    );
    assert_eq!(
        budget("shop-scaled").unwrap().min_available,
        Some(IntOrString::Int(1))
    );
    assert!(
        budget("shop-single").is_none(),
        "one replica: a budget would block every drain"
    );
    assert!(budget("shop-zero").is_none(), "may scale to zero");
    assert!(budget("shop").is_none(), "the master runs one");
}

#[test]
fn pausing_holds_the_autoscalers_and_leaves_the_replicas_to_them() {
    let workers = json!([
        {"name": "cpu", "replicas": {"min": 1, "max": 4}, "resources": {"requests": {"cpu": "1"}}},
        {"name": "queue", "replicas": {"min": 0, "max": 5},
         "triggers": [{"type": "cron", "metadata": {"start": "0 8 * * *"}}]},
        {"name": "fixed", "replicas": {"min": 2, "max": 2}}
    ]);
    let running = desired(&app(spec_with_workers(workers.clone()))).unwrap();
    let mut spec = spec_with_workers(workers);
    spec["paused"] = json!(true);
    let paused = desired(&app(spec)).unwrap();

    let json_of = |children: &[Child], kind: ChildKind, name: &str| {
        children
            .iter()
            .find(|c| c.kind() == kind && c.name() == name)
            .map(|c| c.to_json().unwrap())
            .unwrap()
    };
    let hpa = json_of(&paused, ChildKind::HorizontalPodAutoscaler, "shop-cpu");
    assert_eq!(
        hpa["spec"]["behavior"],
        json!({"scaleDown": {"selectPolicy": "Disabled"}, "scaleUp": {"selectPolicy": "Disabled"}})
    );
    let scaled = json_of(&paused, ChildKind::ScaledObject, "shop-queue");
    assert_eq!(scaled["metadata"]["annotations"][keda::PAUSED], "true");
    // Unpaused: neither, and the replicas stay the autoscalers' in both.
    let hpa = json_of(&running, ChildKind::HorizontalPodAutoscaler, "shop-cpu");
    assert!(hpa["spec"]["behavior"].is_null(), "{hpa}");
    let scaled = json_of(&running, ChildKind::ScaledObject, "shop-queue");
    assert!(
        scaled["metadata"]["annotations"]
            .get(keda::PAUSED)
            .is_none()
    );
    for name in ["shop-cpu", "shop-queue"] {
        assert_eq!(deployment(&paused, name).spec.replicas, None);
    }
    // A fixed size has nothing to pause: the same objects either way.
    for kind in [ChildKind::Deployment, ChildKind::PodDisruptionBudget] {
        assert_eq!(
            json_of(&paused, kind, "shop-fixed"),
            json_of(&running, kind, "shop-fixed")
        );
    }
}

/// One scale-down window for every step down: the HPA's and KEDA's n -> n-1, and KEDA's and
/// the HTTP add-on's 1 -> 0.
#[test]
fn one_scale_down_window_governs_every_step_down() {
    let window = json!({"stabilizationWindowSeconds": 90});
    let spec = spec_with_workers(json!([
        {"name": "queue", "replicas": {"min": 0, "max": 5}, "scaleDown": window,
         "triggers": [{"type": "cron", "metadata": {"start": "0 8 * * *"}}]},
        {"name": "web", "replicas": {"min": 0, "max": 5}, "scaleDown": window,
         "ports": [{"name": "http", "port": 8080}], "http": {"hosts": ["web.example.com"]}},
        {"name": "cpu", "replicas": {"min": 1, "max": 4}, "scaleDown": window,
         "resources": {"requests": {"cpu": "1"}}}
    ]));
    let children = desired(&app(spec)).unwrap();
    let json_of = |kind: ChildKind, name: &str| {
        children
            .iter()
            .find(|c| c.kind() == kind && c.name() == name)
            .map(|c| c.to_json().unwrap())
            .unwrap()
    };
    let queue = json_of(ChildKind::ScaledObject, "shop-queue");
    assert_eq!(queue["spec"]["cooldownPeriod"], 90);
    assert_eq!(
        queue["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"],
        window
    );
    assert_eq!(
        json_of(ChildKind::HTTPScaledObject, "shop-web")["spec"]["scaledownPeriod"],
        90
    );
    assert_eq!(
        json_of(ChildKind::HorizontalPodAutoscaler, "shop-cpu")["spec"]["behavior"]["scaleDown"],
        window
    );
}
