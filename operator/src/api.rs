//! The `ServerlessApp` API (v1alpha1): spec, status and the validation rules the CRD carries.
//!
//! Every rule a bad manifest could slip past lives here as OpenAPI (types, ranges, patterns) or as
//! CEL `x-kubernetes-validations`, so the API server rejects it at `kubectl apply` time. Each CEL
//! message names the field it is about.
//!
//! The rules run on every create and every status write, and the API server copies the schema of
//! an object's properties each time a rule reads one of its fields (27 on a worker). So a rule sits
//! on the narrowest node it can (a field, the `ports` list), list-map keys stand in for
//! uniqueness rules, rules with one guard are one rule naming every field involved, and a rule
//! that reads a child several times reads it once: `[self.replicas].all(r, ...)`.

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v2::HPAScalingRules;
use k8s_openapi::api::core::v1::{
    Affinity, EnvFromSource, EnvVar, LocalObjectReference, PodSecurityContext, Probe,
    ResourceRequirements, SecurityContext, Toleration, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The API group this project owns. Everything else derives from it.
pub const GROUP: &str = "serverless-operator.dev";
/// The served and stored version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of a ServerlessApp.
pub const API_VERSION: &str = "serverless-operator.dev/v1alpha1";
/// The kind.
pub const KIND: &str = "ServerlessApp";

/// A serverless application: one always-on master and any number of worker pools that may scale
/// to zero. The operator expands it into Deployments, Services, HorizontalPodAutoscalers and KEDA
/// scalers; it never proxies traffic.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "serverless-operator.dev",
    version = "v1alpha1",
    kind = "ServerlessApp",
    plural = "serverlessapps",
    shortname = "sapp",
    category = "serverless",
    category = "all",
    namespaced,
    status = "ServerlessAppStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Master","type":"string","description":"Master replicas ready/desired","jsonPath":".status.master"}"#,
    printcolumn = r#"{"name":"Workers","type":"string","description":"Worker pools ready/total","jsonPath":".status.workers"}"#,
    printcolumn = r#"{"name":"URL","type":"string","description":"In-cluster URL of the master","jsonPath":".status.url"}"#,
    printcolumn = r#"{"name":"Scalers","type":"string","priority":1,"description":"KEDA scalers: active, idle at zero","jsonPath":".status.scalers"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 63").message("metadata.name must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, at most 63 characters): it names the app's Services"),
    validation = Rule::new("size(self.metadata.name) <= 22 || !has(self.spec.workers) || self.spec.workers.all(w, size(self.metadata.name) + size(w.name) <= 62)").message("metadata.name and spec.workers[].name are too long together: a worker's objects are named <app>-<worker>, which must fit in 63 characters"),
)]
#[x_kube(
    validation = Rule::new("has(self.image) || (has(self.master.image) && (!has(self.workers) || self.workers.all(w, has(w.image))))").message("spec.image is required unless spec.master.image and every spec.workers[].image are set"),
    validation = Rule::new("!has(self.paused) || !self.paused || !has(self.workers) || self.workers.all(w, !has(w.http))").message("spec.paused cannot apply to workers with http: the HTTP add-on has no pause; pause the other components one by one (their paused field)"),
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = bounded)]
pub struct ServerlessAppSpec {
    /// Container image every component runs unless it sets its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), regex(pattern = r"^[^\s]+$"))]
    pub image: Option<String>,
    /// Environment variables for every component; a component's own `env` wins by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), transform = env_rules)]
    pub env: Vec<EnvVar>,
    /// Sources of environment variables for every component.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Pull secrets for every component.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// ServiceAccount every component runs as unless it sets its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub service_account_name: Option<String>,
    /// Labels added to every pod (the operator's own labels win on conflict).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = label_values)]
    pub pod_labels: BTreeMap<String, String>,
    /// Annotations added to every pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
    /// Pod security context, merged field by field over the restricted defaults
    /// (runAsNonRoot, seccomp RuntimeDefault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security_context: Option<Box<PodSecurityContext>>,
    /// Container security context, merged field by field over the restricted defaults
    /// (no privilege escalation, all capabilities dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<Box<SecurityContext>>,
    /// The always-on entry point of the app.
    pub master: MasterSpec,
    /// Worker pools: functions that scale on events or HTTP requests, possibly to zero.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub workers: Vec<WorkerSpec>,
    /// Freeze the replica count of every autoscaled component where it is: its
    /// HorizontalPodAutoscaler stops scaling (both directions disabled), KEDA pauses its
    /// ScaledObject at the current replicas. Setting it back to false resumes autoscaling from
    /// there, with no drop. Fixed-size components are not affected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
}

/// What the API server checks on a Pod's `env`, checked here at the app's own field: a name
/// the kubelet accepts (bounded, so CEL's cost stays low) and one source per variable.
fn env_rules(schema: &mut schemars::Schema) {
    let Some(item) = schema.get_mut("items").and_then(|i| i.as_object_mut()) else {
        return;
    };
    if let Some(name) = item
        .get_mut("properties")
        .and_then(|p| p.get_mut("name"))
        .and_then(|n| n.as_object_mut())
    {
        name.insert("maxLength".into(), 256.into());
        name.insert("pattern".into(), "^[-._a-zA-Z][-._a-zA-Z0-9]*$".into());
    }
    item.insert(
        "x-kubernetes-validations".into(),
        serde_json::json!([{
            "rule": "!(has(self.value) && has(self.valueFrom))",
            "message": "env[].value and env[].valueFrom are exclusive: set one"
        }]),
    );
    let from = |tail: &[&'static str]| [&["items", "valueFrom"][..], tail].concat();
    constrain(
        schema,
        &from(&[]),
        "x-kubernetes-validations",
        json!([{
            "rule": "(has(self.configMapKeyRef) ? 1 : 0) + (has(self.fieldRef) ? 1 : 0) + (has(self.resourceFieldRef) ? 1 : 0) + (has(self.secretKeyRef) ? 1 : 0) + (has(self.fileKeyRef) ? 1 : 0) == 1",
            "message": "env[].valueFrom needs exactly one of configMapKeyRef, fieldRef, resourceFieldRef or secretKeyRef"
        }, {
            "rule": "!has(self.fileKeyRef)",
            "message": "env[].valueFrom.fileKeyRef is not supported: an app declares no volume to read the file from"
        }]),
    );
    // What the downward API offers an environment variable.
    constrain(
        schema,
        &from(&["fieldRef", "fieldPath"]),
        "pattern",
        json!(
            r"^(metadata\.(name|namespace|uid)|metadata\.(labels|annotations)\['[^']+'\]|spec\.(nodeName|serviceAccountName)|status\.(hostIP|hostIPs|podIP|podIPs))$"
        ),
    );
    constrain(
        schema,
        &from(&["fieldRef", "apiVersion"]),
        "enum",
        json!(["v1"]),
    );
    constrain(
        schema,
        &from(&["resourceFieldRef", "resource"]),
        "pattern",
        json!(r"^(limits|requests)\.(cpu|memory|ephemeral-storage|hugepages-[-.A-Za-z0-9]+)$"),
    );
    constrain(
        schema,
        &from(&["resourceFieldRef"]),
        "x-kubernetes-validations",
        json!([{
            "rule": "!has(self.divisor) || (self.resource.endsWith('.cpu') ? string(self.divisor) in ['1', '1m'] : string(self.divisor) in ['1', '1k', '1M', '1G', '1T', '1P', '1E', '1Ki', '1Mi', '1Gi', '1Ti', '1Pi', '1Ei'])",
            "message": "env[].valueFrom.resourceFieldRef.divisor must be 1 or 1m for CPU, or 1, 1k, 1Ki, 1M, 1Mi ... 1E, 1Ei otherwise"
        }]),
    );
    for reference in ["configMapKeyRef", "secretKeyRef"] {
        constrain(
            schema,
            &from(&[reference, "name"]),
            "pattern",
            json!(DNS_SUBDOMAIN),
        );
        constrain(schema, &from(&[reference, "name"]), "maxLength", json!(253));
        constrain(
            schema,
            &from(&[reference, "key"]),
            "pattern",
            json!("^[-._a-zA-Z0-9]+$"),
        );
        constrain(schema, &from(&[reference, "key"]), "maxLength", json!(253));
    }
}

/// A resource quantity as the API server parses it (`250m`, `1Gi`, `1e3`): a malformed one
/// otherwise passes admission and makes the API server fail the Deployment with an error 500.
const QUANTITY: &str =
    r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)?$";

fn quantity_rules(schema: &mut schemars::Schema) {
    for field in ["requests", "limits"] {
        let Some(map) = schema
            .get_mut("properties")
            .and_then(|p| p.get_mut(field))
            .and_then(|m| m.as_object_mut())
        else {
            continue;
        };
        map.insert("maxProperties".into(), 16.into());
        if let Some(value) = map
            .get_mut("additionalProperties")
            .and_then(|v| v.as_object_mut())
        {
            value.insert("pattern".into(), QUANTITY.into());
            // Bounded so the comparison below stays within the API server's CEL budget.
            value.insert("maxLength".into(), 64.into());
        }
    }
    schema.insert(
        "x-kubernetes-validations".into(),
        json!([{
            "rule": "!has(self.requests) || !has(self.limits) || self.requests.all(k, !(k in self.limits) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)",
            "message": "resources.requests must not exceed resources.limits for any resource named in both"
        }]),
    );
}

/// A probe has exactly one handler, as the API server requires of a Pod's.
fn probe_rules(schema: &mut schemars::Schema) {
    // A port is a number or a port name (at most 15 characters): bounding it keeps the cost of
    // the component's rules that look the name up within the API server's budget.
    for handler in ["httpGet", "tcpSocket"] {
        constrain(schema, &[handler, "port"], "maxLength", json!(15));
    }
    schema.insert(
        "x-kubernetes-validations".into(),
        serde_json::json!([{
            "rule": "(has(self.exec) ? 1 : 0) + (has(self.httpGet) ? 1 : 0) + (has(self.tcpSocket) ? 1 : 0) + (has(self.grpc) ? 1 : 0) == 1",
            "message": "probe.exec, httpGet, tcpSocket or grpc: a probe needs exactly one handler"
        }]),
    );
}

/// Upper bounds for every string, list and map of the spec that has none of its own.
///
/// The Kubernetes types embedded in the spec carry none in their OpenAPI, and the API server
/// checks few of them even on a Pod, so without these a 1 MiB value passes admission and is
/// copied into every child. Free text (map values, `env[].value`, `command`, `args`) may be
/// long; every other string is a name, key, path or keyword, for which 1024 characters is far
/// above what Kubernetes accepts. They also bound the cost of CEL rules over these fields.
fn bounded(schema: &mut schemars::Schema) {
    if let Some(node) = schema.as_object_mut() {
        bound(node, "");
    }
}

const FREE_TEXT_MAX: u64 = 64 * 1024;
const WORD_MAX: u64 = 1024;
const LIST_MAX: u64 = 64;
const MAP_MAX: u64 = 64;

fn bound(node: &mut serde_json::Map<String, Value>, name: &str) {
    let free_text = matches!(name, "value" | "command" | "args" | "{}");
    let text_max = if free_text { FREE_TEXT_MAX } else { WORD_MAX };
    // `["string", "null"]` for an Option until kube makes it `nullable`.
    let is = |node: &serde_json::Map<String, Value>, ty: &str| match node.get("type") {
        Some(Value::String(t)) => t == ty,
        Some(Value::Array(types)) => types.iter().any(|t| t == ty),
        _ => false,
    };
    if (is(node, "string") && !node.contains_key("enum"))
        || node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
    {
        node.entry("maxLength").or_insert(text_max.into());
    }
    if is(node, "array") {
        node.entry("maxItems").or_insert(LIST_MAX.into());
    }
    if node.contains_key("additionalProperties") {
        node.entry("maxProperties").or_insert(MAP_MAX.into());
    }
    if let Some(properties) = node.get_mut("properties").and_then(Value::as_object_mut) {
        for (property, schema) in properties.iter_mut() {
            if let Some(schema) = schema.as_object_mut() {
                bound(schema, property);
            }
        }
    }
    // A list's items are bounded as the list's own name says (`args` items are free text).
    if let Some(items) = node.get_mut("items").and_then(Value::as_object_mut) {
        bound(items, name);
    }
    if let Some(values) = node
        .get_mut("additionalProperties")
        .and_then(Value::as_object_mut)
    {
        bound(values, "{}");
    }
}

/// Sets `keyword` on the subschema at `path` (property names; `items` and
/// `additionalProperties` step into a list's or a map's values). The Kubernetes types embedded
/// here carry no such limits in their OpenAPI; the API server checks them only on the child.
fn constrain(schema: &mut schemars::Schema, path: &[&str], keyword: &str, value: Value) {
    let pointer: String = path
        .iter()
        .map(|step| match *step {
            "items" | "additionalProperties" => format!("/{step}"),
            name => format!("/properties/{name}"),
        })
        .collect();
    let node = if pointer.is_empty() {
        schema.as_object_mut()
    } else {
        schema.pointer_mut(&pointer).and_then(Value::as_object_mut)
    };
    if let Some(node) = node {
        node.insert(keyword.into(), value);
    }
}

fn label_values(schema: &mut schemars::Schema) {
    constrain(schema, &[], "maxProperties", json!(64));
    // Keys: CEL, since a structural schema cannot constrain map keys. An optional DNS-subdomain
    // prefix and `/`, then a name of at most 63 characters.
    constrain(
        schema,
        &[],
        "x-kubernetes-validations",
        json!([{
            "rule": format!("self.all(k, size(k) <= 317 && k.matches('{LABEL_KEY}'))"),
            "message": "podLabels.keys must be label keys: an optional DNS subdomain and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        }]),
    );
    let value = &["additionalProperties"];
    constrain(schema, value, "maxLength", json!(63));
    constrain(
        schema,
        value,
        "pattern",
        json!("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"),
    );
}

fn toleration_rules(schema: &mut schemars::Schema) {
    constrain(
        schema,
        &["items", "operator"],
        "enum",
        json!(["Exists", "Equal"]),
    );
    constrain(
        schema,
        &["items", "effect"],
        "enum",
        json!(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
    );
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters.
const LABEL_KEY: &str = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$";
/// A label value: at most 63 letters, digits, `-`, `_` or `.`, alphanumeric at both ends.
const LABEL_VALUE: &str = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
const DNS_LABEL: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const DNS_SUBDOMAIN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// What the API server checks on a Pod's `affinity`, checked at the app's field. The lists are
/// bounded tighter than the default so the CEL rules on their items stay within budget.
fn affinity_rules(schema: &mut schemars::Schema) {
    // Node affinity: the required terms and the preferred terms' preferences.
    let required = [
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
    ];
    let terms = [&required[..], &["nodeSelectorTerms"]].concat();
    constrain(schema, &terms, "minItems", json!(1));
    constrain(schema, &terms, "maxItems", json!(8));
    let preferred = [
        "nodeAffinity",
        "preferredDuringSchedulingIgnoredDuringExecution",
    ];
    preferred_weight(schema, &preferred);
    let term_paths = [
        [&terms[..], &["items"]].concat(),
        [&preferred[..], &["items", "preference"]].concat(),
    ];
    for term in &term_paths {
        let expression = requirements(
            schema,
            &[&term[..], &["matchExpressions"]].concat(),
            &["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"],
        );
        constrain(
            schema,
            &[&expression[..], &["values", "items"]].concat(),
            "maxLength",
            json!(63),
        );
        constrain(
            schema,
            &expression,
            "x-kubernetes-validations",
            json!([{
                "rule": "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : self.operator in ['Exists', 'DoesNotExist'] ? !has(self.values) || size(self.values) == 0 : has(self.values) && size(self.values) == 1 && self.values[0].matches('^-?[0-9]+$')",
                "message": "nodeAffinity.matchExpressions[].values: In and NotIn need values, Exists and DoesNotExist take none, Gt and Lt take one integer"
            }]),
        );
        let fields = [&term[..], &["matchFields"]].concat();
        constrain(schema, &fields, "maxItems", json!(16));
        let field = [&fields[..], &["items"]].concat();
        constrain(
            schema,
            &[&field[..], &["key"]].concat(),
            "enum",
            json!(["metadata.name"]),
        );
        constrain(
            schema,
            &[&field[..], &["operator"]].concat(),
            "enum",
            json!(["In", "NotIn"]),
        );
        constrain(
            schema,
            &[&field[..], &["values", "items"]].concat(),
            "maxLength",
            json!(253),
        );
        constrain(
            schema,
            &field,
            "x-kubernetes-validations",
            json!([{
                "rule": "has(self.values) && size(self.values) == 1",
                "message": "nodeAffinity.matchFields[].values: metadata.name takes exactly one node name"
            }]),
        );
    }

    // Pod affinity and anti-affinity: the same terms in both.
    for kind in ["podAffinity", "podAntiAffinity"] {
        let required = [kind, "requiredDuringSchedulingIgnoredDuringExecution"];
        constrain(schema, &required, "maxItems", json!(16));
        let preferred = [kind, "preferredDuringSchedulingIgnoredDuringExecution"];
        preferred_weight(schema, &preferred);
        let term_paths = [
            [&required[..], &["items"]].concat(),
            [&preferred[..], &["items", "podAffinityTerm"]].concat(),
        ];
        for term in &term_paths {
            let at = |tail: &[&'static str]| [&term[..], tail].concat();
            label_key(schema, &at(&["topologyKey"]));
            constrain(
                schema,
                &at(&["namespaces", "items"]),
                "pattern",
                json!(DNS_LABEL),
            );
            constrain(
                schema,
                &at(&["namespaces", "items"]),
                "maxLength",
                json!(63),
            );
            for keys in ["matchLabelKeys", "mismatchLabelKeys"] {
                label_key(schema, &at(&[keys, "items"]));
            }
            for selector in ["labelSelector", "namespaceSelector"] {
                label_selector_rules(schema, &at(&[selector]));
            }
        }
    }
}

/// A label key at `path`: an optional DNS-subdomain prefix and `/`, then a name.
fn label_key(schema: &mut schemars::Schema, path: &[&str]) {
    constrain(schema, path, "pattern", json!(LABEL_KEY));
    constrain(schema, path, "maxLength", json!(317));
}

/// The list of selector requirements at `list`: at most 16, each with a label key and one of
/// `operators`. Returns the path of one requirement.
fn requirements<'a>(
    schema: &mut schemars::Schema,
    list: &[&'a str],
    operators: &[&str],
) -> Vec<&'a str> {
    constrain(schema, list, "maxItems", json!(16));
    let requirement = [list, &["items"]].concat();
    label_key(schema, &[&requirement[..], &["key"]].concat());
    constrain(
        schema,
        &[&requirement[..], &["operator"]].concat(),
        "enum",
        json!(operators),
    );
    requirement
}

/// The weight of a preferred scheduling term: 1 to 100.
fn preferred_weight(schema: &mut schemars::Schema, list: &[&str]) {
    constrain(schema, list, "maxItems", json!(16));
    let weight = [list, &["items", "weight"]].concat();
    constrain(schema, &weight, "minimum", json!(1));
    constrain(schema, &weight, "maximum", json!(100));
}

/// A label selector as the API server checks it: label keys and values, known operators, and
/// values exactly when the operator needs them.
fn label_selector_rules(schema: &mut schemars::Schema, selector: &[&str]) {
    let at = |tail: &[&'static str]| [selector, tail].concat();
    constrain(schema, &at(&["matchLabels"]), "maxProperties", json!(16));
    constrain(
        schema,
        &at(&["matchLabels", "additionalProperties"]),
        "pattern",
        json!(LABEL_VALUE),
    );
    constrain(
        schema,
        &at(&["matchLabels", "additionalProperties"]),
        "maxLength",
        json!(63),
    );
    constrain(
        schema,
        &at(&["matchLabels"]),
        "x-kubernetes-validations",
        json!([{
            "rule": format!("self.all(k, size(k) <= 317 && k.matches('{LABEL_KEY}'))"),
            "message": "matchLabels.keys must be label keys: an optional DNS subdomain and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        }]),
    );
    let expression = requirements(
        schema,
        &at(&["matchExpressions"]),
        &["In", "NotIn", "Exists", "DoesNotExist"],
    );
    let value = [&expression[..], &["values", "items"]].concat();
    constrain(schema, &value, "pattern", json!(LABEL_VALUE));
    constrain(schema, &value, "maxLength", json!(63));
    constrain(
        schema,
        &expression,
        "x-kubernetes-validations",
        json!([{
            "rule": "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
            "message": "labelSelector.matchExpressions[].values: In and NotIn need values, Exists and DoesNotExist take none"
        }]),
    );
}

fn spread_rules(schema: &mut schemars::Schema) {
    constrain(schema, &["items", "maxSkew"], "minimum", json!(1));
    constrain(
        schema,
        &["items", "whenUnsatisfiable"],
        "enum",
        json!(["DoNotSchedule", "ScheduleAnyway"]),
    );
}

fn scaling_rules(schema: &mut schemars::Schema) {
    constrain(schema, &["policies"], "maxItems", json!(16));
    let policy = |field| ["policies", "items", field];
    constrain(schema, &policy("type"), "enum", json!(["Pods", "Percent"]));
    constrain(schema, &policy("value"), "minimum", json!(1));
    constrain(schema, &policy("periodSeconds"), "minimum", json!(1));
    constrain(schema, &policy("periodSeconds"), "maximum", json!(1800));
    constrain(schema, &["stabilizationWindowSeconds"], "minimum", json!(0));
    constrain(
        schema,
        &["stabilizationWindowSeconds"],
        "maximum",
        json!(3600),
    );
    constrain(
        schema,
        &["selectPolicy"],
        "enum",
        json!(["Max", "Min", "Disabled"]),
    );
}

/// Settings every component has, master and worker alike. Its large fields that most apps
/// leave unset (probes, security context, placement...) are boxed: every app is cached, and
/// unboxed they would take their full size in each component of each one.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(
    validation = Rule::new("(!has(self.autoscaling) && !has(self.scaleDown)) || [self.replicas].all(r, r.max > r.min)").message("autoscaling and scaleDown need replicas.max above replicas.min: with min == max the replica count is fixed"),
    validation = Rule::new("!has(self.readinessProbe) || ((!has(self.readinessProbe.httpGet) || string(self.readinessProbe.httpGet.port).matches('^[0-9]+$') || (has(self.ports) && self.ports.exists(q, q.name == string(self.readinessProbe.httpGet.port)))) && (!has(self.readinessProbe.tcpSocket) || string(self.readinessProbe.tcpSocket.port).matches('^[0-9]+$') || (has(self.ports) && self.ports.exists(q, q.name == string(self.readinessProbe.tcpSocket.port)))))").message("readinessProbe.httpGet.port or readinessProbe.tcpSocket.port names no port of this component: use one of ports[].name, or a number"),
    validation = Rule::new("!has(self.livenessProbe) || ((!has(self.livenessProbe.httpGet) || string(self.livenessProbe.httpGet.port).matches('^[0-9]+$') || (has(self.ports) && self.ports.exists(q, q.name == string(self.livenessProbe.httpGet.port)))) && (!has(self.livenessProbe.tcpSocket) || string(self.livenessProbe.tcpSocket.port).matches('^[0-9]+$') || (has(self.ports) && self.ports.exists(q, q.name == string(self.livenessProbe.tcpSocket.port)))))").message("livenessProbe.httpGet.port or livenessProbe.tcpSocket.port names no port of this component: use one of ports[].name, or a number"),
    validation = Rule::new("!has(self.startupProbe) || ((!has(self.startupProbe.httpGet) || string(self.startupProbe.httpGet.port).matches('^[0-9]+$') || (has(self.ports) && self.ports.exists(q, q.name == string(self.startupProbe.httpGet.port)))) && (!has(self.startupProbe.tcpSocket) || string(self.startupProbe.tcpSocket.port).matches('^[0-9]+$') || (has(self.ports) && self.ports.exists(q, q.name == string(self.startupProbe.tcpSocket.port)))))").message("startupProbe.httpGet.port or startupProbe.tcpSocket.port names no port of this component: use one of ports[].name, or a number"),
    validation = Rule::new("!has(self.autoscaling) || [self.autoscaling].all(a, (!has(a.cpuUtilization) && !has(a.memoryUtilization)) || (has(self.resources) && [self.resources].all(r, has(r.requests) && (!has(a.cpuUtilization) || 'cpu' in r.requests) && (!has(a.memoryUtilization) || 'memory' in r.requests))))").message("autoscaling.cpuUtilization needs resources.requests.cpu, and autoscaling.memoryUtilization resources.requests.memory: utilization is a percentage of the request"),
)]
#[serde(rename_all = "camelCase")]
pub struct ComponentSpec {
    /// Image override for this component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), regex(pattern = r"^[^\s]+$"))]
    pub image: Option<String>,
    /// Entrypoint override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Arguments to the entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables; they override the app's by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), transform = env_rules)]
    pub env: Vec<EnvVar>,
    /// Extra sources of environment variables, after the app's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// ServiceAccount override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub service_account_name: Option<String>,
    /// Extra pod labels for this component.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = label_values)]
    pub pod_labels: BTreeMap<String, String>,
    /// Extra pod annotations for this component.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
    /// Named ports the container listens on; each is published by the component's Service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    // Unique names: the list-map key, which the API server checks itself.
    #[schemars(length(max = 16))]
    #[schemars(extend(
        "x-kubernetes-list-type" = "map",
        "x-kubernetes-list-map-keys" = ["name"],
        "x-kubernetes-validations" = [{"rule": "self.all(p, self.exists_one(q, q.port == p.port))", "message": "ports[].port must be unique"}],
    ))]
    pub ports: Vec<PortSpec>,
    /// CPU and memory requests and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = quantity_rules)]
    pub resources: Option<Box<ResourceRequirements>>,
    /// Readiness probe of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = probe_rules)]
    pub readiness_probe: Option<Box<Probe>>,
    /// Liveness probe of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = probe_rules)]
    pub liveness_probe: Option<Box<Probe>>,
    /// Startup probe of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = probe_rules)]
    pub startup_probe: Option<Box<Probe>>,
    /// Replica bounds. With min == max the component has a fixed size.
    pub replicas: Replicas,
    /// Resource-metric targets for the autoscaler (CPU and/or memory utilization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// How fast the autoscaler may remove replicas: the HPA's `behavior.scaleDown`, KEDA's
    /// `advanced.horizontalPodAutoscalerConfig.behavior.scaleDown`. Its
    /// `stabilizationWindowSeconds` (how long load stays low before replicas go) also sets when
    /// a worker's last replica goes: KEDA's `cooldownPeriod`, the HTTP add-on's
    /// `scaledownPeriod`. Only for autoscaled components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = scaling_rules)]
    pub scale_down: Option<Box<HPAScalingRules>>,
    /// Where the pods run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Box<Placement>>,
    /// Container security context for this component, merged over the app's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<Box<SecurityContext>>,
    /// Freeze this component's replica count where it is, like `spec.paused` for one
    /// component. Only for autoscaled components.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// How long a scale from zero may take, from its first replica wanted to its first ready
    /// pod: a Go duration such as `500ms`, `5s` or `1m30s`, at most `1h`. A cold start over it
    /// raises a Warning Event, `ColdStartOverBudget`. Every cold start is measured, with or
    /// without a budget: `status.components[].lastColdStart` and the `cold_start_seconds`
    /// histogram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // The length bounds the number Go's format can spell, so parsing it cannot overflow.
    #[schemars(
        length(min = 2, max = 12),
        regex(pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"),
        extend("x-kubernetes-validations" = [{"rule": "duration(self) > duration('0s') && duration(self) <= duration('1h')", "message": "coldStartBudget must be a duration above 0 and at most 1h, such as 500ms, 5s or 1m30s"}])
    )]
    pub cold_start_budget: Option<kube::core::Duration>,
}

/// The master: the app's always-on entry point.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(
    validation = Rule::new("self.replicas.min >= 1").message("master.replicas.min must be at least 1: the master is always on"),
    validation = Rule::new("!has(self.paused) || !self.paused || [self.replicas].all(r, r.min < r.max)").message("master.paused applies to an autoscaled master: with replicas.min == replicas.max its size is fixed already"),
    validation = Rule::new("has(self.ports) && size(self.ports) >= 1").message("master.ports must list at least one port: the master is the app's entry point"),
    validation = Rule::new("[self.replicas].all(r, r.min >= r.max) || has(self.autoscaling) || (has(self.resources) && has(self.resources.requests) && 'cpu' in self.resources.requests)").message("master.resources.requests.cpu is required when replicas.max is above replicas.min without autoscaling: the default autoscaler targets CPU utilization, a percentage of the request"),
    validation = Rule::new("!has(self.expose) || !has(self.expose.ingress) || !has(self.expose.ingress.port) || self.ports.exists(p, p.name == self.expose.ingress.port)").message("master.expose.ingress.port must name one of master.ports"),
)]
#[serde(rename_all = "camelCase")]
pub struct MasterSpec {
    #[serde(flatten)]
    pub component: ComponentSpec,
    /// Exposure beyond the in-cluster ClusterIP Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose: Option<Box<Expose>>,
}

/// A worker pool: a function with its own Deployment, scaled by KEDA.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(
    validation = Rule::new("!has(self.paused) || !self.paused || [self.replicas].all(r, r.min < r.max)").message("workers[].paused applies to an autoscaled worker: with replicas.min == replicas.max its size is fixed already"),
    validation = Rule::new("!has(self.http) || (!(has(self.triggers) && size(self.triggers) > 0) && !has(self.autoscaling) && !has(self.pollingIntervalSeconds) && !(has(self.paused) && self.paused) && (!has(self.scaleDown) || (!has(self.scaleDown.policies) && !has(self.scaleDown.selectPolicy))))").message("workers[].http cannot be combined with triggers, autoscaling, pollingIntervalSeconds, paused, or scaleDown.policies and selectPolicy: the HTTP add-on is the worker's one scaler, scales on requests alone, takes a scale-down period only (scaleDown.stabilizationWindowSeconds) and has no pause"),
    validation = Rule::new("!has(self.http) || self.replicas.min == 0").message("workers[].http is only for scale-from-zero workers: set replicas.min to 0, or use triggers"),
    validation = Rule::new("!has(self.http) || (has(self.ports) && size(self.ports) > 0 && (!has(self.http.port) || self.ports.exists(p, p.name == self.http.port)))").message("workers[].http needs workers[].ports to route requests to, and workers[].http.port must name one of them"),
    validation = Rule::new("!has(self.cooldownSeconds) || !has(self.scaleDown) || !has(self.scaleDown.stabilizationWindowSeconds) || self.cooldownSeconds == self.scaleDown.stabilizationWindowSeconds").message("workers[].cooldownSeconds and workers[].scaleDown.stabilizationWindowSeconds are one setting (how long load stays low before replicas go, the last one included): set scaleDown.stabilizationWindowSeconds only"),
    validation = Rule::new("self.replicas.min > 0 || has(self.http) || (has(self.triggers) && self.triggers.exists(t, t.type != 'cpu' && t.type != 'memory'))").message("workers[].replicas.min is 0 but nothing can scale the worker up from zero: add http or an event trigger (KEDA cannot scale from zero on cpu or memory), or set replicas.min to 1"),
    validation = Rule::new("!has(self.fallback) || ((has(self.triggers) && size(self.triggers) > 0) && self.fallback.replicas <= self.replicas.max)").message("workers[].fallback needs triggers (it is the replica count KEDA keeps when a trigger fails), and fallback.replicas must not exceed replicas.max"),
    validation = Rule::new("!has(self.idleReplicas) || ((has(self.triggers) && size(self.triggers) > 0) && self.idleReplicas < self.replicas.min)").message("workers[].idleReplicas needs triggers and must be below replicas.min"),
    validation = Rule::new("[self.replicas].all(r, r.min == 0 || r.min >= r.max) || has(self.autoscaling) || has(self.http) || (has(self.triggers) && size(self.triggers) > 0) || (has(self.resources) && has(self.resources.requests) && 'cpu' in self.resources.requests)").message("workers[].resources.requests.cpu is required when replicas.max is above replicas.min without triggers or autoscaling: the default autoscaler targets CPU utilization, a percentage of the request"),
)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSpec {
    /// Name of the pool; its objects are named `<app>-<name>`.
    // Unique: the list-map key of `workers`, which the API server checks itself.
    #[schemars(
        length(min = 1, max = 40),
        regex(pattern = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
        extend("x-kubernetes-validations" = [{"rule": "self != 'master'", "message": "spec.workers[].name must not be 'master': that names the master's pods, which a worker's Service would then select"}])
    )]
    pub name: String,
    #[serde(flatten)]
    pub component: ComponentSpec,
    /// KEDA triggers, passed to a ScaledObject unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub triggers: Vec<Trigger>,
    /// Scale from zero on HTTP requests through the KEDA HTTP add-on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpTrigger>,
    /// How often KEDA polls the triggers (KEDA's default: 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub polling_interval_seconds: Option<i32>,
    /// How long the worker stays up after the last activity before going to zero (KEDA's
    /// default: 300). `scaleDown.stabilizationWindowSeconds` sets it too, and the two may not
    /// disagree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub cooldown_seconds: Option<i32>,
    /// Replicas while no trigger is active, below replicas.min (KEDA's idleReplicaCount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub idle_replicas: Option<i32>,
    /// Replicas KEDA keeps when a trigger keeps failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
}

/// Replica bounds.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(
    validation = Rule::new("self.min <= self.max").message("replicas.min must not exceed replicas.max"),
    validation = Rule::new("self.max >= 1").message("replicas.max must be at least 1"),
)]
pub struct Replicas {
    /// Fewest replicas; 0 lets a worker scale to zero.
    #[schemars(range(min = 0, max = 10000))]
    pub min: i32,
    /// Most replicas.
    #[schemars(range(min = 0, max = 10000))]
    pub max: i32,
}

/// A container port.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PortSpec {
    /// IANA service name of the port, e.g. `http` or `grpc`.
    #[schemars(
        length(min = 1, max = 15),
        regex(pattern = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
    )]
    pub name: String,
    /// Port number the container listens on, also used by the Service.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Application protocol; sets the Service port's `appProtocol`.
    #[serde(default)]
    pub protocol: PortProtocol,
}

/// What speaks on a port.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PortProtocol {
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "GRPC")]
    Grpc,
    #[serde(rename = "TCP")]
    Tcp,
}

/// Resource-metric targets for the HorizontalPodAutoscaler (or KEDA's cpu/memory triggers).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("has(self.cpuUtilization) || has(self.memoryUtilization)").message("autoscaling needs cpuUtilization or memoryUtilization"))]
#[serde(rename_all = "camelCase")]
pub struct Autoscaling {
    /// Target average CPU utilization, in percent of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub cpu_utilization: Option<i32>,
    /// Target average memory utilization, in percent of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub memory_utilization: Option<i32>,
}

/// Where a component's pods are scheduled.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = affinity_rules)]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), transform = toleration_rules)]
    pub tolerations: Vec<Toleration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), transform = spread_rules)]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
}

/// How the master is reached from outside the cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.serviceAnnotations) || has(self.serviceType)").message("expose.serviceAnnotations needs expose.serviceType"))]
#[serde(rename_all = "camelCase")]
pub struct Expose {
    /// Service type of the master's Service (default ClusterIP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<ServiceType>,
    /// Annotations for the master's Service, e.g. for a cloud load balancer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_annotations: BTreeMap<String, String>,
    /// An Ingress in front of the master's Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
}

/// Type of the master's Service.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceType {
    ClusterIP,
    NodePort,
    LoadBalancer,
}

/// An Ingress for the master.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Host name, e.g. `shop.example.com`.
    #[schemars(
        length(min = 1, max = 253),
        regex(
            pattern = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
        )
    )]
    pub host: String,
    /// Path prefix (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024), regex(pattern = r"^/[^\s]*$"))]
    pub path: Option<String>,
    /// Name of the master port to route to (default: the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15))]
    pub port: Option<String>,
    /// IngressClass to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub class_name: Option<String>,
    /// Secret holding the TLS certificate for `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub tls_secret_name: Option<String>,
    /// Annotations for the Ingress.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A KEDA trigger, passed to the ScaledObject unchanged.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    /// KEDA scaler type, e.g. `rabbitmq`, `kafka`, `cron`, `prometheus`, `metrics-api`.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z][a-z0-9-]*$"))]
    #[serde(rename = "type")]
    pub type_: String,
    /// Optional trigger name (KEDA uses it in metric names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Scaler-specific settings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Reference to a KEDA TriggerAuthentication or ClusterTriggerAuthentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_ref: Option<AuthenticationRef>,
    /// `AverageValue` (default), `Value` or `Utilization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_type: Option<MetricType>,
    /// Serve the HPA from KEDA's metric cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_cached_metrics: Option<bool>,
}

/// KEDA metric types.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    AverageValue,
    Value,
    Utilization,
}

/// Reference to a KEDA (Cluster)TriggerAuthentication.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct AuthenticationRef {
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
    /// `TriggerAuthentication` (default) or `ClusterTriggerAuthentication`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AuthenticationKind>,
}

/// Kinds of KEDA authentication objects.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthenticationKind {
    TriggerAuthentication,
    ClusterTriggerAuthentication,
}

/// Scale from zero on HTTP requests (KEDA HTTP add-on).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(
    validation = Rule::new("(has(self.hosts) && size(self.hosts) > 0) || (has(self.pathPrefixes) && size(self.pathPrefixes) > 0)").message("http needs hosts or pathPrefixes to route requests"),
    validation = Rule::new("!(has(self.targetConcurrency) && has(self.requestRate))").message("http.targetConcurrency and http.requestRate are exclusive"),
)]
#[serde(rename_all = "camelCase")]
pub struct HttpTrigger {
    /// Host names routed to the worker (lowercase DNS names, optionally `*.` wildcards).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(
            length(min = 1, max = 253),
            regex(
                pattern = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
            )
        )
    )]
    pub hosts: Vec<String>,
    /// Path prefixes routed to the worker, each starting with `/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 1024), regex(pattern = r"^/[^\s]*$"))
    )]
    pub path_prefixes: Vec<String>,
    /// Name of the worker port to route to (default: the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15))]
    pub port: Option<String>,
    /// Target in-flight requests per replica (default 100 when no requestRate is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub target_concurrency: Option<i32>,
    /// Target request rate per replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<RequestRate>,
}

/// Request-rate target for the HTTP add-on.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RequestRate {
    /// Requests per second per replica.
    #[schemars(range(min = 1))]
    pub target_value: i32,
    /// Averaging window, e.g. `1m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h)$"))]
    pub window: Option<String>,
    /// Bucket size within the window, e.g. `1s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h)$"))]
    pub granularity: Option<String>,
}

/// KEDA fallback.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Fallback {
    /// Consecutive failures before the fallback applies.
    #[schemars(range(min = 1))]
    pub failure_threshold: i32,
    /// Replicas to keep meanwhile.
    #[schemars(range(min = 0))]
    pub replicas: i32,
}

/// What the operator observed, and the effective values it used.
// Defaults to `observedGeneration: 0`: the API server fills it in when it reads an app the
// operator has not written a status for yet, so kstatus (Flux's health checks) sees a new app
// as in progress, not as current, until the operator reports on it. The operator can then hold
// back its first status write until the app is Ready, Stalled or the status interval is over.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("default" = {}))]
pub struct ServerlessAppStatus {
    /// The generation this status describes (0 until the operator reports on the app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    pub observed_generation: Option<i64>,
    /// kstatus conditions: Ready, Reconciling, Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Master replicas, ready/desired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// Worker pools, ready/total (a pool scaled to zero is ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<String>,
    /// In-cluster URL of the master's first port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Worker pools scaled by KEDA, as KEDA reports them: e.g. `1 active, 2 idle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalers: Option<String>,
    /// One entry per component.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub components: Vec<ComponentStatus>,
}

/// Observed state of one component.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// `master` or the worker's name.
    pub name: String,
    /// What scales it.
    pub scaler: Scaler,
    /// Effective replica bounds.
    pub min_replicas: i32,
    pub max_replicas: i32,
    /// Replicas the Deployment asks for now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// Ready replicas.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Summary: Ready, ScaledToZero, Progressing, ScalerMissing.
    pub state: ComponentState,
    /// Whether its autoscaling is paused (`spec.paused` or its own `paused`): the replicas
    /// stay where they are.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// KEDA's view: whether a trigger is active (None when KEDA has not reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaler_active: Option<bool>,
    /// Why the component is not ready, if it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The field manager that last set the Deployment's `spec.replicas`, from its
    /// `managedFields`: this operator for a fixed size, and for an autoscaled one too (its
    /// starting count) until the autoscaler scales it, then `kube-controller-manager` (the
    /// HorizontalPodAutoscaler, also KEDA's) or `keda-operator`; anything else is a person or
    /// another tool (`kubectl scale`: `kubectl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas_manager: Option<String>,
    /// Whether that manager is someone other than the component's autoscaler: a person or a
    /// tool overrode it. Until the autoscaler scales again, the replicas are theirs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replicas_overridden: bool,
    /// Its last scale from zero, whatever scaled it: from the first replica wanted (the
    /// Deployment's `spec.replicas` leaving 0) to the first ready pod (its `readyReplicas`
    /// reaching 1), as the operator's watch of the Deployment saw both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_cold_start: Option<ColdStart>,
}

/// One measured scale from zero.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ColdStart {
    /// When its first pod was ready.
    pub ready_at: Time,
    /// How long it took.
    pub milliseconds: i64,
    /// Whether it took longer than the component's `coldStartBudget`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub over_budget: bool,
}

/// Which object scales a component.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scaler {
    /// min == max: the Deployment carries `replicas`.
    #[default]
    Fixed,
    /// An autoscaling/v2 HorizontalPodAutoscaler on CPU/memory.
    HorizontalPodAutoscaler,
    /// A KEDA ScaledObject.
    ScaledObject,
    /// A KEDA HTTP add-on HTTPScaledObject.
    HTTPScaledObject,
}

impl Scaler {
    pub fn as_str(self) -> &'static str {
        match self {
            Scaler::Fixed => "Fixed",
            Scaler::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            Scaler::ScaledObject => "ScaledObject",
            Scaler::HTTPScaledObject => "HTTPScaledObject",
        }
    }
}

/// Summary state of one component.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ComponentState {
    /// All desired replicas are available.
    Ready,
    /// Scaled to zero by its scaler: healthy and idle.
    ScaledToZero,
    /// Rolling out or scaling up.
    #[default]
    Progressing,
    /// Its scaler's CRD is not installed in the cluster.
    ScalerMissing,
    /// Its Deployment stopped progressing (`ProgressDeadlineExceeded`): pods that do not start
    /// or never turn ready.
    Failed,
}

impl ServerlessApp {
    /// The component specs in order: master first, then the workers as declared.
    pub fn components(&self) -> impl Iterator<Item = ComponentRef<'_>> {
        std::iter::once(ComponentRef::Master(&self.spec.master))
            .chain(self.spec.workers.iter().map(ComponentRef::Worker))
    }

    /// The `replicas.min` of the component whose children are named `object`.
    pub fn min_replicas_of(&self, object: &str) -> Option<i32> {
        let app = self.metadata.name.as_deref().unwrap_or_default();
        self.components()
            .find(|c| c.object_name(app) == object)
            .map(|c| c.spec().replicas.min)
    }
}

/// A borrowed component with its role.
#[derive(Clone, Copy, Debug)]
pub enum ComponentRef<'a> {
    Master(&'a MasterSpec),
    Worker(&'a WorkerSpec),
}

/// The name used in status and in the `component` label for the master.
pub const MASTER: &str = "master";

impl<'a> ComponentRef<'a> {
    pub fn spec(&self) -> &'a ComponentSpec {
        match self {
            ComponentRef::Master(m) => &m.component,
            ComponentRef::Worker(w) => &w.component,
        }
    }

    /// `master` or the worker's name.
    pub fn name(&self) -> &'a str {
        match self {
            ComponentRef::Master(_) => MASTER,
            ComponentRef::Worker(w) => &w.name,
        }
    }

    /// Name of the component's Deployment, Service and scaler.
    pub fn object_name(&self, app: &str) -> String {
        match self {
            ComponentRef::Master(_) => app.to_string(),
            ComponentRef::Worker(w) => format!("{app}-{}", w.name),
        }
    }

    pub fn worker(&self) -> Option<&'a WorkerSpec> {
        match self {
            ComponentRef::Master(_) => None,
            ComponentRef::Worker(w) => Some(w),
        }
    }

    /// Whether its autoscaling is paused: by the app's `paused` or its own. A fixed size has
    /// nothing to pause.
    pub fn paused(&self, app: &ServerlessApp) -> bool {
        self.scaler() != Scaler::Fixed && (app.spec.paused || self.spec().paused)
    }

    /// Which object scales this component. The single place that decides it.
    pub fn scaler(&self) -> Scaler {
        let replicas = &self.spec().replicas;
        match self.worker() {
            Some(w) if w.http.is_some() => Scaler::HTTPScaledObject,
            Some(w) if !w.triggers.is_empty() => Scaler::ScaledObject,
            _ if replicas.min == replicas.max => Scaler::Fixed,
            _ => Scaler::HorizontalPodAutoscaler,
        }
    }
}
