//! Test fixtures shared by the unit tests, `operator/tests`, the end-to-end suite and the
//! benchmark (the `testing` feature): one builder of ServerlessApps instead of each test writing
//! its own JSON or YAML, the corpus of invalid apps, and proptest strategies of valid ones.

pub mod arbitrary;
pub mod cases;

use serde_json::{Value, json};

use crate::api::{API_VERSION, KIND, ServerlessApp};

/// A ServerlessApp under construction: a master serving `http` on port 8080 with one replica,
/// and no workers until added. Setters cover what tests vary; [`TestApp::spec`] the rest.
#[derive(Clone, Debug)]
pub struct TestApp(Value);

impl TestApp {
    /// The app `name`, on image `registry.example/app:1`.
    pub fn new(name: &str) -> Self {
        TestApp(json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name},
            "spec": {
                "image": "registry.example/app:1",
                "master": {"ports": [{"name": "http", "port": 8080}], "replicas": {"min": 1, "max": 1}},
            },
        }))
    }

    pub fn namespace(mut self, namespace: &str) -> Self {
        self.0["metadata"]["namespace"] = namespace.into();
        self
    }

    /// A label of the app itself (its metadata's).
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0["metadata"]["labels"][key] = value.into();
        self
    }

    /// A uid and generation, as the API server sets them (unit tests have no API server).
    pub fn stored(mut self, uid: &str, generation: i64) -> Self {
        self.0["metadata"]["uid"] = uid.into();
        self.0["metadata"]["generation"] = generation.into();
        self
    }

    pub fn image(mut self, image: &str) -> Self {
        self.0["spec"]["image"] = image.into();
        self
    }

    /// An environment variable of every component.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        push(
            &mut self.0["spec"]["env"],
            json!({"name": name, "value": value}),
        );
        self
    }

    /// Merge `fields` into the master's spec.
    pub fn master(mut self, fields: Value) -> Self {
        merge(&mut self.0["spec"]["master"], fields);
        self
    }

    /// A worker of a fixed size `replicas`, with `fields` merged into its spec.
    pub fn worker(mut self, name: &str, replicas: i32, fields: Value) -> Self {
        let mut worker = json!({"name": name, "replicas": {"min": replicas, "max": replicas}});
        merge(&mut worker, fields);
        push(&mut self.0["spec"]["workers"], worker);
        self
    }

    /// Merge `fields` into the app's spec.
    pub fn spec(mut self, fields: Value) -> Self {
        merge(&mut self.0["spec"], fields);
        self
    }

    pub fn json(&self) -> Value {
        self.0.clone()
    }

    /// One YAML document, `---` first, so that several concatenate into one stream.
    pub fn yaml(&self) -> String {
        let body = serde_saphyr::to_string(&self.0).expect("a JSON value is YAML");
        format!("---\n{}", body.trim_start_matches("---\n"))
    }

    /// The typed app; panics if the fields set do not deserialize.
    pub fn build(&self) -> ServerlessApp {
        serde_json::from_value(self.0.clone()).expect("a ServerlessApp")
    }
}

fn push(list: &mut Value, item: Value) {
    match list {
        Value::Array(items) => items.push(item),
        other => *other = json!([item]),
    }
}

/// Objects merge key by key, recursively; anything else replaces.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, from) => *into = from,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_makes_a_valid_app_and_merges_what_is_given() {
        let app = TestApp::new("shop")
            .namespace("prod")
            .image("img:2")
            .env("MODE", "a")
            .master(
                json!({"replicas": {"max": 3}, "autoscaling": {"cpuUtilization": 50},
                           "resources": {"requests": {"cpu": "100m"}}}),
            )
            .worker("jobs", 2, json!({"args": ["work"]}));
        crate::validate::validate(&app.json()).expect("valid");
        let typed = app.build();
        assert_eq!(typed.spec.image.as_deref(), Some("img:2"));
        assert_eq!(typed.spec.master.component.replicas.min, 1);
        assert_eq!(typed.spec.master.component.replicas.max, 3);
        assert_eq!(
            typed.spec.workers[0].component.args,
            vec!["work".to_string()]
        );
        assert_eq!(typed.spec.env[0].name, "MODE");
    }
}
