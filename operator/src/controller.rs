//! Wiring: the watches that feed the caches, and the kube-runtime Controller that drives
//! [`reconciler::reconcile`].

use std::fmt::Debug;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{debug, info, warn};

use crate::api::ServerlessApp;
use crate::children::keda::{HTTP_SCALED_OBJECT_CRD, SCALED_OBJECT_CRD};
use crate::children::{HTTPScaledObject, ScaledObject};
use crate::labels::{APP_LABEL, CONTROLLER_NAME};
use crate::reconciler::{self, Context, Settings, Stores};

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Watch only this namespace; all namespaces when None.
    pub namespace: Option<String>,
    /// Reconciles running at once (different apps; one app is never reconciled twice at once).
    pub concurrency: u16,
    pub settings: Settings,
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A cache of one child kind (only objects carrying the app label), and the stream of changed
/// objects that triggers reconciles of their owners.
fn child_cache<K>(
    client: &Client,
    namespace: Option<&str>,
    quiet_errors: bool,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let config = watcher::Config::default().labels(APP_LABEL).any_semantic();
    let stream = watcher(api::<K>(client, namespace), config)
        .default_backoff()
        // Managed fields are most of an object's size and the diff never reads them.
        .modify(|o: &mut K| o.managed_fields_mut().clear())
        .reflect(writer)
        .touched_objects()
        .filter_map(move |event| async move {
            match event {
                Err(err) if quiet_errors => {
                    // KEDA kinds fail to list until KEDA is installed; the CRD watch reports that.
                    debug!(kind = %K::kind(&()), error = %err, "watch failed");
                    None
                }
                other => Some(other),
            }
        });
    (reader, stream)
}

/// Run the controller until SIGTERM/SIGINT.
pub async fn run(client: Client, options: Options) {
    let ns = options.namespace.as_deref();
    let (deployments, deployment_events) = child_cache::<Deployment>(&client, ns, false);
    let (services, service_events) = child_cache::<Service>(&client, ns, false);
    let (hpas, hpa_events) = child_cache::<HorizontalPodAutoscaler>(&client, ns, false);
    let (ingresses, ingress_events) = child_cache::<Ingress>(&client, ns, false);
    let (scaled_objects, scaled_object_events) = child_cache::<ScaledObject>(&client, ns, true);
    let (http_scaled_objects, http_scaled_object_events) =
        child_cache::<HTTPScaledObject>(&client, ns, true);

    // KEDA may be installed after the operator: watch CRD metadata, and reconcile every app when
    // a KEDA CRD comes or goes.
    let (crds, crd_writer) = reflector::store();
    let keda_changes = watcher(
        Api::<PartialObjectMeta<CustomResourceDefinition>>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(crd_writer)
    .applied_objects()
    .filter_map(|crd| async move {
        match crd {
            Ok(crd)
                if [SCALED_OBJECT_CRD, HTTP_SCALED_OBJECT_CRD]
                    .contains(&crd.name_any().as_str()) =>
            {
                info!(crd = %crd.name_any(), "KEDA CRD present");
                Some(())
            }
            Ok(_) => None,
            Err(err) => {
                warn!(error = %err, "watching CRDs failed");
                None
            }
        }
    });

    let stores = Stores {
        deployments,
        services,
        horizontal_pod_autoscalers: hpas,
        scaled_objects,
        http_scaled_objects,
        ingresses,
        crds,
    };
    let reporter = Reporter {
        controller: CONTROLLER_NAME.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let ctx = Arc::new(Context::new(
        client.clone(),
        stores,
        recorder,
        options.settings.clone(),
    ));

    info!(
        namespace = ns.unwrap_or("<all>"),
        concurrency = options.concurrency,
        "starting controller"
    );
    Controller::new(
        api::<ServerlessApp>(&client, ns),
        watcher::Config::default().any_semantic(),
    )
    .with_config(controller::Config::default().concurrency(options.concurrency))
    .owns_stream(deployment_events)
    .owns_stream(service_events)
    .owns_stream(hpa_events)
    .owns_stream(ingress_events)
    .owns_stream(scaled_object_events)
    .owns_stream(http_scaled_object_events)
    .reconcile_all_on(keda_changes)
    .shutdown_on_signal()
    .run(reconciler::reconcile, reconciler::error_policy, ctx)
    .for_each(|result| async move {
        match result {
            Ok((obj, _)) => debug!(ns = obj.namespace, app = %obj.name, "reconciled"),
            // Reconcile failures are logged by the error policy with their app.
            Err(controller::Error::ReconcilerFailed(..)) => {}
            Err(err) => warn!(error = %err, "controller"),
        }
    })
    .await;
    info!("controller stopped");
}
