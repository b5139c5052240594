//! serverless-operator: turns `ServerlessApp` objects into Deployments, Services,
//! HorizontalPodAutoscalers and KEDA scalers.
//!
//! Pure parts first: [`api`] (the CRD), [`children`] (desired objects), [`status`] (what to
//! report), [`diff`] (does the cluster already match), [`render`] (the offline path over the
//! same builders), [`validate`] and [`policy`]. Then what talks to the API server, each layer
//! importing only those below it: [`client`] (how clients are built), [`access`] (acting as a
//! tenant), [`reconciler`] (one app: its `writer` is the only code that changes the cluster),
//! [`controller`] (watches, leader election, the reconcile loop), and [`admin`] (the HTTP
//! endpoints, fed from `main.rs`). [`metrics`] is a leaf every layer may count into.
#![forbid(unsafe_code)]

pub mod access;
pub mod admin;
pub mod api;
pub mod children;
pub mod client;
pub mod controller;
pub mod crd;
pub mod diff;
pub mod error;
pub mod footprint;
pub mod labels;
pub mod limits;
pub mod metrics;
pub mod policy;
pub mod preview;
pub mod reconciler;
pub mod render;
pub mod status;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod validate;

pub use api::{ServerlessApp, ServerlessAppSpec, ServerlessAppStatus};
pub use error::{Error, Result};
