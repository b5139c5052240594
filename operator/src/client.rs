//! How the operator's API clients are built: the same timeouts, retries and request counting for
//! its own client and for the clients that impersonate tenants.

use std::sync::Arc;
use std::time::Duration;

use kube::client::retry::RetryPolicy;
use kube::{Client, Config};
use tower::buffer::BufferLayer;
use tower::retry::RetryLayer;

use crate::metrics::{Metrics, counting_layer};

/// Seconds after which the API server ends each watch; the watcher then resumes it. Short
/// enough that a client read timeout above it catches dead connections.
pub const WATCH_TIMEOUT_SECS: u32 = 60;
/// Client read timeout: longer than a watch may stay silent.
pub const READ_TIMEOUT: Duration = Duration::from_secs(WATCH_TIMEOUT_SECS as u64 + 30);

/// Retries of a 429, 503 or 504 inside one request: at most 3, about 0.5, 1 and 2 s apart.
///
/// kube's default retries them up to 15 times with delays growing to 1000 s, so a request to an
/// overloaded API server hangs for minutes while the app still shows its last generation's
/// status. A short retry absorbs a blip; a longer outage reaches the reconciler, which reports
/// the app `Retrying` with the server's message and backs off per app.
fn retry_policy() -> RetryPolicy {
    RetryPolicy::new(Duration::from_millis(500), Duration::from_secs(2), 3, false)
        .expect("constant backoff parameters are valid")
}

/// A client for `config`, counting every request it sends (retries included) in `metrics`.
pub fn build(mut config: Config, metrics: Arc<Metrics>) -> Result<Client, kube::Error> {
    // Without a read timeout a request on a connection the API server dropped (a restart, say)
    // can hang forever. Watches are cut by the server sooner (WATCH_TIMEOUT_SECS).
    config.read_timeout = Some(READ_TIMEOUT);
    config.default_retry = false;
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&counting_layer(metrics))
        // A retry needs a service it can clone; the buffer makes the boxed stack one.
        .with_layer(&BufferLayer::new(1024))
        .with_layer(&RetryLayer::new(retry_policy()))
        .build())
}
