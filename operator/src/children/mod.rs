//! Desired state: the pure functions that turn a ServerlessApp into the objects it should own.
//!
//! No I/O here. `render` and the reconciler both call [`desired`], so what a reviewer sees offline
//! is what the controller applies.

mod autoscaler;
mod ingress;
pub mod keda;
mod service;
mod workload;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use serde::Serialize;

use crate::api::{ComponentRef, Scaler, ServerlessApp};
use crate::error::{Error, Result};
use crate::labels;
pub use keda::{HTTPScaledObject, ScaledObject};

/// The kinds of object an app owns: the one declaration the rest derives from. Adding a kind
/// is a builder module here and a variant; every match on it is exhaustive (`with_kind!` in the
/// reconciler maps it to its Rust type and cache, the controller watches every cache), and
/// [`ChildKind::ALL`] (prune, readiness) lists the variants by itself. Tests check that each
/// kind is readable and writable under `config/rbac/role.yaml` and rendered in a golden file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, strum::VariantArray)]
pub enum ChildKind {
    Deployment,
    Service,
    HorizontalPodAutoscaler,
    ScaledObject,
    HTTPScaledObject,
    Ingress,
}

impl ChildKind {
    pub const ALL: &'static [ChildKind] = <ChildKind as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        match self {
            ChildKind::Deployment => "Deployment",
            ChildKind::Service => "Service",
            ChildKind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            ChildKind::ScaledObject => "ScaledObject",
            ChildKind::HTTPScaledObject => "HTTPScaledObject",
            ChildKind::Ingress => "Ingress",
        }
    }

    /// The API group and resource of the kind, as RBAC names them.
    pub fn api_resource(self) -> (String, String) {
        fn of<K: Resource<DynamicType = ()>>() -> (String, String) {
            (K::group(&()).into_owned(), K::plural(&()).into_owned())
        }
        match self {
            ChildKind::Deployment => of::<Deployment>(),
            ChildKind::Service => of::<Service>(),
            ChildKind::HorizontalPodAutoscaler => of::<HorizontalPodAutoscaler>(),
            ChildKind::ScaledObject => of::<ScaledObject>(),
            ChildKind::HTTPScaledObject => of::<HTTPScaledObject>(),
            ChildKind::Ingress => of::<Ingress>(),
        }
    }

    /// The CRD a kind needs beyond core Kubernetes, if any.
    pub fn required_crd(self) -> Option<&'static str> {
        match self {
            ChildKind::ScaledObject => Some(keda::SCALED_OBJECT_CRD),
            ChildKind::HTTPScaledObject => Some(keda::HTTP_SCALED_OBJECT_CRD),
            _ => None,
        }
    }
}

/// One desired child object.
#[derive(Clone, Debug, PartialEq)]
pub enum Child {
    // Boxed: a Deployment is several times larger than the other kinds.
    Deployment(Box<Deployment>),
    Service(Service),
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    ScaledObject(ScaledObject),
    HTTPScaledObject(HTTPScaledObject),
    Ingress(Ingress),
}

impl Child {
    pub fn kind(&self) -> ChildKind {
        match self {
            Child::Deployment(_) => ChildKind::Deployment,
            Child::Service(_) => ChildKind::Service,
            Child::HorizontalPodAutoscaler(_) => ChildKind::HorizontalPodAutoscaler,
            Child::ScaledObject(_) => ChildKind::ScaledObject,
            Child::HTTPScaledObject(_) => ChildKind::HTTPScaledObject,
            Child::Ingress(_) => ChildKind::Ingress,
        }
    }

    pub fn name(&self) -> String {
        match self {
            Child::Deployment(o) => o.name_any(),
            Child::Service(o) => o.name_any(),
            Child::HorizontalPodAutoscaler(o) => o.name_any(),
            Child::ScaledObject(o) => o.name_any(),
            Child::HTTPScaledObject(o) => o.name_any(),
            Child::Ingress(o) => o.name_any(),
        }
    }

    /// The object as JSON, with `apiVersion`, `kind` and the desired-state hash: the body of a
    /// server-side apply.
    pub fn to_json(&self) -> Result<serde_json::Value> {
        fn typed<K: Resource<DynamicType = ()> + Serialize>(
            obj: &K,
            kind: ChildKind,
        ) -> Result<serde_json::Value> {
            let mut value = serde_json::to_value(obj).map_err(|source| Error::Encode {
                kind: kind.as_str(),
                name: obj.meta().name.clone().unwrap_or_default(),
                source,
            })?;
            if let Some(map) = value.as_object_mut() {
                map.insert("apiVersion".into(), K::api_version(&()).into());
                map.insert("kind".into(), K::kind(&()).into());
            }
            crate::diff::stamp_hash(&mut value);
            Ok(value)
        }
        let kind = self.kind();
        match self {
            Child::Deployment(o) => typed(o.as_ref(), kind),
            Child::Service(o) => typed(o, kind),
            Child::HorizontalPodAutoscaler(o) => typed(o, kind),
            Child::ScaledObject(o) => typed(o, kind),
            Child::HTTPScaledObject(o) => typed(o, kind),
            Child::Ingress(o) => typed(o, kind),
        }
    }
}

/// Every object the app should own, master first, then workers as declared; per component:
/// Deployment, Service, then its scaler. The master's Ingress comes last.
pub fn desired(app: &ServerlessApp) -> Result<Vec<Child>> {
    let mut children = Vec::new();
    for component in app.components() {
        let ctx = Component::new(app, component);
        children.push(Child::Deployment(Box::new(workload::deployment(&ctx)?)));
        if let Some(service) = service::service(&ctx) {
            children.push(Child::Service(service));
        }
        match component.scaler() {
            Scaler::Fixed => {}
            Scaler::HorizontalPodAutoscaler => children.push(Child::HorizontalPodAutoscaler(
                autoscaler::horizontal_pod_autoscaler(&ctx),
            )),
            Scaler::ScaledObject => {
                children.push(Child::ScaledObject(keda::scaled_object(&ctx)));
            }
            Scaler::HTTPScaledObject => {
                children.push(Child::HTTPScaledObject(keda::http_scaled_object(&ctx)?));
            }
        }
    }
    if let Some(ingress) =
        ingress::ingress(&Component::new(app, ComponentRef::Master(&app.spec.master)))?
    {
        children.push(Child::Ingress(ingress));
    }
    Ok(children)
}

/// A component seen with its app: what every builder needs.
pub(crate) struct Component<'a> {
    pub app: &'a ServerlessApp,
    pub component: ComponentRef<'a>,
    /// Name of the component's Deployment, Service and scaler.
    pub name: String,
}

impl<'a> Component<'a> {
    fn new(app: &'a ServerlessApp, component: ComponentRef<'a>) -> Self {
        Component {
            app,
            component,
            name: component.object_name(&app.name_any()),
        }
    }

    /// Metadata of a child: name, namespace, labels, and the controller owner reference (absent
    /// when rendering a manifest that was never stored, which has no uid).
    pub fn metadata(&self, name: String) -> ObjectMeta {
        let app_name = self.app.name_any();
        ObjectMeta {
            name: Some(name),
            namespace: self.app.namespace(),
            labels: Some(labels::standard(&app_name, self.component.name())),
            owner_references: owner_reference(self.app).map(|r| vec![r]),
            ..ObjectMeta::default()
        }
    }

    /// Labels selecting this component's pods.
    pub fn selector(&self) -> std::collections::BTreeMap<String, String> {
        labels::selector(&self.app.name_any(), self.component.name())
    }
}

/// The controller reference every child carries, so garbage collection removes it with its app.
pub fn owner_reference(app: &ServerlessApp) -> Option<OwnerReference> {
    app.controller_owner_ref(&()).map(|r| OwnerReference {
        block_owner_deletion: Some(true),
        ..r
    })
}

#[cfg(test)]
mod tests;
