//! The admission policies that go with the CRD, refusing at `kubectl apply` what a tenant must
//! not get through a ServerlessApp:
//!
//! - pods that Pod Security "restricted" would refuse, in every namespace unless an admin's label
//!   lifts it (the operator creates pods with its own rights, so without this a tenant allowed
//!   only ServerlessApps could still get a privileged pod through one);
//! - in a namespace an admin marks as a tenant's, exposure beyond what the namespace's
//!   annotations grant: Service types, ingress classes, hosts (Ingress and HTTP add-on) and
//!   controller annotations.
//!
//! They are ValidatingAdmissionPolicies rather than CEL in the CRD because the exceptions belong
//! to the namespace, not to the manifest: labels and annotations on a namespace, which a tenant
//! with rights over ServerlessApps alone cannot set.

use serde_json::{Value, json};

/// Name of the policy and of its binding.
pub const POLICY_NAME: &str = "serverlessapps-pod-security.serverless-operator.dev";
/// Namespace label that lifts the policy; only [`ALLOW_VALUE`] does.
pub const ALLOW_LABEL: &str = "serverless-operator.dev/pod-security";
pub const ALLOW_VALUE: &str = "privileged";

/// One restricted-profile check of a security context. `S` in `check` stands for the context as
/// a CEL optional, so an unset field passes.
struct Check {
    field: &'static str,
    check: &'static str,
    why: &'static str,
}

const SELINUX_TYPES: &str =
    "['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']";

/// Container-level checks (`SecurityContext`), from the Pod Security Standards.
const CONTAINER: &[Check] = &[
    Check {
        field: "privileged",
        check: "!S.?privileged.orValue(false)",
        why: "must not be true",
    },
    Check {
        field: "allowPrivilegeEscalation",
        check: "!S.?allowPrivilegeEscalation.orValue(false)",
        why: "must not be true",
    },
    Check {
        field: "capabilities.add",
        check: "S.?capabilities.?add.orValue([]).all(c, c == 'NET_BIND_SERVICE')",
        why: "may add only NET_BIND_SERVICE",
    },
    Check {
        field: "capabilities.drop",
        check: "S.?capabilities.?drop.orValue(['ALL']).exists(c, c == 'ALL')",
        why: "must include ALL",
    },
    Check {
        field: "runAsNonRoot",
        // `== true`: the policy is compiled without the CRD's types, and a bare value is `dyn`.
        check: "S.?runAsNonRoot.orValue(true) == true",
        why: "must not be false",
    },
    Check {
        field: "runAsUser",
        check: "S.?runAsUser.orValue(1) != 0",
        why: "must not be 0 (root)",
    },
    Check {
        field: "seccompProfile.type",
        check: "S.?seccompProfile.?type.orValue('RuntimeDefault') in ['RuntimeDefault', 'Localhost']",
        why: "must be RuntimeDefault or Localhost",
    },
    Check {
        field: "appArmorProfile.type",
        check: "S.?appArmorProfile.?type.orValue('RuntimeDefault') in ['RuntimeDefault', 'Localhost']",
        why: "must be RuntimeDefault or Localhost",
    },
    Check {
        field: "procMount",
        check: "S.?procMount.orValue('Default') == 'Default'",
        why: "must be Default",
    },
    Check {
        field: "seLinuxOptions.type",
        check: "S.?seLinuxOptions.?type.orValue('') in SELINUX_TYPES",
        why: "must be one of container_t, container_init_t, container_kvm_t, container_engine_t",
    },
    Check {
        field: "seLinuxOptions.user",
        check: "S.?seLinuxOptions.?user.orValue('') == ''",
        why: "must not be set",
    },
    Check {
        field: "seLinuxOptions.role",
        check: "S.?seLinuxOptions.?role.orValue('') == ''",
        why: "must not be set",
    },
    Check {
        field: "windowsOptions.hostProcess",
        check: "!S.?windowsOptions.?hostProcess.orValue(false)",
        why: "must not be true",
    },
];

/// Pod-level checks (`PodSecurityContext`): the container ones that exist there, and sysctls.
const POD_ONLY: &[Check] = &[Check {
    field: "sysctls",
    check: "S.?sysctls.orValue([]).all(s, s.name in ['kernel.shm_rmid_forced', \
            'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', \
            'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', \
            'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', \
            'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', \
            'net.ipv4.tcp_keepalive_probes'])",
    why: "may set only the safe sysctls",
}];

const POD_FIELDS: &[&str] = &[
    "runAsNonRoot",
    "runAsUser",
    "seccompProfile.type",
    "appArmorProfile.type",
    "seLinuxOptions.type",
    "seLinuxOptions.user",
    "seLinuxOptions.role",
    "windowsOptions.hostProcess",
];

fn expand(check: &Check, context: &str) -> String {
    check
        .check
        .replace("SELINUX_TYPES", SELINUX_TYPES)
        .replace("S.", &format!("{context}."))
}

fn refusal(path: &str, check: &Check) -> String {
    format!(
        "{path}.{}: Forbidden: {} under Pod Security \"restricted\" (the namespace label \
         {ALLOW_LABEL}={ALLOW_VALUE} lifts this)",
        check.field, check.why
    )
}

fn validations() -> Vec<Value> {
    let mut out = Vec::new();
    let pod = CONTAINER
        .iter()
        .filter(|c| POD_FIELDS.contains(&c.field))
        .chain(POD_ONLY);
    for check in pod {
        out.push(json!({
            "expression": expand(check, "object.spec.?podSecurityContext"),
            "message": refusal("spec.podSecurityContext", check),
            "reason": "Forbidden",
        }));
    }
    for check in CONTAINER {
        for (path, context) in [
            ("spec.securityContext", "object.spec.?securityContext"),
            (
                "spec.master.securityContext",
                "object.spec.?master.?securityContext",
            ),
        ] {
            out.push(json!({
                "expression": expand(check, context),
                "message": refusal(path, check),
                "reason": "Forbidden",
            }));
        }
        // Workers are named in the message: a list index would need list functions the
        // policy's CEL environment does not promise.
        let passes = expand(check, "w.?securityContext");
        out.push(json!({
            "expression": format!("object.spec.?workers.orValue([]).all(w, {passes})"),
            "messageExpression": format!(
                "'spec.workers[' + object.spec.workers.filter(w, !({passes}))[0].name + ']' + {}",
                cel_string(&refusal("", check).replacen('.', ".securityContext.", 1))
            ),
            "reason": "Forbidden",
        }));
    }
    out
}

/// `s` as a CEL string literal.
fn cel_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Name of the exposure policy and of its binding.
pub const EXPOSURE_POLICY_NAME: &str = "serverlessapps-exposure.serverless-operator.dev";
/// Namespace label that marks a tenant's namespace (the exposure policy applies there).
pub const TENANT_LABEL: &str = "serverless-operator.dev/tenant";
/// Namespace annotations listing what a tenant's apps may claim (comma-separated).
pub const SERVICE_TYPES_ANNOTATION: &str = "serverless-operator.dev/service-types";
pub const INGRESS_CLASSES_ANNOTATION: &str = "serverless-operator.dev/ingress-classes";
pub const HOSTS_ANNOTATION: &str = "serverless-operator.dev/hosts";
pub const ANNOTATION_PREFIXES_ANNOTATION: &str = "serverless-operator.dev/annotation-prefixes";

/// CEL: whether host `h` matches one of `variables.hosts` (`*.example.com` matches any name
/// under it, including the same wildcard).
const HOST_ALLOWED: &str =
    "variables.hosts.exists(p, p.startsWith('*.') ? h.endsWith(p.substring(1)) : h == p)";

fn exposure_validations() -> Vec<Value> {
    let granted = |annotation: &str, what: &str| {
        format!("(granted by the namespace annotation {annotation}: {what})")
    };
    let list = |var: &str| {
        format!("' + (size(variables.{var}) == 0 ? 'none' : variables.{var}.join(', ')) + '")
    };
    vec![
        json!({
            "expression": "object.spec.master.?expose.?serviceType.orValue('ClusterIP') in variables.serviceTypes",
            "messageExpression": format!(
                "'spec.master.expose.serviceType: Forbidden: ' + object.spec.master.?expose.?serviceType.orValue('ClusterIP') + ' is not a Service type this namespace may use {}'",
                granted(SERVICE_TYPES_ANNOTATION, &list("serviceTypes"))
            ),
            "reason": "Forbidden",
        }),
        json!({
            "expression": "object.spec.master.?expose.?serviceAnnotations.orValue({}).all(k, variables.annotationPrefixes.exists(p, k.startsWith(p)))",
            "messageExpression": format!(
                "'spec.master.expose.serviceAnnotations: Forbidden: ' + object.spec.master.expose.serviceAnnotations.filter(k, !variables.annotationPrefixes.exists(p, k.startsWith(p)))[0] + ' is not an annotation this namespace may set {}'",
                granted(ANNOTATION_PREFIXES_ANNOTATION, &list("annotationPrefixes"))
            ),
            "reason": "Forbidden",
        }),
        json!({
            "expression": "object.spec.master.?expose.?ingress.?className.orValue('') in [''] + variables.ingressClasses",
            "messageExpression": format!(
                "'spec.master.expose.ingress.className: Forbidden: ' + object.spec.master.expose.ingress.className + ' is not an ingress class this namespace may use {}'",
                granted(INGRESS_CLASSES_ANNOTATION, &list("ingressClasses"))
            ),
            "reason": "Forbidden",
        }),
        json!({
            "expression": format!("!object.spec.master.?expose.?ingress.hasValue() || [object.spec.master.expose.ingress.host].all(h, {HOST_ALLOWED})"),
            "messageExpression": format!(
                "'spec.master.expose.ingress.host: Forbidden: ' + object.spec.master.expose.ingress.host + ' is not a host this namespace may claim {}'",
                granted(HOSTS_ANNOTATION, &list("hosts"))
            ),
            "reason": "Forbidden",
        }),
        json!({
            "expression": "object.spec.master.?expose.?ingress.?annotations.orValue({}).all(k, variables.annotationPrefixes.exists(p, k.startsWith(p)))",
            "messageExpression": format!(
                "'spec.master.expose.ingress.annotations: Forbidden: ' + object.spec.master.expose.ingress.annotations.filter(k, !variables.annotationPrefixes.exists(p, k.startsWith(p)))[0] + ' is not an annotation this namespace may set {}'",
                granted(ANNOTATION_PREFIXES_ANNOTATION, &list("annotationPrefixes"))
            ),
            "reason": "Forbidden",
        }),
        // Without hosts the add-on routes the paths on every host, other teams' included.
        json!({
            "expression": "object.spec.?workers.orValue([]).all(w, !has(w.http) || (has(w.http.hosts) && size(w.http.hosts) > 0))",
            "messageExpression": "'spec.workers[' + object.spec.workers.filter(w, has(w.http) && !(has(w.http.hosts) && size(w.http.hosts) > 0))[0].name + '].http.hosts: Required value: in a tenant namespace an HTTP worker routes only its own hosts'",
            "reason": "Invalid",
        }),
        json!({
            "expression": format!("object.spec.?workers.orValue([]).all(w, !has(w.http) || w.http.?hosts.orValue([]).all(h, {HOST_ALLOWED}))"),
            "messageExpression": format!(
                "'spec.workers[' + object.spec.workers.filter(w, has(w.http) && !w.http.?hosts.orValue([]).all(h, {HOST_ALLOWED}))[0].name + '].http.hosts: Forbidden: ' + object.spec.workers.filter(w, has(w.http) && !w.http.?hosts.orValue([]).all(h, {HOST_ALLOWED}))[0].http.hosts.filter(h, !({HOST_ALLOWED}))[0] + ' is not a host this namespace may claim {}'",
                granted(HOSTS_ANNOTATION, &list("hosts"))
            ),
            "reason": "Forbidden",
        }),
    ]
}

/// A comma-separated namespace annotation as a CEL list of trimmed, non-empty items.
fn annotation_list(annotation: &str, default: &str) -> String {
    format!(
        "namespaceObject.metadata.?annotations.orValue({{}})[?{}].orValue('{default}').split(',').map(s, s.trim()).filter(s, s != '')",
        cel_string(annotation)
    )
}

/// The policies and their bindings, as API objects.
pub fn objects() -> [Value; 4] {
    // The CRD's labels: they go and stay with the CRD (`make undeploy` keeps them), and
    // config/crd, which labels everything under crds/ so, then adds nothing that differs.
    let labels = json!({
        "app.kubernetes.io/name": "serverless-operator",
        "app.kubernetes.io/component": "crd",
    });
    // `matchConstraints` and `matchResources` are atomic: written out with the server's
    // defaults, so that two appliers of this same file (kubectl, then Flux or Argo CD) do not
    // conflict over a value only the defaults changed.
    let match_constraints = json!({
        "matchPolicy": "Equivalent",
        "namespaceSelector": {},
        "objectSelector": {},
        "resourceRules": [{
            "apiGroups": ["serverless-operator.dev"],
            "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["serverlessapps"],
            "scope": "*",
        }],
    });
    let binding = |name: &str, selector: Value| {
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "matchPolicy": "Equivalent",
                    "namespaceSelector": selector,
                    "objectSelector": {},
                },
            },
        })
    };
    [
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": POLICY_NAME, "labels": labels},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": match_constraints,
                "validations": validations(),
            },
        }),
        binding(
            POLICY_NAME,
            json!({"matchExpressions": [{
                "key": ALLOW_LABEL,
                "operator": "NotIn",
                "values": [ALLOW_VALUE],
            }]}),
        ),
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": EXPOSURE_POLICY_NAME, "labels": labels},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": match_constraints,
                "variables": [
                    {"name": "serviceTypes", "expression": annotation_list(SERVICE_TYPES_ANNOTATION, "ClusterIP")},
                    {"name": "ingressClasses", "expression": annotation_list(INGRESS_CLASSES_ANNOTATION, "")},
                    {"name": "hosts", "expression": annotation_list(HOSTS_ANNOTATION, "")},
                    {"name": "annotationPrefixes", "expression": annotation_list(ANNOTATION_PREFIXES_ANNOTATION, "")},
                ],
                "validations": exposure_validations(),
            },
        }),
        binding(
            EXPOSURE_POLICY_NAME,
            json!({"matchLabels": {TENANT_LABEL: "true"}}),
        ),
    ]
}

/// The policies and their bindings as YAML, as committed under `crds/`.
pub fn policy_yaml() -> String {
    let mut out = String::from(
        "# Generated by `serverless-operator policy` from operator/src/policy.rs. Do not edit: run `make manifests`.\n",
    );
    for (i, object) in objects().iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(
            &serde_saphyr::to_string(object).unwrap_or_else(|e| format!("# cannot encode: {e}\n")),
        );
    }
    out
}

/// The fields the policy checks: (pod-level, container-level), each relative to its context.
pub fn checked_fields() -> (Vec<&'static str>, Vec<&'static str>) {
    let pod = POD_FIELDS
        .iter()
        .copied()
        .chain(POD_ONLY.iter().map(|c| c.field))
        .collect();
    (pod, CONTAINER.iter().map(|c| c.field).collect())
}
