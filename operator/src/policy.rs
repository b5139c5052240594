//! The admission policy that refuses, at `kubectl apply`, a ServerlessApp whose pods Pod Security
//! "restricted" would refuse. The operator creates pods with its own rights, so without it a
//! tenant allowed only ServerlessApps could still get a privileged pod through one.
//!
//! It is a ValidatingAdmissionPolicy rather than CEL in the CRD because the exception belongs to
//! the namespace, not to the manifest: a cluster admin allows more by labelling a namespace,
//! which a tenant with rights over ServerlessApps alone cannot do.

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

/// The policy and its binding, as API objects.
pub fn objects() -> [Value; 2] {
    // The CRD's labels: it goes and stays with the CRD (`make undeploy` keeps both), and
    // config/crd, which labels everything under crds/ so, then adds nothing that differs.
    let labels = json!({
        "app.kubernetes.io/name": "serverless-operator",
        "app.kubernetes.io/component": "crd",
    });
    [
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": POLICY_NAME, "labels": labels},
            "spec": {
                "failurePolicy": "Fail",
                // `matchConstraints` and `matchResources` are atomic: written out with the
                // server's defaults, so that two appliers of this same file (kubectl, then
                // Flux or Argo CD) do not conflict over a value only the defaults changed.
                "matchConstraints": {
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
                },
                "validations": validations(),
            },
        }),
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": POLICY_NAME, "labels": labels},
            "spec": {
                "policyName": POLICY_NAME,
                "validationActions": ["Deny"],
                "matchResources": {
                    "matchPolicy": "Equivalent",
                    "namespaceSelector": {"matchExpressions": [{
                        "key": ALLOW_LABEL,
                        "operator": "NotIn",
                        "values": [ALLOW_VALUE],
                    }]},
                    "objectSelector": {},
                },
            },
        }),
    ]
}

/// The policy and its binding as YAML, as committed under `crds/`.
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
