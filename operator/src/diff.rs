//! Does the cluster already hold what we want? The test behind "zero writes in steady state".
//!
//! The caches keep no child whole: of each they keep a [`fingerprint`] of the part the
//! operator's field manager owns ([`owned_part`] of its `managedFields` entry). A reconcile
//! compares it with the fingerprint of the desired object. That catches a hand edit of a field
//! the operator sets (the editor's manager takes the field over, or the value differs), a field
//! the operator stopped setting (still owned, no longer desired) and a changed spec, without
//! holding whole pod templates in memory.

use std::hash::Hasher;
use std::io::Write;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use serde::Serialize;
use serde_json::Value;

/// Annotation holding the hash of the desired object the operator last applied.
pub const HASH_ANNOTATION: &str = "serverless-operator.dev/desired-hash";

/// Stable hash of a desired object (FNV-1a over its canonical JSON; `serde_json` maps are sorted,
/// so the text is canonical). Stable across builds, so the golden files are too.
pub fn desired_hash(object: &Value) -> String {
    let mut hasher = Hashing::default();
    write_json(&mut hasher, object);
    format!("{:016x}", hasher.0.finish())
}

/// FNV-1a over text written to it, a byte at a time, so the text is hashed as it is written
/// instead of being built first (the hashes run on every reconcile of every child).
#[derive(Default)]
struct Hashing(fnv::FnvHasher);

impl std::io::Write for Hashing {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `value` as `serde_json` writes it, to `out`.
fn write_json<T: Serialize + ?Sized>(out: &mut Hashing, value: &T) {
    // Writing to a hasher cannot fail, nor can serializing JSON values, strings or numbers.
    let _ = serde_json::to_writer(out, value);
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

/// `desired`, a child as rendered, with the `spec.replicas` the operator's apply of it carries:
/// an autoscaled Deployment's, which the render leaves out, while the operator holds them,
/// from its creation (at `start`, the component's minimum) until its autoscaler (or a person)
/// first sets them. `live`: the Deployment's current replicas and the field manager that holds
/// them ([`replicas_manager`]), None when it does not exist yet.
///
/// Someone has to hold the field: the scale subresource records who sets the replicas in
/// `managedFields` only then (with nobody holding it, the API server records nothing), and
/// from then on the HPA, KEDA or a person scaling by hand shows up there, which the status
/// reports. And were the operator the field's only manager and dropped it from an apply, the
/// Deployment would reset to its default of 1 replica: a component that gains an autoscaler
/// keeps its current count, and a new scale-to-zero worker starts no pod only to have KEDA
/// remove it. Carried in the apply that creates or changes the Deployment, holding them costs
/// no write of its own.
pub fn hold_replicas(
    desired: &mut Value,
    live: Option<(Option<i32>, Option<&str>)>,
    manager: &str,
    start: Option<i32>,
) {
    if desired["kind"] != "Deployment" || !desired["spec"]["replicas"].is_null() {
        return;
    }
    let replicas = match live {
        None => start,
        // Held by the operator, or by nobody (made by a version that held none): where they are.
        Some((current, None)) => current.or(start),
        Some((current, Some(holder))) if holder == manager => current.or(start),
        // The autoscaler's, a person's, or the handover manager of earlier versions.
        Some(_) => None,
    };
    if let Some(replicas) = replicas {
        desired["spec"]["replicas"] = replicas.into();
    }
}

/// The field manager whose entry in `managedFields` holds `spec.replicas`; the latest when
/// several share it (appliers setting the same value).
pub fn replicas_manager(managed: &[ManagedFieldsEntry]) -> Option<String> {
    managed
        .iter()
        .filter(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer("/f:spec/f:replicas").is_some())
        })
        .max_by_key(|m| m.time.as_ref().map(|t| t.0))
        .and_then(|m| m.manager.clone())
}

/// A fingerprint of the fields the operator sets, comparable between a desired object and the
/// part of a live object that the operator's field manager owns ([`owned_part`]). Equal
/// fingerprints mean applying the desired object would change nothing the operator owns.
///
/// Both sides are normalized the same way: the identity fields (`apiVersion`, `kind`, name,
/// namespace) are left out, empty values count as absent, numbers compare by value and
/// resource quantities too ("0.5" and "500m", "1024Mi" and "1Gi": the API server canonicalizes
/// them).
pub fn fingerprint(object: &Value) -> u64 {
    // The text `normalize(without_identity(object))` would print, written as it is walked.
    let mut hasher = Hashing::default();
    let identity = |key: &str| matches!(key, "apiVersion" | "kind" | "status");
    match object {
        Value::Object(map) => {
            let metadata = map.get("metadata").map(|metadata| {
                let mut metadata = metadata.clone();
                if let Some(meta) = metadata.as_object_mut() {
                    meta.remove("name");
                    meta.remove("namespace");
                }
                metadata
            });
            let fields = map.iter().filter(|(k, _)| !identity(k)).map(|(k, v)| {
                match (k.as_str(), &metadata) {
                    ("metadata", Some(metadata)) => (k, metadata),
                    _ => (k, v),
                }
            });
            write_normal_fields(&mut hasher, fields.collect());
        }
        other => write_normal(&mut hasher, other),
    }
    hasher.0.finish()
}

/// Whether [`normalize`] leaves nothing of `value`.
fn is_void(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.values().all(is_void),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// What [`normalize`] makes of `value` (null when nothing), written as JSON.
fn write_normal(out: &mut Hashing, value: &Value) {
    match value {
        Value::Object(map) => write_normal_fields(out, map.iter().collect()),
        Value::Array(items) if !items.is_empty() => {
            let _ = out.write_all(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    let _ = out.write_all(b",");
                }
                write_normal(out, item);
            }
            let _ = out.write_all(b"]");
        }
        Value::String(s) => match quantity_nanos(s) {
            Some(n) => write_json(out, &format!("{QUANTITY_MARK}{n}")),
            None => write_json(out, s),
        },
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => write_json(out, &(f as i64)),
            _ => write_json(out, n),
        },
        Value::Bool(b) => write_json(out, b),
        Value::Null | Value::Array(_) => write_json(out, &Value::Null),
    }
}

/// An object of `fields` (in key order), its void ones left out; null when all are.
fn write_normal_fields(out: &mut Hashing, fields: Vec<(&String, &Value)>) {
    let mut first = true;
    for (key, value) in fields.into_iter().filter(|(_, v)| !is_void(v)) {
        let _ = out.write_all(if first { b"{" } else { b"," });
        first = false;
        write_json(out, key);
        let _ = out.write_all(b":");
        write_normal(out, value);
    }
    let _ = out.write_all(if first { b"null" } else { b"}" });
}

/// `object` without what names it (`apiVersion`, `kind`, name, namespace) and its status.
fn without_identity(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("name");
            meta.remove("namespace");
        }
    }
    object
}

/// A field that applying a desired object would change: its path (list items by `name` where
/// they have one) and its value before and after (None: absent).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub path: String,
    pub live: Option<Value>,
    pub desired: Option<Value>,
}

/// The fields of `desired` that differ from `live`, the part of a live object the operator's
/// field manager owns ([`owned_part`]), compared as [`fingerprint`] compares them: the same
/// fingerprints give no change. A field owned but no longer desired is a change to absent
/// (applying removes it).
pub fn changes(live: &Value, desired: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(
        String::new(),
        Some(&without_identity(live)),
        Some(&without_identity(desired)),
        &mut out,
    );
    out
}

fn walk(path: String, live: Option<&Value>, desired: Option<&Value>, out: &mut Vec<Change>) {
    let normal = |v: Option<&Value>| v.cloned().and_then(normalize);
    if normal(live) == normal(desired) {
        return;
    }
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (live, desired) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                walk(join(key), a.get(key), b.get(key), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                let item = match y.get("name").and_then(Value::as_str) {
                    Some(name) => format!("{path}[name={name}]"),
                    None => format!("{path}[{index}]"),
                };
                walk(item, Some(x), Some(y), out);
            }
        }
        _ => out.push(Change {
            path,
            live: live.cloned().filter(|v| normalize(v.clone()).is_some()),
            desired: desired.cloned().filter(|v| normalize(v.clone()).is_some()),
        }),
    }
}

/// `value` with empty values dropped and numbers and quantities in one canonical form; None
/// when nothing is left.
fn normalize(value: Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(map) => {
            let map: serde_json::Map<_, _> = map
                .into_iter()
                .filter_map(|(k, v)| normalize(v).map(|v| (k, v)))
                .collect();
            (!map.is_empty()).then_some(Value::Object(map))
        }
        Value::Array(items) if items.is_empty() => None,
        // An item that normalizes to nothing stays as null: positions matter in a list.
        Value::Array(items) => Some(Value::Array(
            items
                .into_iter()
                .map(|v| normalize(v).unwrap_or(Value::Null))
                .collect(),
        )),
        Value::String(s) => Some(match quantity_nanos(&s) {
            Some(n) => Value::String(format!("{QUANTITY_MARK}{n}")),
            None => Value::String(s),
        }),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => Value::from(f as i64),
            _ => Value::Number(n),
        }),
        other @ Value::Bool(_) => Some(other),
    }
}

/// Prefix of a canonical quantity in normalized values; no string from the API starts with it.
const QUANTITY_MARK: char = '\u{1}';

/// The part of `object` the field set `fields` covers: `fields` is one manager's `fieldsV1`
/// from `metadata.managedFields`. `f:` keys name object fields, `k:` (by key fields), `v:` (by
/// value) and `i:` (by index) name list items, and an empty set means the whole value. Used
/// with the operator's own field manager, it is what the operator last applied, minus any field
/// someone else has since changed: an update by another manager takes the fields it changes
/// away from the operator.
pub fn owned_part(object: &Value, fields: &Value) -> Value {
    let Some(set) = fields
        .as_object()
        .filter(|set| set.keys().any(|k| k != "."))
    else {
        return object.clone();
    };
    match object {
        Value::Object(map) => Value::Object(
            set.iter()
                .filter_map(|(key, sub)| {
                    let name = key.strip_prefix("f:")?;
                    map.get(name)
                        .map(|v| (name.to_string(), owned_part(v, sub)))
                })
                .collect(),
        ),
        Value::Array(items) => {
            let members: Vec<(ListMember, &Value)> = set
                .iter()
                .filter_map(|(key, sub)| ListMember::parse(key).map(|m| (m, sub)))
                .collect();
            Value::Array(
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(index, item)| {
                        let (_, sub) = members.iter().find(|(m, _)| m.matches(index, item))?;
                        Some(owned_part(item, sub))
                    })
                    .collect(),
            )
        }
        _ => object.clone(),
    }
}

/// How a `fieldsV1` key names an item of a list.
enum ListMember {
    Keys(serde_json::Map<String, Value>),
    Value(Value),
    Index(usize),
}

impl ListMember {
    fn parse(key: &str) -> Option<Self> {
        if let Some(keys) = key.strip_prefix("k:") {
            serde_json::from_str(keys).ok().map(ListMember::Keys)
        } else if let Some(value) = key.strip_prefix("v:") {
            serde_json::from_str(value).ok().map(ListMember::Value)
        } else {
            key.strip_prefix("i:")?.parse().ok().map(ListMember::Index)
        }
    }

    fn matches(&self, index: usize, item: &Value) -> bool {
        match self {
            ListMember::Keys(keys) => keys.iter().all(|(k, v)| item.get(k) == Some(v)),
            ListMember::Value(value) => item == value,
            ListMember::Index(i) => *i == index,
        }
    }
}

/// The value of a Kubernetes quantity string in billionths, or None if it is not one (or one
/// too large or too fine to hold exactly).
fn quantity_nanos(s: &str) -> Option<i128> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let (negative, number) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .chars()
            .chain(fraction.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let (pow10, pow1024): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 1),
        "Mi" => (0, 2),
        "Gi" => (0, 3),
        "Ti" => (0, 4),
        "Pi" => (0, 5),
        "Ei" => (0, 6),
        exp if exp.starts_with(['e', 'E']) => (exp[1..].parse().ok()?, 0),
        _ => return None,
    };
    let digits: i128 = format!("{whole}{fraction}").parse().ok()?;
    let scale = 9 + pow10 - i32::try_from(fraction.len()).ok()?;
    let scaled = if scale >= 0 {
        digits.checked_mul(10i128.checked_pow(u32::try_from(scale).ok()?)?)?
    } else {
        let divisor = 10i128.checked_pow(u32::try_from(-scale).ok()?)?;
        (digits % divisor == 0).then(|| digits / divisor)?
    };
    let value = scaled.checked_mul(1024i128.checked_pow(pow1024)?)?;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The fingerprint hashes the text `normalize(without_identity(..))` prints, written as the
    /// object is walked: checked against that text on every child of the app with every field
    /// set, on each child's owned part, and on the edge cases of what normalizing drops.
    #[test]
    fn the_fingerprint_hashes_the_normalized_text() {
        let printed = |v: &Value| {
            let normal = normalize(without_identity(v)).unwrap_or(Value::Null);
            let mut hasher = fnv::FnvHasher::default();
            hasher.write(normal.to_string().as_bytes());
            hasher.finish()
        };
        let app: crate::api::ServerlessApp =
            serde_json::from_value(crate::testing::cases::valid()).unwrap();
        let mut values: Vec<Value> = crate::children::desired(&app)
            .unwrap()
            .iter()
            .map(|c| c.to_json().unwrap())
            .collect();
        values.push(owned_part(&values[0], &fields()));
        values.extend([
            json!(null),
            json!({}),
            json!([]),
            json!("250m"),
            json!({"metadata": {"name": "x", "namespace": "y"}, "kind": "K", "status": {"a": 1}}),
            json!({"metadata": {"name": "x", "labels": {}}, "spec": {"a": null, "b": {"c": {}}}}),
            json!({"metadata": "odd", "spec": [[], {}, null, {"a": []}, [{}]]}),
            json!({"spec": {"cpu": "0.5", "memory": "1Gi", "n": 2.0, "f": 2.5, "big": 1e16,
                            "neg": -3, "t": true, "s": "a\"b\n\u{1}"}}),
        ]);
        for value in &values {
            assert_eq!(fingerprint(value), printed(value), "{value}");
        }
        let hash = |v: &Value| {
            let mut hasher = fnv::FnvHasher::default();
            hasher.write(v.to_string().as_bytes());
            format!("{:016x}", hasher.finish())
        };
        for value in &values {
            assert_eq!(desired_hash(value), hash(value), "{value}");
        }
    }

    /// What the API server records for the operator after it applies `desired` below:
    /// containers and env keyed by name, ports by port and protocol, `args` atomic.
    fn fields() -> Value {
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"main\"}": {
                    ".": {}, "f:name": {}, "f:image": {}, "f:args": {},
                    "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":
                        {".": {}, "f:containerPort": {}}},
                    "f:resources": {"f:requests": {"f:cpu": {}}}
                }
            }}}}
        })
    }

    fn desired() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "shop", "namespace": "prod", "labels": {"app": "shop"},
                         "annotations": {}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{
                "name": "main", "image": "shop:1", "args": ["serve"],
                "env": [{"name": "A", "value": "1"}],
                "ports": [{"containerPort": 80}],
                "resources": {"requests": {"cpu": "0.5"}}
            }]}}}
        })
    }

    /// `desired` as the API server returns it: defaults, canonical quantities, a sidecar and an
    /// env var someone else added, status.
    fn live() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "shop", "namespace": "prod", "uid": "u1", "generation": 4,
                         "labels": {"app": "shop", "team": "a"}},
            "spec": {"replicas": 2, "revisionHistoryLimit": 10,
                     "template": {"spec": {"dnsPolicy": "ClusterFirst", "containers": [
                {"name": "main", "image": "shop:1", "args": ["serve"],
                 "env": [{"name": "A", "value": "1"}, {"name": "INJECTED", "value": "x"}],
                 "ports": [{"containerPort": 80, "protocol": "TCP"}],
                 "resources": {"requests": {"cpu": "500m"}},
                 "terminationMessagePath": "/dev/termination-log"},
                {"name": "sidecar", "image": "mesh:1"}
            ]}}},
            "status": {"replicas": 2}
        })
    }

    fn owned(live: &Value) -> u64 {
        fingerprint(&owned_part(live, &fields()))
    }

    #[test]
    fn what_others_and_the_server_add_does_not_count_as_a_difference() {
        assert_eq!(fingerprint(&desired()), owned(&live()));
    }

    #[test]
    fn a_changed_or_missing_owned_value_is_a_difference() {
        let mut image = live();
        image["spec"]["template"]["spec"]["containers"][0]["image"] = json!("shop:2");
        let mut args = live();
        args["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["serve", "-v"]);
        let mut env = live();
        env["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("2");
        let mut gone = live();
        gone["spec"]["template"]["spec"]["containers"][0]["env"] = json!([]);
        for changed in [image, args, env, gone] {
            assert_ne!(fingerprint(&desired()), owned(&changed), "{changed}");
        }
    }

    #[test]
    fn a_field_the_operator_no_longer_owns_is_a_difference() {
        // `kubectl edit` of the image: the field moves to kubectl's manager.
        let mut fields = fields();
        let container =
            &mut fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"main\"}"];
        container.as_object_mut().unwrap().remove("f:image");
        assert_ne!(
            fingerprint(&desired()),
            fingerprint(&owned_part(&live(), &fields))
        );
    }

    #[test]
    fn a_field_the_operator_stopped_setting_is_a_difference() {
        let mut desired = desired();
        desired["spec"].as_object_mut().unwrap().remove("replicas");
        assert_ne!(fingerprint(&desired), owned(&live()));
    }

    #[test]
    fn quantities_and_numbers_compare_by_value() {
        let same = |a: Value, b: Value| fingerprint(&a) == fingerprint(&b);
        assert!(same(json!({"cpu": "0.5"}), json!({"cpu": "500m"})));
        assert!(same(json!({"memory": "1024Mi"}), json!({"memory": "1Gi"})));
        assert!(same(json!({"memory": "1e3"}), json!({"memory": "1k"})));
        assert!(same(json!({"n": 1.0}), json!({"n": 1})));
        assert!(!same(json!({"cpu": "1"}), json!({"cpu": "100m"})));
        assert!(!same(json!({"cpu": "1m"}), json!({"cpu": "1001u"})));
        assert!(!same(json!({"name": "http"}), json!({"name": "grpc"})));
        assert_eq!(quantity_nanos("-1.5Ki"), Some(-1536 * 1_000_000_000));
        assert_eq!(quantity_nanos("1.5n"), None, "finer than a billionth");
        assert_eq!(quantity_nanos("http"), None);
        assert_eq!(quantity_nanos("."), None);
    }

    #[test]
    fn items_are_chosen_by_value_and_by_index_too() {
        let live = json!({"finalizers": ["a", "b"], "list": [{"x": 1}, {"x": 2}]});
        let fields = json!({"f:finalizers": {"v:\"b\"": {}}, "f:list": {"i:1": {}}});
        assert_eq!(
            owned_part(&live, &fields),
            json!({"finalizers": ["b"], "list": [{"x": 2}]})
        );
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

    #[test]
    fn changes_name_each_field_with_both_values() {
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "shop", "labels": {"a": "1", "gone": "x"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "master", "image": "shop:1", "resources": {"requests": {"cpu": "500m"}}}
        ]}}}});
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "shop", "labels": {"a": "1", "new": "y"}},
        "spec": {"replicas": 2.0, "template": {"spec": {"containers": [
            {"name": "master", "image": "shop:2", "resources": {"requests": {"cpu": "0.5"}}}
        ]}}}});
        let changes = changes(&live, &desired);
        let described: Vec<_> = changes
            .iter()
            .map(|c| (c.path.as_str(), c.live.clone(), c.desired.clone()))
            .collect();
        assert_eq!(
            described,
            [
                ("metadata.labels.gone", Some(json!("x")), None),
                ("metadata.labels.new", None, Some(json!("y"))),
                (
                    "spec.template.spec.containers[name=master].image",
                    Some(json!("shop:1")),
                    Some(json!("shop:2"))
                ),
            ]
        );
        // No change exactly when the fingerprints agree.
        assert_ne!(fingerprint(&live), fingerprint(&desired));
        assert!(super::changes(&desired, &desired).is_empty());
        let mut same = live.clone();
        same["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] =
            json!("0.5");
        assert_eq!(fingerprint(&live), fingerprint(&same));
        assert!(super::changes(&live, &same).is_empty());
    }

    /// The replicas an apply of an autoscaled Deployment carries: its minimum when new, where
    /// they are while the operator (or nobody) holds them, none once someone else has set them.
    #[test]
    fn the_operator_holds_an_autoscaled_deployments_replicas_until_another_sets_them() {
        let held = |live: Option<(Option<i32>, Option<&str>)>| {
            let mut desired = json!({"kind": "Deployment", "spec": {"template": {}}});
            hold_replicas(&mut desired, live, "serverless-operator", Some(0));
            desired["spec"]["replicas"].clone()
        };
        assert_eq!(held(None), json!(0));
        assert_eq!(held(Some((Some(3), Some("serverless-operator")))), json!(3));
        assert_eq!(held(Some((Some(2), None))), json!(2));
        assert_eq!(held(Some((None, None))), json!(0));
        for other in [
            "kube-controller-manager",
            "keda-operator",
            "kubectl",
            "serverless-operator-handover",
        ] {
            assert_eq!(held(Some((Some(4), Some(other)))), Value::Null, "{other}");
        }

        // A fixed size is the render's own, and other kinds have no replicas.
        let mut fixed = json!({"kind": "Deployment", "spec": {"replicas": 2}});
        hold_replicas(
            &mut fixed,
            Some((Some(5), None)),
            "serverless-operator",
            Some(1),
        );
        assert_eq!(fixed["spec"]["replicas"], 2);
        let mut service = json!({"kind": "Service", "spec": {}});
        hold_replicas(&mut service, None, "serverless-operator", Some(1));
        assert!(service["spec"].get("replicas").is_none());
    }
}
