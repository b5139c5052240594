//! A component's Service: one port per declared container port, selecting the component's pods.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Component;
use crate::api::{ComponentRef, PortProtocol, ServiceType};

/// None for a component without ports (a queue worker, say): a Service needs at least one.
pub fn service(ctx: &Component) -> Option<Service> {
    let spec = ctx.component.spec();
    if spec.ports.is_empty() {
        return None;
    }
    let expose = match ctx.component {
        ComponentRef::Master(master) => master.expose.as_ref(),
        ComponentRef::Worker(_) => None,
    };
    let mut metadata = ctx.metadata(ctx.name.clone());
    if let Some(expose) = expose.filter(|e| !e.service_annotations.is_empty()) {
        metadata.annotations = Some(expose.service_annotations.clone());
    }
    Some(Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: expose
                .and_then(|e| e.service_type)
                .filter(|t| *t != ServiceType::ClusterIP)
                .map(|t| format!("{t:?}")),
            selector: Some(ctx.selector()),
            ports: Some(
                spec.ports
                    .iter()
                    .map(|p| ServicePort {
                        name: Some(p.name.clone()),
                        port: p.port,
                        target_port: Some(IntOrString::String(p.name.clone())),
                        protocol: Some("TCP".into()),
                        app_protocol: app_protocol(p.protocol).map(str::to_string),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// `appProtocol` tells meshes and gateways what speaks on the port; gRPC without TLS is h2c.
fn app_protocol(protocol: PortProtocol) -> Option<&'static str> {
    match protocol {
        PortProtocol::Http => Some("http"),
        PortProtocol::Grpc => Some("kubernetes.io/h2c"),
        PortProtocol::Tcp => None,
    }
}
