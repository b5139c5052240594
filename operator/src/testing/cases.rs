//! Invalid ServerlessApps, one per condition of each validation rule, shared by the in-process
//! validation tests and the end-to-end suite (which sends them to a real API server).

use serde_json::{Value, json};

/// A valid app exercising every part of the spec.
pub fn valid() -> Value {
    json!({
        "apiVersion": "serverless-operator.dev/v1alpha1",
        "kind": "ServerlessApp",
        "metadata": {"name": "shop", "namespace": "default"},
        "spec": {
            "image": "registry.example/shop:1",
            "podLabels": {"app.kubernetes.io/part-of": "shop", "team": "a"},
            "env": [
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}}},
                {"name": "MEMORY", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "shop.tokens", "key": "api_token"}}}
            ],
            "master": {
                "placement": {"affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                                                  {"key": "cores", "operator": "Gt", "values": ["4"]},
                                                  {"key": "spot", "operator": "DoesNotExist"}]},
                            {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["node-1"]}]}]},
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 100, "preference": {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}}]
                    },
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/part-of": "shop"},
                                              "matchExpressions": [{"key": "tier", "operator": "Exists"}]},
                            "namespaces": ["shop"], "matchLabelKeys": ["pod-template-hash"]}}]
                    }
                }},
                "ports": [{"name": "http", "port": 8080}, {"name": "grpc", "port": 9090, "protocol": "GRPC"}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                              "limits": {"cpu": 1, "memory": "0.5Gi"}},
                "replicas": {"min": 1, "max": 3},
                "autoscaling": {"cpuUtilization": 70, "memoryUtilization": 80},
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
                "livenessProbe": {"tcpSocket": {"port": 9090}},
                "expose": {"serviceType": "LoadBalancer", "serviceAnnotations": {"a": "b"},
                           "ingress": {"host": "shop.example.com", "port": "http"}}
            },
            "workers": [
                {"name": "queue", "replicas": {"min": 0, "max": 5},
                 "triggers": [{"type": "rabbitmq", "metadata": {"queueName": "q"}}],
                 "fallback": {"failureThreshold": 3, "replicas": 2},
                 "pollingIntervalSeconds": 10, "cooldownSeconds": 60, "paused": true},
                {"name": "web", "ports": [{"name": "http", "port": 8080}],
                 "replicas": {"min": 0, "max": 5},
                 "http": {"hosts": ["web.example.com"], "port": "http", "targetConcurrency": 10},
                 "scaleDown": {"stabilizationWindowSeconds": 30}, "coldStartBudget": "2.5s"},
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
        "node affinity In without values",
        |a| {
            a["spec"]["workers"][0]["placement"] = json!({"affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In"}]}]}}}})
        },
        "nodeAffinity.matchExpressions[].values",
    ),
    (
        "node affinity Gt with a word",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchExpressions"][1]["values"] = json!(["four"])
        },
        "nodeAffinity.matchExpressions[].values",
    ),
    (
        "node affinity match field with two names",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][1]["matchFields"][0]["values"] = json!(["node-1", "node-2"])
        },
        "nodeAffinity.matchFields[].values",
    ),
    (
        "pod anti-affinity Exists with values",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
                [0]["podAffinityTerm"]["labelSelector"]["matchExpressions"][0]["values"] =
                json!(["web"])
        },
        "labelSelector.matchExpressions[].values",
    ),
    (
        "pod affinity selector key with a space",
        |a| {
            a["spec"]["workers"][1]["placement"] = json!({"affinity": {"podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "zone",
                    "labelSelector": {"matchLabels": {"my team": "a"}}}]}}})
        },
        "matchLabels.keys must be label keys",
    ),
    (
        "env from two sources",
        |a| {
            a["spec"]["env"][2]["valueFrom"]["configMapKeyRef"] =
                json!({"name": "settings", "key": "token"})
        },
        "env[].valueFrom needs exactly one of",
    ),
    (
        "env from no source",
        |a| a["spec"]["workers"][0]["env"] = json!([{"name": "X", "valueFrom": {}}]),
        "env[].valueFrom needs exactly one of",
    ),
    (
        "env from a file",
        |a| {
            a["spec"]["env"][0]["valueFrom"] =
                json!({"fileKeyRef": {"volumeName": "config", "path": "env", "key": "A"}})
        },
        "env[].valueFrom.fileKeyRef is not supported",
    ),
    (
        "CPU exposed in Mi",
        |a| {
            a["spec"]["env"][1]["valueFrom"]["resourceFieldRef"] =
                json!({"resource": "requests.cpu", "divisor": "1Mi"})
        },
        "env[].valueFrom.resourceFieldRef.divisor",
    ),
    (
        "memory exposed with divisor 2",
        |a| a["spec"]["env"][1]["valueFrom"]["resourceFieldRef"]["divisor"] = json!(2),
        "env[].valueFrom.resourceFieldRef.divisor",
    ),
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
        // A name of 22 characters fits any worker name (at most 40); one more may not.
        "names one character too long together",
        |a| {
            a["metadata"]["name"] = json!("a".repeat(23));
            a["spec"]["workers"][0]["name"] = json!("b".repeat(40));
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
        "duplicate port numbers",
        |a| a["spec"]["master"]["ports"][1]["port"] = json!(8080),
        "ports[].port must be unique",
    ),
    (
        "autoscaling on a fixed size",
        |a| a["spec"]["master"]["replicas"] = json!({"min": 2, "max": 2}),
        "autoscaling and scaleDown need replicas.max above replicas.min",
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
        "cpu target with limits only",
        |a| {
            a["spec"]["master"]["resources"]
                .as_object_mut()
                .unwrap()
                .remove("requests");
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
        "and autoscaling.memoryUtilization resources.requests.memory",
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
        "request above limit",
        |a| {
            a["spec"]["master"]["resources"] =
                json!({"requests": {"cpu": "500m", "memory": "64Mi"}, "limits": {"cpu": "250m"}})
        },
        "resources.requests must not exceed resources.limits",
    ),
    (
        "worker request above limit in other units",
        |a| {
            a["spec"]["workers"][2]["resources"] =
                json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1000Mi"}})
        },
        "resources.requests must not exceed resources.limits",
    ),
    (
        "pod label key with a space",
        |a| a["spec"]["podLabels"] = json!({"team name": "shop"}),
        "podLabels.keys must be label keys",
    ),
    (
        "component pod label key with a bad prefix",
        |a| a["spec"]["master"]["podLabels"] = json!({"Example.com/team": "shop"}),
        "podLabels.keys must be label keys",
    ),
    (
        "readiness probe port unknown",
        |a| {
            a["spec"]["master"]["readinessProbe"] =
                json!({"httpGet": {"path": "/", "port": "admin"}})
        },
        "readinessProbe.httpGet.port or readinessProbe.tcpSocket.port names no port of this component",
    ),
    (
        "readiness tcp probe port unknown",
        |a| a["spec"]["master"]["readinessProbe"] = json!({"tcpSocket": {"port": "admin"}}),
        "readinessProbe.httpGet.port or readinessProbe.tcpSocket.port names no port of this component",
    ),
    (
        "liveness probe port unknown",
        |a| {
            a["spec"]["workers"][1]["livenessProbe"] =
                json!({"httpGet": {"path": "/", "port": "metrics"}})
        },
        "livenessProbe.httpGet.port or livenessProbe.tcpSocket.port names no port of this component",
    ),
    (
        "liveness tcp probe port unknown on a worker without ports",
        |a| a["spec"]["workers"][0]["livenessProbe"] = json!({"tcpSocket": {"port": "http"}}),
        "livenessProbe.httpGet.port or livenessProbe.tcpSocket.port names no port of this component",
    ),
    (
        "startup probe port unknown",
        |a| {
            a["spec"]["master"]["startupProbe"] = json!({"httpGet": {"path": "/", "port": "grpcx"}})
        },
        "startupProbe.httpGet.port or startupProbe.tcpSocket.port names no port of this component",
    ),
    (
        "startup tcp probe port unknown",
        |a| a["spec"]["master"]["startupProbe"] = json!({"tcpSocket": {"port": "https"}}),
        "startupProbe.httpGet.port or startupProbe.tcpSocket.port names no port of this component",
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
        "workers[].replicas.min is 0 but nothing can scale the worker up from zero",
    ),
    (
        "http with min 1",
        |a| a["spec"]["workers"][1]["replicas"]["min"] = json!(1),
        "workers[].http is only for scale-from-zero workers",
    ),
    (
        "http and triggers",
        |a| a["spec"]["workers"][1]["triggers"] = json!([{"type": "cron"}]),
        "workers[].http cannot be combined with triggers, autoscaling, pollingIntervalSeconds, paused, or scaleDown.policies and selectPolicy",
    ),
    (
        "http without ports",
        |a| {
            let w = a["spec"]["workers"][1].as_object_mut().unwrap();
            w.remove("ports");
            w["http"].as_object_mut().unwrap().remove("port");
        },
        "workers[].http needs workers[].ports to route requests to, and workers[].http.port must name one of them",
    ),
    (
        "http port unknown",
        |a| a["spec"]["workers"][1]["http"]["port"] = json!("admin"),
        "workers[].http needs workers[].ports to route requests to, and workers[].http.port must name one of them",
    ),
    (
        "http with autoscaling",
        |a| {
            a["spec"]["workers"][1]["autoscaling"] = json!({"cpuUtilization": 50});
            a["spec"]["workers"][1]["replicas"]["max"] = json!(5);
            a["spec"]["workers"][1]["resources"] = json!({"requests": {"cpu": "1"}});
        },
        "workers[].http cannot be combined with triggers, autoscaling, pollingIntervalSeconds, paused, or scaleDown.policies and selectPolicy",
    ),
    (
        "fallback without triggers",
        |a| a["spec"]["workers"][1]["fallback"] = json!({"failureThreshold": 3, "replicas": 1}),
        "workers[].fallback needs triggers",
    ),
    (
        "fallback above max",
        |a| a["spec"]["workers"][0]["fallback"]["replicas"] = json!(9),
        "and fallback.replicas must not exceed replicas.max",
    ),
    (
        "idle replicas not below min",
        |a| a["spec"]["workers"][2]["idleReplicas"] = json!(2),
        "workers[].idleReplicas needs triggers and must be below replicas.min",
    ),
    (
        "polling on an http worker",
        |a| a["spec"]["workers"][1]["pollingIntervalSeconds"] = json!(5),
        "workers[].http cannot be combined with triggers, autoscaling, pollingIntervalSeconds, paused, or scaleDown.policies and selectPolicy",
    ),
    (
        "scale-down rules on a fixed size",
        |a| {
            a["spec"]["workers"][2]["replicas"] = json!({"min": 2, "max": 2});
            a["spec"]["workers"][2]["scaleDown"] = json!({"stabilizationWindowSeconds": 60});
        },
        "autoscaling and scaleDown need replicas.max above replicas.min",
    ),
    (
        "scale-down policies on an http worker",
        |a| {
            a["spec"]["workers"][1]["scaleDown"] =
                json!({"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]})
        },
        "workers[].http cannot be combined with triggers, autoscaling, pollingIntervalSeconds, paused, or scaleDown.policies and selectPolicy",
    ),
    (
        "scale-down select policy on an http worker",
        |a| a["spec"]["workers"][1]["scaleDown"] = json!({"selectPolicy": "Min"}),
        "workers[].http cannot be combined with triggers, autoscaling, pollingIntervalSeconds, paused, or scaleDown.policies and selectPolicy",
    ),
    (
        "cooldown disagreeing with the scale-down window",
        |a| a["spec"]["workers"][0]["scaleDown"] = json!({"stabilizationWindowSeconds": 120}),
        "workers[].cooldownSeconds and workers[].scaleDown.stabilizationWindowSeconds are one setting",
    ),
    (
        "paused master of a fixed size",
        |a| {
            a["spec"]["master"]["replicas"] = json!({"min": 2, "max": 2});
            a["spec"]["master"]
                .as_object_mut()
                .unwrap()
                .remove("autoscaling");
            a["spec"]["master"]["paused"] = json!(true);
        },
        "master.paused applies to an autoscaled master",
    ),
    (
        "paused worker of a fixed size",
        |a| {
            a["spec"]["workers"][2]["replicas"] = json!({"min": 2, "max": 2});
            a["spec"]["workers"][2]["paused"] = json!(true);
        },
        "workers[].paused applies to an autoscaled worker",
    ),
    (
        "paused http worker",
        |a| a["spec"]["workers"][1]["paused"] = json!(true),
        "workers[].http cannot be combined with triggers, autoscaling, pollingIntervalSeconds, paused, or scaleDown.policies and selectPolicy",
    ),
    (
        "paused app with an http worker",
        |a| a["spec"]["paused"] = json!(true),
        "spec.paused cannot apply to workers with http",
    ),
    (
        "cold start budget of zero",
        |a| a["spec"]["workers"][1]["coldStartBudget"] = json!("0s"),
        "coldStartBudget must be a duration above 0 and at most 1h",
    ),
    (
        "cold start budget above an hour",
        |a| a["spec"]["master"]["coldStartBudget"] = json!("1h0m1s"),
        "coldStartBudget must be a duration above 0 and at most 1h",
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
    (
        "worker named master",
        |a| a["spec"]["workers"][0]["name"] = json!("master"),
        "spec.workers[].name must not be 'master'",
    ),
    (
        "master autoscaled by default without a cpu request",
        |a| {
            let master = &mut a["spec"]["master"];
            master.as_object_mut().unwrap().remove("autoscaling");
            master["resources"] = json!({"requests": {"memory": "64Mi"}});
        },
        "master.resources.requests.cpu is required when replicas.max is above replicas.min",
    ),
    (
        "worker autoscaled by default without a cpu request",
        |a| a["spec"]["workers"][2] = json!({"name": "steady", "replicas": {"min": 1, "max": 3}}),
        "workers[].resources.requests.cpu is required when replicas.max is above replicas.min",
    ),
    (
        "scale to zero on cpu only",
        |a| {
            a["spec"]["workers"][0]["triggers"] =
                json!([{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "60"}}])
        },
        "workers[].replicas.min is 0 but nothing can scale the worker up from zero",
    ),
    (
        "env value and valueFrom",
        |a| {
            a["spec"]["env"] = json!([{"name": "MODE", "value": "a",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])
        },
        "env[].value and env[].valueFrom are exclusive",
    ),
    (
        "probe with two handlers",
        |a| {
            a["spec"]["master"]["readinessProbe"] =
                json!({"httpGet": {"path": "/", "port": 8080}, "tcpSocket": {"port": 8080}})
        },
        "a probe needs exactly one handler",
    ),
    (
        "probe with no handler",
        |a| a["spec"]["workers"][1]["livenessProbe"] = json!({"periodSeconds": 5}),
        "a probe needs exactly one handler",
    ),
];

pub const SCHEMA_CASES: &[Case] = &[
    // Worker and port names are list-map keys: the API server refuses a repeated one itself.
    (
        "duplicate worker names",
        |a| a["spec"]["workers"][1]["name"] = json!("queue"),
        "spec.workers[1]: Duplicate value",
    ),
    (
        "duplicate port names",
        |a| a["spec"]["master"]["ports"][1]["name"] = json!("http"),
        "spec.master.ports[1]: Duplicate value",
    ),
    (
        "cold start budget in words",
        |a| a["spec"]["workers"][1]["coldStartBudget"] = json!("5 sec"),
        "spec.workers[1].coldStartBudget",
    ),
    (
        "cold start budget without a unit",
        |a| a["spec"]["workers"][1]["coldStartBudget"] = json!("30"),
        "spec.workers[1].coldStartBudget",
    ),
    (
        "cold start budget in days",
        |a| a["spec"]["master"]["coldStartBudget"] = json!("1d"),
        "spec.master.coldStartBudget",
    ),
    (
        "cold start budget too long to be a duration",
        |a| a["spec"]["master"]["coldStartBudget"] = json!("9999999999999h"),
        "spec.master.coldStartBudget",
    ),
    (
        "node affinity operator unknown",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchExpressions"][0]["operator"] = json!("Equals")
        },
        "spec.master.placement.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator",
    ),
    (
        "node affinity with no terms",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"] = json!([])
        },
        "spec.master.placement.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
    ),
    (
        "node affinity key with a space",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
                [0]["preference"]["matchExpressions"][0]["key"] = json!("my zone")
        },
        "spec.master.placement.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].key",
    ),
    (
        "node affinity field other than the name",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][1]["matchFields"][0]["key"] = json!("metadata.labels")
        },
        "spec.master.placement.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[1].matchFields[0].key",
    ),
    (
        "preferred weight 0",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
                [0]["weight"] = json!(0)
        },
        "spec.master.placement.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
    ),
    (
        "pod affinity weight above 100",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
                [0]["weight"] = json!(101)
        },
        "spec.master.placement.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
    ),
    (
        "pod affinity topology key empty",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
                [0]["podAffinityTerm"]["topologyKey"] = json!("")
        },
        "spec.master.placement.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey",
    ),
    (
        "pod affinity namespace not a DNS label",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
                [0]["podAffinityTerm"]["namespaces"] = json!(["Shop"])
        },
        "spec.master.placement.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.namespaces[0]",
    ),
    (
        "pod affinity selector operator unknown",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
                [0]["podAffinityTerm"]["labelSelector"]["matchExpressions"][0]["operator"] =
                json!("Gt")
        },
        "spec.master.placement.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.labelSelector.matchExpressions[0].operator",
    ),
    (
        "pod affinity selector value with a space",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
                [0]["podAffinityTerm"]["labelSelector"]["matchLabels"]["app.kubernetes.io/part-of"] =
                json!("my shop")
        },
        "spec.master.placement.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.labelSelector.matchLabels.app.kubernetes.io/part-of",
    ),
    (
        "pod affinity match label key invalid",
        |a| {
            a["spec"]["master"]["placement"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
                [0]["podAffinityTerm"]["matchLabelKeys"] = json!(["-hash"])
        },
        "spec.master.placement.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.matchLabelKeys[0]",
    ),
    (
        "env from a field the downward API does not offer",
        |a| a["spec"]["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] = json!("spec.containers"),
        "spec.env[0].valueFrom.fieldRef.fieldPath",
    ),
    (
        "env from a field of another API version",
        |a| a["spec"]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] = json!("v2"),
        "spec.env[0].valueFrom.fieldRef.apiVersion",
    ),
    (
        "env from a resource that is not one",
        |a| a["spec"]["env"][1]["valueFrom"]["resourceFieldRef"]["resource"] = json!("limits.gpu"),
        "spec.env[1].valueFrom.resourceFieldRef.resource",
    ),
    (
        "env from a Secret name with capitals",
        |a| a["spec"]["env"][2]["valueFrom"]["secretKeyRef"]["name"] = json!("Tokens"),
        "spec.env[2].valueFrom.secretKeyRef.name",
    ),
    (
        "env from a Secret key with a slash",
        |a| a["spec"]["env"][2]["valueFrom"]["secretKeyRef"]["key"] = json!("a/b"),
        "spec.env[2].valueFrom.secretKeyRef.key",
    ),
    (
        "env value over 64 KiB",
        |a| a["spec"]["master"]["env"] = json!([{"name": "BIG", "value": "x".repeat(65 * 1024)}]),
        "spec.master.env[0].value",
    ),
    (
        "an argument over 64 KiB",
        |a| a["spec"]["workers"][0]["args"] = json!(["x".repeat(65 * 1024)]),
        "spec.workers[0].args[0]",
    ),
    (
        "65 arguments",
        |a| a["spec"]["master"]["command"] = json!(vec!["x"; 65]),
        "spec.master.command",
    ),
    (
        "imagePullSecrets name over 1024 characters",
        |a| a["spec"]["imagePullSecrets"] = json!([{"name": "a".repeat(1025)}]),
        "spec.imagePullSecrets[0].name",
    ),
    (
        "65 pod annotations",
        |a| {
            a["spec"]["podAnnotations"] = json!(
                (0..65)
                    .map(|i| (format!("a{i}"), "x"))
                    .collect::<std::collections::BTreeMap<_, _>>()
            )
        },
        "spec.podAnnotations",
    ),
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
    (
        "image with whitespace",
        |a| a["spec"]["image"] = json!("registry.example/shop:1 --privileged"),
        "spec.image:",
    ),
    (
        "image too long",
        |a| a["spec"]["image"] = json!(format!("registry.example/{}:1", "a".repeat(600))),
        "spec.image:",
    ),
    (
        "component image empty",
        |a| a["spec"]["master"]["image"] = json!(""),
        "spec.master.image:",
    ),
    (
        "service account name not a DNS subdomain",
        |a| a["spec"]["serviceAccountName"] = json!("Shop Runner"),
        "spec.serviceAccountName:",
    ),
    (
        "worker service account name not a DNS subdomain",
        |a| a["spec"]["workers"][0]["serviceAccountName"] = json!("runner/1"),
        "spec.workers[0].serviceAccountName:",
    ),
    (
        "http host not a DNS name",
        |a| a["spec"]["workers"][1]["http"]["hosts"] = json!(["Not A Host!"]),
        "spec.workers[1].http.hosts[0]:",
    ),
    (
        "http host empty",
        |a| a["spec"]["workers"][1]["http"]["hosts"] = json!([""]),
        "spec.workers[1].http.hosts[0]:",
    ),
    (
        "http path prefix without a leading slash",
        |a| a["spec"]["workers"][1]["http"]["pathPrefixes"] = json!(["api/v1"]),
        "spec.workers[1].http.pathPrefixes[0]:",
    ),
    (
        "http path prefix with a space",
        |a| a["spec"]["workers"][1]["http"]["pathPrefixes"] = json!(["/api v1"]),
        "spec.workers[1].http.pathPrefixes[0]:",
    ),
    (
        "http port name too long",
        |a| a["spec"]["workers"][1]["http"]["port"] = json!("a-very-long-port-name"),
        "spec.workers[1].http.port:",
    ),
    (
        "trigger type not a scaler name",
        |a| a["spec"]["workers"][0]["triggers"][0]["type"] = json!("RabbitMQ Queue"),
        "spec.workers[0].triggers[0].type:",
    ),
    (
        "authentication ref not a name",
        |a| {
            a["spec"]["workers"][0]["triggers"][0]["authenticationRef"] =
                json!({"name": "Shop_Auth"})
        },
        "spec.workers[0].triggers[0].authenticationRef.name:",
    ),
    (
        "ingress class not a name",
        |a| a["spec"]["master"]["expose"]["ingress"]["className"] = json!("nginx public"),
        "spec.master.expose.ingress.className:",
    ),
    (
        "ingress TLS secret not a name",
        |a| a["spec"]["master"]["expose"]["ingress"]["tlsSecretName"] = json!("Shop_TLS"),
        "spec.master.expose.ingress.tlsSecretName:",
    ),
    (
        "ingress path with a space",
        |a| a["spec"]["master"]["expose"]["ingress"]["path"] = json!("/shop now"),
        "spec.master.expose.ingress.path:",
    ),
    (
        "ingress port name too long",
        |a| a["spec"]["master"]["expose"]["ingress"]["port"] = json!("a-very-long-port-name"),
        "spec.master.expose.ingress.port:",
    ),
    (
        "port name with a double hyphen",
        |a| a["spec"]["master"]["ports"][0]["name"] = json!("web--http"),
        "spec.master.ports[0].name:",
    ),
    (
        "env name with an equals sign",
        |a| a["spec"]["env"] = json!([{"name": "MY=VAR", "value": "1"}]),
        "spec.env[0].name:",
    ),
    (
        "worker env name with a space",
        |a| a["spec"]["workers"][0]["env"] = json!([{"name": "MY VAR", "value": "1"}]),
        "spec.workers[0].env[0].name:",
    ),
    (
        "cpu request not a quantity",
        |a| a["spec"]["master"]["resources"]["requests"]["cpu"] = json!("lots"),
        "spec.master.resources.requests.cpu:",
    ),
    (
        "memory limit with a unit the API server does not know",
        |a| a["spec"]["workers"][2]["resources"] = json!({"limits": {"memory": "1GB"}}),
        "spec.workers[2].resources.limits.memory:",
    ),
    (
        "pod label value with a space",
        |a| a["spec"]["podLabels"] = json!({"team": "web shop"}),
        "spec.podLabels.team:",
    ),
    (
        "worker pod label value too long",
        |a| a["spec"]["workers"][0]["podLabels"] = json!({"team": "a".repeat(64)}),
        "spec.workers[0].podLabels.team:",
    ),
    (
        "toleration operator unknown",
        |a| {
            a["spec"]["master"]["placement"] =
                json!({"tolerations": [{"key": "gpu", "operator": "Equals", "value": "yes"}]})
        },
        "spec.master.placement.tolerations[0].operator:",
    ),
    (
        "toleration effect unknown",
        |a| {
            a["spec"]["workers"][0]["placement"] =
                json!({"tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoRun"}]})
        },
        "spec.workers[0].placement.tolerations[0].effect:",
    ),
    (
        "spread with max skew 0",
        |a| {
            a["spec"]["master"]["placement"] = json!({"topologySpreadConstraints": [{
                "maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]})
        },
        "spec.master.placement.topologySpreadConstraints[0].maxSkew:",
    ),
    (
        "spread with an unknown policy",
        |a| {
            a["spec"]["master"]["placement"] = json!({"topologySpreadConstraints": [{
                "maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Never"}]})
        },
        "spec.master.placement.topologySpreadConstraints[0].whenUnsatisfiable:",
    ),
    (
        "scale-down policy type unknown",
        |a| {
            a["spec"]["master"]["scaleDown"] =
                json!({"policies": [{"type": "Replicas", "value": 1, "periodSeconds": 60}]})
        },
        "spec.master.scaleDown.policies[0].type:",
    ),
    (
        "scale-down policy value 0",
        |a| {
            a["spec"]["master"]["scaleDown"] =
                json!({"policies": [{"type": "Pods", "value": 0, "periodSeconds": 60}]})
        },
        "spec.master.scaleDown.policies[0].value:",
    ),
    (
        "scale-down policy period above 30 minutes",
        |a| {
            a["spec"]["master"]["scaleDown"] =
                json!({"policies": [{"type": "Percent", "value": 50, "periodSeconds": 3600}]})
        },
        "spec.master.scaleDown.policies[0].periodSeconds:",
    ),
    (
        "scale-down window above an hour",
        |a| a["spec"]["master"]["scaleDown"] = json!({"stabilizationWindowSeconds": 4000}),
        "spec.master.scaleDown.stabilizationWindowSeconds:",
    ),
    (
        "scale-down select policy unknown",
        |a| a["spec"]["master"]["scaleDown"] = json!({"selectPolicy": "Fastest"}),
        "spec.master.scaleDown.selectPolicy:",
    ),
    // ObjectMeta: the CRD's schema leaves metadata to the API server's own checks.
    (
        "unknown metadata field",
        |a| a["metadata"]["nmespace"] = json!("shop"),
        "metadata.nmespace:",
    ),
    (
        "label key with a space",
        |a| a["metadata"]["labels"] = json!({"my team": "shop"}),
        "metadata.labels:",
    ),
    (
        "label key prefix in upper case",
        |a| a["metadata"]["labels"] = json!({"Example.com/team": "shop"}),
        "metadata.labels:",
    ),
    (
        "label value with a space",
        |a| a["metadata"]["labels"] = json!({"team": "web shop"}),
        "metadata.labels:",
    ),
    (
        "annotations above 256 KiB",
        |a| a["metadata"]["annotations"] = json!({"notes": "x".repeat(300 * 1024)}),
        "metadata.annotations:",
    ),
];
