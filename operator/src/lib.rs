//! serverless-operator: turns `ServerlessApp` objects into Deployments, Services,
//! HorizontalPodAutoscalers and KEDA scalers.
//!
//! Pure parts first: [`api`] (the CRD), [`children`] (desired objects), [`status`] (what to
//! report), [`diff`] (does the cluster already match). [`reconciler`] is the only module that
//! talks to the API server; [`render`] is the offline path over the same builders.
#![forbid(unsafe_code)]

pub mod access;
pub mod api;
pub mod children;
pub mod client;
pub mod controller;
pub mod crd;
pub mod diff;
pub mod error;
pub mod labels;
pub mod limits;
pub mod metrics;
pub mod policy;
pub mod reconciler;
pub mod render;
pub mod status;
pub mod validate;

pub use api::{ServerlessApp, ServerlessAppSpec, ServerlessAppStatus};
pub use error::{Error, Result};
