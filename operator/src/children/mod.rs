//! Desired state: the pure functions that turn a ServerlessApp into the objects it should own.
//!
//! No I/O here. `render` and the reconciler both call [`desired`], so what a reviewer sees offline
//! is what the controller applies.

mod autoscaler;
mod disruption;
mod ingress;
pub mod keda;
mod service;
mod workload;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use serde::Serialize;

use crate::api::{ComponentRef, Scaler, ServerlessApp};
use crate::error::{Error, Result};
use crate::labels;
pub use keda::{HTTPScaledObject, ScaledObject};

/// The table of child kinds, the one declaration every list of kinds derives from. A row:
/// the kind, its Rust type, the field of its cache in the reconciler's `Stores`, and the CRD it
/// needs beyond core Kubernetes. `child_kinds!(callback)` hands the rows to `callback`, which
/// generates [`ChildKind`] and [`Child`] here, and the caches and their watches in the
/// reconciler and the controller. Adding a kind is a builder module and a row; the compiler
/// then asks for its arm in `with_kind!` (the reconciler's one hand-written match over types),
/// and tests ask for its RBAC rules and a sample that renders it.
macro_rules! child_kinds {
    ($callback:ident) => {
        $callback! {
            Deployment: k8s_openapi::api::apps::v1::Deployment, deployments, None;
            Service: k8s_openapi::api::core::v1::Service, services, None;
            PodDisruptionBudget: k8s_openapi::api::policy::v1::PodDisruptionBudget,
                pod_disruption_budgets, None;
            HorizontalPodAutoscaler: k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler,
                horizontal_pod_autoscalers, None;
            ScaledObject: $crate::children::ScaledObject, scaled_objects,
                Some($crate::children::keda::SCALED_OBJECT_CRD);
            HTTPScaledObject: $crate::children::HTTPScaledObject, http_scaled_objects,
                Some($crate::children::keda::HTTP_SCALED_OBJECT_CRD);
            Ingress: k8s_openapi::api::networking::v1::Ingress, ingresses, None;
        }
    };
}
pub(crate) use child_kinds;

macro_rules! kinds_and_children {
    ($($kind:ident: $ty:ty, $field:ident, $crd:expr;)*) => {
        /// The kinds of object an app owns (see `child_kinds!`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ChildKind {
            $($kind,)*
        }

        impl ChildKind {
            /// Every kind, in the table's order.
            pub const ALL: &'static [ChildKind] = &[$(ChildKind::$kind,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ChildKind::$kind => stringify!($kind),)*
                }
            }

            /// The API group and resource of the kind, as RBAC names them.
            pub fn api_resource(self) -> (String, String) {
                fn of<K: Resource<DynamicType = ()>>() -> (String, String) {
                    (K::group(&()).into_owned(), K::plural(&()).into_owned())
                }
                match self {
                    $(ChildKind::$kind => of::<$ty>(),)*
                }
            }

            /// The kind for a dynamic (untyped) API.
            pub fn dynamic(self) -> kube::api::ApiResource {
                match self {
                    $(ChildKind::$kind => kube::api::ApiResource::erase::<$ty>(&()),)*
                }
            }

            /// The CRD a kind needs beyond core Kubernetes, if any.
            pub fn required_crd(self) -> Option<&'static str> {
                match self {
                    $(ChildKind::$kind => $crd,)*
                }
            }
        }

        /// One desired child object. Boxed: the kinds differ a lot in size.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Child {
            $($kind(Box<$ty>),)*
        }

        impl Child {
            pub fn kind(&self) -> ChildKind {
                match self {
                    $(Child::$kind(_) => ChildKind::$kind,)*
                }
            }

            pub fn name(&self) -> String {
                match self {
                    $(Child::$kind(o) => o.name_any(),)*
                }
            }

            /// The object as JSON, with `apiVersion`, `kind` and the desired-state hash: the body
            /// of a server-side apply.
            pub fn to_json(&self) -> Result<serde_json::Value> {
                match self {
                    $(Child::$kind(o) => typed(o.as_ref(), self.kind()),)*
                }
            }
        }
    };
}
child_kinds!(kinds_and_children);

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

/// Every object the app should own, master first, then workers as declared; per component:
/// Deployment, Service, PodDisruptionBudget, then its scaler. The master's Ingress comes last.
pub fn desired(app: &ServerlessApp) -> Result<Vec<Child>> {
    let mut children = Vec::new();
    for component in app.components() {
        let ctx = Component::new(app, component);
        children.push(Child::Deployment(Box::new(workload::deployment(&ctx)?)));
        if let Some(service) = service::service(&ctx) {
            children.push(Child::Service(Box::new(service)));
        }
        if let Some(budget) = disruption::pod_disruption_budget(&ctx) {
            children.push(Child::PodDisruptionBudget(Box::new(budget)));
        }
        match component.scaler() {
            Scaler::Fixed => {}
            Scaler::HorizontalPodAutoscaler => children.push(Child::HorizontalPodAutoscaler(
                Box::new(autoscaler::horizontal_pod_autoscaler(&ctx)),
            )),
            Scaler::ScaledObject => {
                children.push(Child::ScaledObject(Box::new(keda::scaled_object(&ctx))));
            }
            Scaler::HTTPScaledObject => {
                children.push(Child::HTTPScaledObject(Box::new(keda::http_scaled_object(
                    &ctx,
                )?)));
            }
        }
    }
    if let Some(ingress) =
        ingress::ingress(&Component::new(app, ComponentRef::Master(&app.spec.master)))?
    {
        children.push(Child::Ingress(Box::new(ingress)));
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
        let mut child_labels = labels::standard(&app_name, self.component.name());
        child_labels.extend(labels::shard(self.app.labels()));
        ObjectMeta {
            name: Some(name),
            namespace: self.app.namespace(),
            labels: Some(child_labels),
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
