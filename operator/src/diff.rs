//! Does the cluster already hold what we want? The test behind "zero writes in steady state".
//!
//! Two checks, both needed:
//! - every field we set is present with the same value in the observed object (the API server
//!   adds defaults, so the observed object is a superset). This catches drift: a hand edit of a
//!   field we own.
//! - the observed object carries the hash of the desired object we last applied. This catches a
//!   field we stopped setting, which a subset check cannot see.

use std::hash::Hasher;

use serde_json::Value;

/// Annotation holding the hash of the desired object the operator last applied.
pub const HASH_ANNOTATION: &str = "serverless-operator.dev/desired-hash";

/// Stable hash of a desired object (FNV-1a over its canonical JSON; `serde_json` maps are sorted,
/// so the text is canonical). Stable across builds, so the golden files are too.
pub fn desired_hash(object: &Value) -> String {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(object.to_string().as_bytes());
    format!("{:016x}", hasher.finish())
}

/// Stamp the hash of `object` (computed without the annotation) into its annotations.
pub fn stamp_hash(object: &mut Value) {
    let hash = desired_hash(object);
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = metadata
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(map) = annotations.as_object_mut() {
            map.insert(HASH_ANNOTATION.into(), Value::String(hash));
        }
    }
}

/// True when applying `desired` over `observed` would change nothing the operator owns.
pub fn up_to_date(desired: &Value, observed: &Value) -> bool {
    is_subset(desired, observed)
}

/// Every value in `desired` appears in `observed`. Arrays must match item by item (same length);
/// empty desired collections match absent ones; quantities compare by value ("0.5" == "500m").
pub fn is_subset(desired: &Value, observed: &Value) -> bool {
    match (desired, observed) {
        (Value::Object(d), Value::Object(o)) => d.iter().all(|(key, dv)| match o.get(key) {
            Some(ov) => is_subset(dv, ov),
            None => is_empty(dv),
        }),
        (Value::Object(d), Value::Null) => d.values().all(is_empty),
        (Value::Array(d), Value::Array(o)) => {
            d.len() == o.len() && d.iter().zip(o).all(|(dv, ov)| is_subset(dv, ov))
        }
        (Value::Array(d), Value::Null) => d.is_empty(),
        (Value::String(d), Value::String(o)) => d == o || same_quantity(d, o),
        (Value::Number(d), Value::Number(o)) => d.as_f64() == o.as_f64(),
        (Value::Null, _) => true,
        (d, o) => d == o,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Resource quantities the API server canonicalizes ("1024Mi" -> "1Gi", "0.5" -> "500m").
fn same_quantity(a: &str, b: &str) -> bool {
    match (parse_quantity(a), parse_quantity(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

/// The value of a Kubernetes quantity string, or None if it is not one.
fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    if number.is_empty() {
        return None;
    }
    let number: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => 10f64.powi(exp[1..].parse().ok()?),
        _ => return None,
    };
    Some(number * multiplier)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn server_defaults_do_not_count_as_a_difference() {
        let desired = json!({"spec": {"ports": [{"name": "http", "port": 80}], "labels": {}}});
        let observed = json!({"spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
                              "clusterIP": "10.0.0.1"}});
        assert!(is_subset(&desired, &observed));
    }

    #[test]
    fn a_changed_or_missing_value_is_a_difference() {
        let desired = json!({"spec": {"image": "a:2", "args": ["x"]}});
        assert!(!is_subset(
            &desired,
            &json!({"spec": {"image": "a:1", "args": ["x"]}})
        ));
        assert!(!is_subset(&desired, &json!({"spec": {"image": "a:2"}})));
        assert!(!is_subset(
            &desired,
            &json!({"spec": {"image": "a:2", "args": ["x", "y"]}})
        ));
    }

    #[test]
    fn quantities_compare_by_value() {
        assert!(is_subset(&json!({"cpu": "0.5"}), &json!({"cpu": "500m"})));
        assert!(is_subset(
            &json!({"memory": "1024Mi"}),
            &json!({"memory": "1Gi"})
        ));
        assert!(is_subset(
            &json!({"memory": "1e3"}),
            &json!({"memory": "1k"})
        ));
        assert!(!is_subset(&json!({"cpu": "1"}), &json!({"cpu": "100m"})));
        assert!(!is_subset(
            &json!({"name": "http"}),
            &json!({"name": "grpc"})
        ));
    }

    #[test]
    fn hash_is_stable_and_ignores_nothing_but_itself() {
        let mut a = json!({"metadata": {"name": "x"}, "spec": {"replicas": 1}});
        let b = json!({"metadata": {"name": "x"}, "spec": {"replicas": 2}});
        let before = desired_hash(&a);
        stamp_hash(&mut a);
        assert_eq!(a["metadata"]["annotations"][HASH_ANNOTATION], before);
        assert_ne!(before, desired_hash(&b));
        assert_eq!(
            before,
            desired_hash(&json!({"spec": {"replicas": 1}, "metadata": {"name": "x"}}))
        );
    }
}
