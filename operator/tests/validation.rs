//! Every validation rule of the CRD, evaluated in-process: the CEL rules through kube's CEL
//! validator, the OpenAPI ones through the CRD's own schema. A coverage test fails when a CEL rule
//! is added without a case here.

use std::collections::BTreeSet;

use kube::CustomResourceExt;
use serde_json::Value;
use serverless_operator::ServerlessApp;
use serverless_operator::validate::validate;

use serverless_operator::testing::cases::{CEL_CASES, SCHEMA_CASES, valid};

fn rejected(mutate: impl FnOnce(&mut Value)) -> String {
    let mut app = valid();
    mutate(&mut app);
    match validate(&app) {
        Ok(()) => panic!("expected rejection of {app:#}"),
        Err(invalid) => invalid.to_string(),
    }
}

#[test]
fn the_valid_app_is_accepted() {
    validate(&valid()).expect("valid app");
}

#[test]
fn the_cel_benchmark_measures_the_valid_app() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../bench/cel/testdata/every-field.yaml"
    );
    let text = std::fs::read_to_string(path).expect("bench/cel/testdata/every-field.yaml");
    let file: Value = serde_saphyr::from_str(&text).expect("yaml");
    assert_eq!(file, valid(), "{path} drifted from cases::valid()");
}

#[test]
fn the_longest_names_that_fit_together_are_accepted() {
    // <app>-<worker> at 63 characters: the length rule's boundary.
    let mut app = valid();
    app["metadata"]["name"] = "a".repeat(22).into();
    app["spec"]["workers"][0]["name"] = "b".repeat(40).into();
    validate(&app).expect("63 characters fit");
}

#[test]
fn each_cel_rule_rejects_with_its_message() {
    for (case, mutate, expected) in CEL_CASES {
        let message = rejected(mutate);
        assert!(
            message.contains(expected),
            "{case}: expected `{expected}` in `{message}`"
        );
    }
}

#[test]
fn each_schema_rule_rejects_naming_the_field() {
    for (case, mutate, expected) in SCHEMA_CASES {
        let message = rejected(mutate);
        assert!(
            message.contains(expected),
            "{case}: expected `{expected}` in `{message}`"
        );
    }
}

/// Every `x-kubernetes-validations` message in the CRD.
fn cel_messages(schema: &Value, out: &mut BTreeSet<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(rules) = map
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
            {
                out.extend(
                    rules
                        .iter()
                        .filter_map(|r| r["message"].as_str().map(String::from)),
                );
            }
            map.values().for_each(|v| cel_messages(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| cel_messages(v, out)),
        _ => {}
    }
}

#[test]
fn every_cel_rule_has_a_case() {
    let crd = serde_json::to_value(ServerlessApp::crd()).unwrap();
    let mut messages = BTreeSet::new();
    cel_messages(&crd, &mut messages);
    assert!(
        messages.len() >= 20,
        "found only {} CEL rules",
        messages.len()
    );
    let untested: Vec<_> = messages
        .iter()
        .filter(|m| {
            !CEL_CASES
                .iter()
                .any(|(_, _, expected)| m.contains(expected))
        })
        .collect();
    assert!(
        untested.is_empty(),
        "CEL rules without a test case: {untested:#?}"
    );
}

#[test]
fn every_message_names_a_field() {
    let crd = serde_json::to_value(ServerlessApp::crd()).unwrap();
    let mut messages = BTreeSet::new();
    cel_messages(&crd, &mut messages);
    for message in messages {
        let first = message.split_whitespace().next().unwrap_or_default();
        assert!(
            first.contains('.')
                || first.ends_with("ports[].name")
                || first == "autoscaling"
                || first == "scaleDown"
                || first == "coldStartBudget"
                || first == "http"
                || first.starts_with("workers"),
            "message does not start with a field name: {message}"
        );
    }
}

#[test]
fn typed_validate_cel_agrees() {
    // The same rules through kube's typed entry point, on a deserialized app.
    let mut app: ServerlessApp = serde_json::from_value(valid()).unwrap();
    kube::core::cel::validate_cel(&app).expect("valid app passes");
    app.spec.workers[0].component.replicas.min = 9;
    let errors = kube::core::cel::validate_cel(&app).expect_err("min above max fails");
    assert!(errors.iter().any(|e| {
        e.message
            .contains("replicas.min must not exceed replicas.max")
    }));
}

/// Fields of the spec with no upper bound: strings without `maxLength` or `enum`, lists without
/// `maxItems`, maps without `maxProperties`.
fn unbounded(schema: &Value, path: &str, out: &mut Vec<String>) {
    let Value::Object(node) = schema else { return };
    let ty = node.get("type").and_then(Value::as_str);
    let text = ty == Some("string") || node.get("x-kubernetes-int-or-string").is_some();
    if text && !node.contains_key("maxLength") && !node.contains_key("enum") {
        out.push(path.to_string());
    }
    if ty == Some("array") && !node.contains_key("maxItems") {
        out.push(format!("{path} (list)"));
    }
    if node.contains_key("additionalProperties") && !node.contains_key("maxProperties") {
        out.push(format!("{path} (map)"));
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, schema) in properties {
            unbounded(schema, &format!("{path}.{name}"), out);
        }
    }
    if let Some(items) = node.get("items") {
        unbounded(items, &format!("{path}[]"), out);
    }
    if let Some(values) = node.get("additionalProperties") {
        unbounded(values, &format!("{path}{{}}"), out);
    }
}

#[test]
fn every_string_list_and_map_of_the_spec_is_bounded() {
    let crd = serde_json::to_value(ServerlessApp::crd()).unwrap();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let mut out = Vec::new();
    unbounded(spec, "spec", &mut out);
    assert!(out.is_empty(), "unbounded fields: {out:#?}");
}
