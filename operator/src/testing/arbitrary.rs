//! proptest strategies for ServerlessApps that satisfy every validation rule, shared by the
//! property tests of this crate and of the end-to-end suite.

use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Clone, Debug)]
enum Mode {
    Fixed,
    Hpa,
    Keda,
    Http,
}

fn replicas(mode: &Mode) -> BoxedStrategy<(i32, i32)> {
    match mode {
        Mode::Fixed => (1..4i32).prop_map(|n| (n, n)).boxed(),
        Mode::Hpa => (1..3i32, 1..5i32)
            .prop_map(|(min, extra)| (min, min + extra))
            .boxed(),
        Mode::Keda => (0..2i32, 1..6i32)
            .prop_map(|(min, extra)| (min, min + extra))
            .boxed(),
        Mode::Http => (1..6i32).prop_map(|max| (0, max)).boxed(),
    }
}

fn env() -> impl Strategy<Value = Vec<Value>> {
    proptest::collection::btree_map("[A-Z][A-Z0-9_]{0,8}", "[ -~]{0,16}", 0..4).prop_map(|m| {
        m.into_iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect()
    })
}

fn placement() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(prop_oneof![Just("general"), Just("functions")].prop_map(|pool| {
        json!({"nodeSelector": {"pool": pool},
               "tolerations": [{"key": "pool", "operator": "Equal", "value": pool, "effect": "NoSchedule"}]})
    }))
}

fn worker(index: usize, mode: Mode, image: bool) -> impl Strategy<Value = Value> {
    (replicas(&mode), env(), placement(), proptest::option::of(0..600i32), proptest::option::of(1..60i32)).prop_map(
        move |((min, max), env, placement, cooldown, polling)| {
            let mut w = json!({"name": format!("w{index}"), "replicas": {"min": min, "max": max}});
            if image {
                w["image"] = json!(format!("registry.example/w{index}:1"));
            }
            if !env.is_empty() {
                w["env"] = json!(env);
            }
            if let Some(p) = placement {
                w["placement"] = p;
            }
            match mode {
                Mode::Fixed => {}
                Mode::Hpa => {
                    w["resources"] = json!({"requests": {"cpu": "100m", "memory": "64Mi"}});
                    w["autoscaling"] = json!({"cpuUtilization": 70, "memoryUtilization": 80});
                }
                Mode::Keda => {
                    w["triggers"] = json!([{"type": "cron", "metadata":
                        {"timezone": "UTC", "start": "0 8 * * *", "end": "0 9 * * *", "desiredReplicas": "1"}}]);
                    if let Some(c) = cooldown {
                        w["cooldownSeconds"] = json!(c);
                    }
                    if let Some(p) = polling {
                        w["pollingIntervalSeconds"] = json!(p);
                    }
                    w["fallback"] = json!({"failureThreshold": 3, "replicas": max});
                }
                Mode::Http => {
                    w["ports"] = json!([{"name": "http", "port": 8080}]);
                    w["http"] = json!({"hosts": [format!("w{index}.example.com")], "targetConcurrency": 10});
                    if let Some(c) = cooldown {
                        w["cooldownSeconds"] = json!(c);
                    }
                }
            }
            w
        },
    )
}

/// A valid ServerlessApp, as JSON, named `name`.
pub fn app() -> impl Strategy<Value = Value> {
    let modes = proptest::collection::vec(
        prop_oneof![
            Just(Mode::Fixed),
            Just(Mode::Hpa),
            Just(Mode::Keda),
            Just(Mode::Http)
        ],
        0..4,
    );
    (
        "[a-z][a-z0-9]{0,12}",
        any::<bool>(),
        modes,
        replicas(&Mode::Hpa),
        any::<bool>(),
        env(),
        placement(),
    )
        .prop_flat_map(|(name, app_image, modes, (min, max), hpa, env, placement)| {
            let workers: Vec<_> = modes
                .into_iter()
                .enumerate()
                .map(|(i, mode)| worker(i, mode, !app_image))
                .collect();
            (Just((name, app_image, min, max, hpa, env, placement)), workers)
        })
        .prop_map(|((name, app_image, min, max, hpa, env, placement), workers)| {
            let (min, max) = if hpa { (min, max) } else { (min, min) };
            let mut master = json!({
                "ports": [{"name": "http", "port": 8080}, {"name": "grpc", "port": 9090, "protocol": "GRPC"}],
                "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                "replicas": {"min": min, "max": max},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
            });
            if hpa {
                master["autoscaling"] = json!({"cpuUtilization": 75});
            }
            if let Some(p) = placement {
                master["placement"] = p;
            }
            if !app_image {
                master["image"] = json!("registry.example/master:1");
            }
            let mut spec = json!({"master": master, "workers": workers});
            if app_image {
                spec["image"] = json!("registry.example/app:1");
            }
            if !env.is_empty() {
                spec["env"] = json!(env);
            }
            json!({
                "apiVersion": "serverless-operator.dev/v1alpha1",
                "kind": "ServerlessApp",
                "metadata": {"name": name},
                "spec": spec,
            })
        })
}
