//! Acting as the tenant: with `--impersonate-service-account`, an app's children are written as
//! a ServiceAccount of the app's namespace, so the API server grants exactly what that account
//! may create. RBAC does not look inside a pod template, though: whoever may create a Deployment
//! may run it as any ServiceAccount and hand it any Secret of the namespace. So before writing,
//! the operator asks the API server whether that account may use each one the app names
//! (a SelfSubjectAccessReview sent as that account).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar};
use kube::api::PostParams;
use kube::{Api, Client};

use crate::api::{ComponentRef, ServerlessApp};
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// A use of another object by the app's pods, and the access that use amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Where the app names it, e.g. `spec.workers[jobs].envFrom[0].secretRef.name`.
    pub field: String,
    pub verb: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    pub name: String,
}

impl Reference {
    fn describe(&self) -> String {
        match (self.resource, self.subresource) {
            ("secrets", _) => format!("get Secret {}", self.name),
            ("configmaps", _) => format!("get ConfigMap {}", self.name),
            // Running pods as an account is minting its tokens: what the kubelet does for them.
            ("serviceaccounts", Some("token")) => {
                format!("create tokens of ServiceAccount {}", self.name)
            }
            (resource, _) => format!("{} {resource} {}", self.verb, self.name),
        }
    }
}

fn secret(field: String, name: &str) -> Reference {
    Reference {
        field,
        verb: "get",
        resource: "secrets",
        subresource: None,
        name: name.to_string(),
    }
}

fn config_map(field: String, name: &str) -> Reference {
    Reference {
        field,
        verb: "get",
        resource: "configmaps",
        subresource: None,
        name: name.to_string(),
    }
}

fn env_references(prefix: &str, env: &[EnvVar], env_from: &[EnvFromSource]) -> Vec<Reference> {
    let mut out = Vec::new();
    for (i, var) in env.iter().enumerate() {
        let from = var.value_from.as_ref();
        if let Some(key) = from.and_then(|f| f.secret_key_ref.as_ref()) {
            out.push(secret(
                format!("{prefix}.env[{i}].valueFrom.secretKeyRef.name"),
                &key.name,
            ));
        }
        if let Some(key) = from.and_then(|f| f.config_map_key_ref.as_ref()) {
            out.push(config_map(
                format!("{prefix}.env[{i}].valueFrom.configMapKeyRef.name"),
                &key.name,
            ));
        }
    }
    for (i, source) in env_from.iter().enumerate() {
        if let Some(s) = &source.secret_ref {
            out.push(secret(
                format!("{prefix}.envFrom[{i}].secretRef.name"),
                &s.name,
            ));
        }
        if let Some(c) = &source.config_map_ref {
            out.push(config_map(
                format!("{prefix}.envFrom[{i}].configMapRef.name"),
                &c.name,
            ));
        }
    }
    out
}

fn account(field: String, name: &Option<String>) -> Option<Reference> {
    let name = name.as_deref().filter(|n| *n != "default")?;
    Some(Reference {
        field,
        verb: "create",
        resource: "serviceaccounts",
        subresource: Some("token"),
        name: name.to_string(),
    })
}

/// Every Secret, ConfigMap and ServiceAccount the app's pods would use, where the app names it.
/// The namespace's `default` ServiceAccount, which every pod may run as, is not one.
pub fn references(app: &ServerlessApp) -> Vec<Reference> {
    let spec = &app.spec;
    let mut out = env_references("spec", &spec.env, &spec.env_from);
    for (i, s) in spec.image_pull_secrets.iter().enumerate() {
        out.push(secret(format!("spec.imagePullSecrets[{i}].name"), &s.name));
    }
    out.extend(account(
        "spec.serviceAccountName".into(),
        &spec.service_account_name,
    ));
    for component in app.components() {
        let prefix = match component {
            ComponentRef::Master(_) => "spec.master".to_string(),
            ComponentRef::Worker(w) => format!("spec.workers[{}]", w.name),
        };
        let c = component.spec();
        out.extend(account(
            format!("{prefix}.serviceAccountName"),
            &c.service_account_name,
        ));
        out.extend(env_references(&prefix, &c.env, &c.env_from));
    }
    out
}

/// Writing as a ServiceAccount of each app's namespace.
pub struct Impersonation {
    /// The account's name; the same in every namespace.
    pub service_account: String,
    config: kube::Config,
    metrics: Arc<Metrics>,
    /// One client per namespace (each sends the impersonation headers of its account).
    clients: Mutex<HashMap<String, Client>>,
}

impl std::fmt::Debug for Impersonation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Impersonation")
            .field("service_account", &self.service_account)
            .finish_non_exhaustive()
    }
}

impl Impersonation {
    pub fn new(service_account: String, config: kube::Config, metrics: Arc<Metrics>) -> Self {
        Impersonation {
            service_account,
            config,
            metrics,
            clients: Mutex::default(),
        }
    }

    /// The user name the API server knows the account of `ns` by.
    pub fn user(&self, ns: &str) -> String {
        format!("system:serviceaccount:{ns}:{}", self.service_account)
    }

    /// A client that acts as the account of `ns`.
    pub fn client(&self, ns: &str) -> Result<Client, kube::Error> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(ns) {
            return Ok(client.clone());
        }
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(self.user(ns));
        let client = crate::client::build(config, self.metrics.clone())?;
        clients.insert(ns.to_string(), client.clone());
        Ok(client)
    }

    /// Refuse the app unless the account of `ns` may use every object its pods would use.
    pub async fn authorize(&self, app: &ServerlessApp, ns: &str) -> Result<()> {
        let references = references(app);
        if references.is_empty() {
            return Ok(());
        }
        let client = self.client(ns).map_err(Error::Authorize)?;
        let reviews: Api<SelfSubjectAccessReview> = Api::all(client);
        for reference in references {
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        namespace: Some(ns.to_string()),
                        verb: Some(reference.verb.to_string()),
                        resource: Some(reference.resource.to_string()),
                        subresource: reference.subresource.map(String::from),
                        name: Some(reference.name.clone()),
                        ..ResourceAttributes::default()
                    }),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            let answer = reviews
                .create(&PostParams::default(), &review)
                .await
                .map_err(Error::Authorize)?;
            if !answer.status.is_some_and(|s| s.allowed) {
                return Err(Error::NotAllowed {
                    field: reference.field.clone(),
                    reason: format!(
                        "ServiceAccount {} of namespace {ns} may not {}, and the app's pods \
                         would; apps are created as that account",
                        self.service_account,
                        reference.describe()
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::TestApp;

    #[test]
    fn every_secret_config_map_and_account_the_pods_use_is_found_where_the_app_names_it() {
        let app = TestApp::new("a")
            .namespace("n")
            .spec(json!({
                "serviceAccountName": "default",
                "imagePullSecrets": [{"name": "pull"}],
                "envFrom": [{"configMapRef": {"name": "settings"}}],
            }))
            .master(json!({"serviceAccountName": "front",
                           "env": [{"name": "A", "value": "1"},
                                   {"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]}))
            .worker("jobs", 1, json!({"envFrom": [{"secretRef": {"name": "queue"}}]}))
            .build();
        let found: Vec<(String, String)> = references(&app)
            .iter()
            .map(|r| (r.field.clone(), r.describe()))
            .collect();
        let expected = [
            (
                "spec.envFrom[0].configMapRef.name",
                "get ConfigMap settings",
            ),
            ("spec.imagePullSecrets[0].name", "get Secret pull"),
            (
                "spec.master.serviceAccountName",
                "create tokens of ServiceAccount front",
            ),
            (
                "spec.master.env[1].valueFrom.secretKeyRef.name",
                "get Secret db",
            ),
            (
                "spec.workers[jobs].envFrom[0].secretRef.name",
                "get Secret queue",
            ),
        ];
        assert_eq!(
            found,
            expected
                .iter()
                .map(|(f, d)| (f.to_string(), d.to_string()))
                .collect::<Vec<_>>()
        );
    }
}
