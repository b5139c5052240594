//! The admin server: `/metrics`, `/livez` and `/readyz`, fed from `main.rs` with the metrics
//! and the controller's app cache (to refresh per-app gauges at scrape time).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::controller::AppsHandle;
use crate::metrics::Metrics;

#[derive(Clone)]
struct HttpState {
    metrics: Arc<Metrics>,
    apps: AppsHandle,
}

/// Serve `/metrics`, `/livez` and `/readyz` on `listener` until the process exits.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    apps: AppsHandle,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/livez", get(|| async { "ok" }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(HttpState { metrics, apps });
    axum::serve(listener, app).await
}

async fn metrics_handler(State(state): State<HttpState>) -> impl IntoResponse {
    let caches = state.apps.lock().map(|a| a.clone()).unwrap_or_default();
    if let Some(caches) = caches {
        state.metrics.refresh_apps(&caches.apps);
        let mut counts = vec![("ServerlessApp", caches.apps.state().len())];
        counts.extend(caches.children.counts());
        state.metrics.refresh_cached(&counts);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    if state.metrics.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}
