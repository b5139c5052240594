//! What the operator refuses to do on an app's behalf, by its own settings: things a namespace's
//! author could not do directly, whatever the CRD allows.

use crate::api::{AuthenticationKind, ServerlessApp};
use crate::error::{Error, Result};

/// Operator settings that widen what an app may ask for; all off by default.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// Let triggers use a KEDA ClusterTriggerAuthentication: a credential of the whole cluster,
    /// usable from every namespace (kedacore/keda#7782).
    pub allow_cluster_trigger_authentication: bool,
}

impl Limits {
    /// The first thing `app` asks for that these settings do not allow.
    pub fn check(&self, app: &ServerlessApp) -> Result<()> {
        if self.allow_cluster_trigger_authentication {
            return Ok(());
        }
        for worker in &app.spec.workers {
            for (i, trigger) in worker.triggers.iter().enumerate() {
                let kind = trigger.authentication_ref.as_ref().and_then(|r| r.kind);
                if kind == Some(AuthenticationKind::ClusterTriggerAuthentication) {
                    return Err(Error::NotAllowed {
                        field: format!(
                            "spec.workers[{}].triggers[{i}].authenticationRef.kind",
                            worker.name
                        ),
                        reason: "ClusterTriggerAuthentication is a credential of the whole \
                                 cluster and this operator does not lend it to apps \
                                 (--allow-cluster-trigger-authentication); use a \
                                 TriggerAuthentication in the app's namespace"
                            .into(),
                    });
                }
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

    fn app(kind: &str) -> ServerlessApp {
        TestApp::new("a")
            .namespace("n")
            .worker(
                "jobs",
                0,
                json!({"replicas": {"max": 2}, "triggers": [
                    {"type": "cron", "metadata": {"start": "0 * * * *"}},
                    {"type": "redis", "authenticationRef": {"name": "r", "kind": kind}}]}),
            )
            .build()
    }

    #[test]
    fn cluster_trigger_authentication_is_refused_unless_allowed() {
        let err = Limits::default()
            .check(&app("ClusterTriggerAuthentication"))
            .unwrap_err();
        assert_eq!(err.category(), "NotAllowed");
        assert!(err.is_permanent());
        assert!(
            err.to_string()
                .starts_with("spec.workers[jobs].triggers[1].authenticationRef.kind: "),
            "{err}"
        );
        assert!(
            Limits::default()
                .check(&app("TriggerAuthentication"))
                .is_ok()
        );
        let allowed = Limits {
            allow_cluster_trigger_authentication: true,
        };
        assert!(allowed.check(&app("ClusterTriggerAuthentication")).is_ok());
    }
}
