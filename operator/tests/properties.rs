//! Property tests: rendering never panics, on valid specs and on anything else.

use proptest::prelude::*;
use serde_json::Value;
use serverless_operator::children::desired;
use serverless_operator::validate::validate;
use serverless_operator::{ServerlessApp, render};

use serverless_operator::testing::arbitrary;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Generated apps pass every validation rule and render into well-formed children.
    #[test]
    fn valid_apps_render(app in arbitrary::app()) {
        validate(&app).map_err(|e| TestCaseError::fail(format!("generator produced an invalid app: {e}\n{app:#}")))?;
        let typed: ServerlessApp = serde_json::from_value(app.clone()).expect("typed app");
        let children = desired(&typed).expect("children");
        let components = 1 + typed.spec.workers.len();
        prop_assert!(children.len() >= components);
        for child in children {
            let json = child.to_json().expect("json");
            let name = json["metadata"]["name"].as_str().unwrap_or_default();
            prop_assert!(!name.is_empty() && name.len() <= 63, "bad name {name}");
        }
    }

    /// Arbitrary JSON where a spec goes: validation and rendering answer, never panic.
    #[test]
    fn anything_is_answered_without_panic(spec in arbitrary_json(3)) {
        let object = serde_json::json!({
            "apiVersion": "serverless-operator.dev/v1alpha1",
            "kind": "ServerlessApp",
            "metadata": {"name": "fuzz"},
            "spec": spec,
        });
        let _ = validate(&object);
        if let Ok(yaml) = serde_saphyr::to_string(&object) {
            let _ = render::render(&yaml);
        }
    }
}

fn arbitrary_json(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        "[a-z0-9./:-]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(depth, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("master".to_string()),
                    Just("workers".to_string()),
                    Just("replicas".to_string()),
                    Just("min".to_string()),
                    Just("max".to_string()),
                    Just("ports".to_string()),
                    Just("name".to_string()),
                    Just("port".to_string()),
                    Just("image".to_string()),
                    Just("http".to_string()),
                    Just("triggers".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
