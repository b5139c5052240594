//! Prometheus metrics: what the operator counts and measures, and their encoding. A leaf: the
//! admin server ([`crate::admin`]) serves them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::Request;
use kube::client::Body;
use kube::runtime::reflector::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::api::ServerlessApp;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabels {
    pub category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    pub condition: &'static str,
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScalerLabels {
    pub scaler: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
    pub verb: &'static str,
}

/// Every metric the operator exports, under the `serverless_operator_` prefix.
pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub errors: Family<CategoryLabels, Counter>,
    pub apps: Family<ConditionLabels, Gauge>,
    pub api_requests: Family<VerbLabels, Counter>,
    pub leader: Gauge,
    pub cached_objects: Family<KindLabels, Gauge>,
    pub memory_resident: Gauge,
    pub memory_limit: Gauge,
    pub memory_stopped: Gauge,
    pub cold_starts: Family<ScalerLabels, Histogram, fn() -> Histogram>,
    /// Caches synced and the controller running (or standing by for the lease).
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("serverless_operator");
        let reconciles = Family::<ResultLabels, Counter>::default();
        let reconcile_duration = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        let errors = Family::<CategoryLabels, Counter>::default();
        let apps = Family::<ConditionLabels, Gauge>::default();
        let api_requests = Family::<VerbLabels, Counter>::default();
        let leader = Gauge::default();
        let cached_objects = Family::<KindLabels, Gauge>::default();
        let memory_resident = Gauge::default();
        let memory_limit = Gauge::default();
        let memory_stopped = Gauge::default();
        // From an image already on the node (well under a second) to a large pull or a slow
        // start (minutes).
        let cold_starts: Family<ScalerLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| {
                Histogram::new([
                    0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
                ])
            });
        registry.register("reconciles", "Reconciles by result", reconciles.clone());
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile",
            reconcile_duration.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles by error category",
            errors.clone(),
        );
        registry.register(
            "apps",
            "ServerlessApps by condition and status",
            apps.clone(),
        );
        registry.register(
            "api_requests",
            "Requests the operator sent to the API server, by verb",
            api_requests.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        registry.register(
            "cached_objects",
            "Objects in the operator's caches by kind (its apps and their children): what its \
             memory grows with",
            cached_objects.clone(),
        );
        registry.register(
            "memory_resident_bytes",
            "Resident memory of the operator (checked every second under a memory limit)",
            memory_resident.clone(),
        );
        registry.register(
            "memory_limit_bytes",
            "Memory limit of the operator's cgroup (0: none)",
            memory_limit.clone(),
        );
        registry.register(
            "memory_stopped",
            "Whether the controller is stopped because memory passed 90% of the limit",
            memory_stopped.clone(),
        );
        registry.register(
            "cold_start_seconds",
            "Scales from zero, by scaler: from a component's first replica wanted to its first \
             ready pod",
            cold_starts.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_duration,
            errors,
            apps,
            api_requests,
            leader,
            cached_objects,
            memory_resident,
            memory_limit,
            memory_stopped,
            cold_starts,
            ready: AtomicBool::new(false),
        }
    }
}

impl Metrics {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Record one reconcile.
    pub fn reconciled(&self, duration: Duration, error_category: Option<&'static str>) {
        self.reconcile_duration.observe(duration.as_secs_f64());
        let result = if error_category.is_some() {
            "error"
        } else {
            "success"
        };
        self.reconciles
            .get_or_create(&ResultLabels { result })
            .inc();
        if let Some(category) = error_category {
            self.errors
                .get_or_create(&CategoryLabels { category })
                .inc();
        }
    }

    /// Count a request the client is about to send, by Kubernetes verb.
    pub fn count_request<B>(&self, request: &Request<B>) {
        let verb = verb(request.method(), request.uri().query().unwrap_or_default());
        self.api_requests.get_or_create(&VerbLabels { verb }).inc();
    }

    /// Recount the apps per condition from the controller's cache (done at scrape time, so
    /// deleted apps never linger).
    pub fn refresh_apps(&self, apps: &Store<ServerlessApp>) {
        self.apps.clear();
        for condition in ["Ready", "Reconciling", "Stalled"] {
            for status in ["True", "False", "Unknown"] {
                self.apps
                    .get_or_create(&ConditionLabels { condition, status })
                    .set(0);
            }
        }
        for app in apps.state() {
            for condition in ["Ready", "Reconciling", "Stalled"] {
                let status = app
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.iter().find(|c| c.type_ == condition))
                    .map_or("Unknown", |c| match c.status.as_str() {
                        "True" => "True",
                        "False" => "False",
                        _ => "Unknown",
                    });
                self.apps
                    .get_or_create(&ConditionLabels { condition, status })
                    .inc();
            }
        }
    }

    /// Set the number of cached objects of each kind.
    pub fn refresh_cached(&self, counts: &[(&'static str, usize)]) {
        for &(kind, count) in counts {
            let count = i64::try_from(count).unwrap_or(i64::MAX);
            self.cached_objects
                .get_or_create(&KindLabels { kind })
                .set(count);
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The Kubernetes verb of an HTTP request.
fn verb(method: &http::Method, query: &str) -> &'static str {
    let watch = query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    match *method {
        http::Method::GET if watch => "watch",
        http::Method::GET => "get_or_list",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

/// Wrap a client's HTTP stack so every request is counted.
pub fn counting_layer(
    metrics: Arc<Metrics>,
) -> tower::util::MapRequestLayer<impl Fn(Request<Body>) -> Request<Body> + Clone> {
    tower::util::MapRequestLayer::new(move |request: Request<Body>| {
        metrics.count_request(&request);
        request
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_named_like_kubernetes_does() {
        assert_eq!(
            verb(&http::Method::GET, "watch=true&resourceVersion=1"),
            "watch"
        );
        assert_eq!(verb(&http::Method::GET, "labelSelector=a"), "get_or_list");
        assert_eq!(verb(&http::Method::PATCH, "fieldManager=x"), "patch");
        assert_eq!(verb(&http::Method::DELETE, ""), "delete");
    }

    #[test]
    fn metrics_encode_with_prefix_and_results() {
        let metrics = Metrics::default();
        metrics.reconciled(Duration::from_millis(3), None);
        metrics.reconciled(Duration::from_millis(7), Some("ApplyFailed"));
        metrics.count_request(
            &Request::builder()
                .method("PATCH")
                .uri("/x")
                .body(())
                .unwrap(),
        );
        metrics.leader.set(1);
        let text = metrics.encode();
        for expected in [
            "serverless_operator_reconciles_total{result=\"success\"} 1",
            "serverless_operator_reconciles_total{result=\"error\"} 1",
            "serverless_operator_reconcile_errors_total{category=\"ApplyFailed\"} 1",
            "serverless_operator_api_requests_total{verb=\"patch\"} 1",
            "serverless_operator_leader 1",
            "serverless_operator_reconcile_duration_seconds_count 2",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
        }
    }
}
