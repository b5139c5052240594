//! Invalid ServerlessApps, one per validation rule, shared by the in-process validation tests
//! and the end-to-end suite (which sends them to a real API server).

use serde_json::{Value, json};

/// A valid app exercising every part of the spec.
pub fn valid() -> Value {
    json!({
        "apiVersion": "serverless-operator.dev/v1alpha1",
        "kind": "ServerlessApp",
        "metadata": {"name": "shop", "namespace": "default"},
        "spec": {
            "image": "registry.example/shop:1",
            "master": {
                "ports": [{"name": "http", "port": 8080}, {"name": "grpc", "port": 9090, "protocol": "GRPC"}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                "replicas": {"min": 1, "max": 3},
                "autoscaling": {"cpuUtilization": 70, "memoryUtilization": 80},
                "expose": {"serviceType": "LoadBalancer", "serviceAnnotations": {"a": "b"},
                           "ingress": {"host": "shop.example.com", "port": "http"}}
            },
            "workers": [
                {"name": "queue", "replicas": {"min": 0, "max": 5},
                 "triggers": [{"type": "rabbitmq", "metadata": {"queueName": "q"}}],
                 "fallback": {"failureThreshold": 3, "replicas": 2},
                 "pollingIntervalSeconds": 10, "cooldownSeconds": 60},
                {"name": "web", "ports": [{"name": "http", "port": 8080}],
                 "replicas": {"min": 0, "max": 5},
                 "http": {"hosts": ["web.example.com"], "port": "http", "targetConcurrency": 10}},
                {"name": "steady", "replicas": {"min": 2, "max": 4},
                 "resources": {"requests": {"cpu": "1"}},
                 "triggers": [{"type": "cron", "metadata": {"start": "0 8 * * *"}}],
                 "idleReplicas": 0}
            ]
        }
    })
}

/// (case, mutation, expected message fragment)
pub type Case = (&'static str, fn(&mut Value), &'static str);

pub const CEL_CASES: &[Case] = &[
    (
        "name not a DNS label",
        |a| a["metadata"]["name"] = json!("Shop.v2"),
        "metadata.name must be a DNS-1035 label",
    ),
    (
        "names too long together",
        |a| {
            a["metadata"]["name"] = json!("a".repeat(40));
            a["spec"]["workers"][0]["name"] = json!("b".repeat(30));
        },
        "metadata.name and spec.workers[].name are too long together",
    ),
    (
        "no image anywhere",
        |a| {
            a["spec"].as_object_mut().unwrap().remove("image");
        },
        "spec.image is required",
    ),
    (
        "duplicate worker names",
        |a| a["spec"]["workers"][1]["name"] = json!("queue"),
        "spec.workers[].name must be unique",
    ),
    (
        "duplicate port names",
        |a| a["spec"]["master"]["ports"][1]["name"] = json!("http"),
        "ports[].name must be unique",
    ),
    (
        "duplicate port numbers",
        |a| a["spec"]["master"]["ports"][1]["port"] = json!(8080),
        "ports[].port must be unique",
    ),
    (
        "autoscaling on a fixed size",
        |a| a["spec"]["master"]["replicas"] = json!({"min": 2, "max": 2}),
        "autoscaling needs replicas.max above replicas.min",
    ),
    (
        "cpu target without cpu request",
        |a| {
            a["spec"]["master"]["resources"]["requests"]
                .as_object_mut()
                .unwrap()
                .remove("cpu");
        },
        "autoscaling.cpuUtilization needs resources.requests.cpu",
    ),
    (
        "memory target without memory request",
        |a| {
            a["spec"]["master"]["resources"]["requests"]
                .as_object_mut()
                .unwrap()
                .remove("memory");
        },
        "autoscaling.memoryUtilization needs resources.requests.memory",
    ),
    (
        "master min 0",
        |a| a["spec"]["master"]["replicas"]["min"] = json!(0),
        "master.replicas.min must be at least 1",
    ),
    (
        "master without ports",
        |a| {
            a["spec"]["master"].as_object_mut().unwrap().remove("ports");
            a["spec"]["master"]["expose"]
                .as_object_mut()
                .unwrap()
                .remove("ingress");
        },
        "master.ports must list at least one port",
    ),
    (
        "ingress port unknown",
        |a| a["spec"]["master"]["expose"]["ingress"]["port"] = json!("admin"),
        "master.expose.ingress.port must name one of master.ports",
    ),
    (
        "min 0 without trigger",
        |a| {
            a["spec"]["workers"][0]
                .as_object_mut()
                .unwrap()
                .remove("triggers");
            a["spec"]["workers"][0]
                .as_object_mut()
                .unwrap()
                .remove("fallback");
        },
        "workers[].replicas.min is 0 but the worker has no triggers",
    ),
    (
        "http with min 1",
        |a| a["spec"]["workers"][1]["replicas"]["min"] = json!(1),
        "workers[].http is only for scale-from-zero workers",
    ),
    (
        "http and triggers",
        |a| a["spec"]["workers"][1]["triggers"] = json!([{"type": "cron"}]),
        "workers[].http and workers[].triggers are exclusive",
    ),
    (
        "http without ports",
        |a| {
            let w = a["spec"]["workers"][1].as_object_mut().unwrap();
            w.remove("ports");
            w["http"].as_object_mut().unwrap().remove("port");
        },
        "workers[].http needs at least one entry in workers[].ports",
    ),
    (
        "http port unknown",
        |a| a["spec"]["workers"][1]["http"]["port"] = json!("admin"),
        "workers[].http.port must name one of workers[].ports",
    ),
    (
        "http with autoscaling",
        |a| {
            a["spec"]["workers"][1]["autoscaling"] = json!({"cpuUtilization": 50});
            a["spec"]["workers"][1]["replicas"]["max"] = json!(5);
            a["spec"]["workers"][1]["resources"] = json!({"requests": {"cpu": "1"}});
        },
        "workers[].autoscaling cannot be combined with workers[].http",
    ),
    (
        "fallback without triggers",
        |a| a["spec"]["workers"][1]["fallback"] = json!({"failureThreshold": 3, "replicas": 1}),
        "workers[].fallback needs triggers",
    ),
    (
        "fallback above max",
        |a| a["spec"]["workers"][0]["fallback"]["replicas"] = json!(9),
        "workers[].fallback.replicas must not exceed replicas.max",
    ),
    (
        "idle replicas not below min",
        |a| a["spec"]["workers"][2]["idleReplicas"] = json!(2),
        "workers[].idleReplicas needs triggers and must be below replicas.min",
    ),
    (
        "polling on an http worker",
        |a| a["spec"]["workers"][1]["pollingIntervalSeconds"] = json!(5),
        "workers[].pollingIntervalSeconds applies to triggers only",
    ),
    (
        "min above max",
        |a| a["spec"]["workers"][0]["replicas"] = json!({"min": 6, "max": 5}),
        "replicas.min must not exceed replicas.max",
    ),
    (
        "max 0",
        |a| a["spec"]["workers"][0]["replicas"] = json!({"min": 0, "max": 0}),
        "replicas.max must be at least 1",
    ),
    (
        "autoscaling without targets",
        |a| a["spec"]["master"]["autoscaling"] = json!({}),
        "autoscaling needs cpuUtilization or memoryUtilization",
    ),
    (
        "service annotations without type",
        |a| {
            a["spec"]["master"]["expose"]
                .as_object_mut()
                .unwrap()
                .remove("serviceType");
        },
        "expose.serviceAnnotations needs expose.serviceType",
    ),
    (
        "http without hosts or paths",
        |a| a["spec"]["workers"][1]["http"]["hosts"] = json!([]),
        "http needs hosts or pathPrefixes",
    ),
    (
        "http concurrency and rate",
        |a| a["spec"]["workers"][1]["http"]["requestRate"] = json!({"targetValue": 5}),
        "http.targetConcurrency and http.requestRate are exclusive",
    ),
];

pub const SCHEMA_CASES: &[Case] = &[
    (
        "port out of range",
        |a| a["spec"]["master"]["ports"][0]["port"] = json!(70000),
        "spec.master.ports[0].port: Invalid value: 70000",
    ),
    (
        "port name not an IANA name",
        |a| a["spec"]["master"]["ports"][0]["name"] = json!("HTTP_PORT"),
        "spec.master.ports[0].name",
    ),
    (
        "negative min",
        |a| a["spec"]["workers"][0]["replicas"]["min"] = json!(-1),
        "spec.workers[0].replicas.min: Invalid value: -1",
    ),
    (
        "worker name not a DNS label",
        |a| a["spec"]["workers"][0]["name"] = json!("Queue_1"),
        "spec.workers[0].name",
    ),
    (
        "wrong type",
        |a| a["spec"]["master"]["replicas"]["max"] = json!("three"),
        "spec.master.replicas.max: Invalid value: \"three\"",
    ),
    (
        "unknown protocol",
        |a| a["spec"]["master"]["ports"][0]["protocol"] = json!("UDP"),
        "spec.master.ports[0].protocol",
    ),
    (
        "missing replicas",
        |a| {
            a["spec"]["master"]
                .as_object_mut()
                .unwrap()
                .remove("replicas");
        },
        "replicas",
    ),
    (
        "unknown field",
        |a| a["spec"]["master"]["replica"] = json!(1),
        "spec.master.replica: unknown field \"spec.master.replica\"",
    ),
    (
        "unknown field in a worker",
        |a| a["spec"]["workers"][0]["minReplicas"] = json!(1),
        "spec.workers[0].minReplicas: unknown field",
    ),
    (
        "wrong apiVersion",
        |a| a["apiVersion"] = json!("serverless-operator.dev/v1"),
        "apiVersion: Unsupported value",
    ),
];
