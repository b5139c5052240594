//! The master's optional Ingress.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};

use super::Component;
use crate::api::ComponentRef;
use crate::error::{Error, Result};

pub fn ingress(ctx: &Component) -> Result<Option<Ingress>> {
    let ComponentRef::Master(master) = ctx.component else {
        return Ok(None);
    };
    let Some(spec) = master.expose.as_ref().and_then(|e| e.ingress.as_ref()) else {
        return Ok(None);
    };
    let ports = &master.component.ports;
    let port = match &spec.port {
        Some(name) => ports.iter().find(|p| &p.name == name),
        None => ports.first(),
    }
    .ok_or_else(|| Error::UnknownPort {
        component: ctx.component.name().to_string(),
        port: spec.port.clone().unwrap_or_default(),
    })?;

    let mut metadata = ctx.metadata(ctx.name.clone());
    if !spec.annotations.is_empty() {
        metadata.annotations = Some(spec.annotations.clone());
    }
    Ok(Some(Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: spec.class_name.clone(),
            rules: Some(vec![IngressRule {
                host: Some(spec.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some(spec.path.clone().unwrap_or_else(|| "/".into())),
                        path_type: "Prefix".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: ctx.name.clone(),
                                port: Some(ServiceBackendPort {
                                    name: Some(port.name.clone()),
                                    number: None,
                                }),
                            }),
                            resource: None,
                        },
                    }],
                }),
            }]),
            tls: spec.tls_secret_name.as_ref().map(|secret| {
                vec![IngressTLS {
                    hosts: Some(vec![spec.host.clone()]),
                    secret_name: Some(secret.clone()),
                }]
            }),
            default_backend: None,
        }),
        status: None,
    }))
}
