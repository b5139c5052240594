//! Names the operator stamps on what it creates: labels, the field manager, the controller name.
//! One place, so the builders, the reconciler and the tests agree.

use std::collections::BTreeMap;

/// Field manager of every server-side apply the operator sends.
pub const FIELD_MANAGER: &str = "serverless-operator";
/// Name reported in Events and in `app.kubernetes.io/managed-by`.
pub const CONTROLLER_NAME: &str = "serverless-operator";

/// Selector label: the ServerlessApp a child belongs to. Used to find children to prune.
pub const APP_LABEL: &str = "serverless-operator.dev/app";
/// Selector label: `master` or the worker's name.
pub const COMPONENT_LABEL: &str = "serverless-operator.dev/component";

pub const NAME: &str = "app.kubernetes.io/name";
pub const INSTANCE: &str = "app.kubernetes.io/instance";
pub const COMPONENT: &str = "app.kubernetes.io/component";
pub const PART_OF: &str = "app.kubernetes.io/part-of";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// Labels that select a component's pods. Immutable once a Deployment exists, so they hold
/// nothing that can change.
pub fn selector(app: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (APP_LABEL.to_string(), app.to_string()),
        (COMPONENT_LABEL.to_string(), component.to_string()),
    ])
}

/// Every label a child object carries: the selector plus the standard `app.kubernetes.io/*` set.
pub fn standard(app: &str, component: &str) -> BTreeMap<String, String> {
    let mut labels = selector(app, component);
    labels.extend([
        (NAME.to_string(), app.to_string()),
        (INSTANCE.to_string(), app.to_string()),
        (COMPONENT.to_string(), component.to_string()),
        (PART_OF.to_string(), app.to_string()),
        (MANAGED_BY.to_string(), CONTROLLER_NAME.to_string()),
    ]);
    labels
}

/// Label that assigns an app to a shard: the convention Flux's controllers shard by. The
/// operator copies it from an app to the app's children, so a shard's watches of children (the
/// same selector) cache only the children of its own apps.
pub const SHARD_LABEL: &str = "sharding.fluxcd.io/key";

/// The app's shard label, if it has one.
pub fn shard(app_labels: &BTreeMap<String, String>) -> Option<(String, String)> {
    app_labels
        .get(SHARD_LABEL)
        .map(|v| (SHARD_LABEL.to_string(), v.clone()))
}

/// Check a `--watch-label-selector`: a label selector whose every requirement is on
/// [`SHARD_LABEL`] (`key=v`, `key==v`, `key!=v`, `key in (a,b)`, `key notin (a,b)`, `key`,
/// `!key`). Children carry no other label of their app, so a selector on another key would
/// leave the shard's caches of children empty.
pub fn check_shard_selector(selector: &str) -> Result<(), String> {
    for (requirement, key) in requirements(selector)? {
        if key != SHARD_LABEL {
            return Err(format!(
                "`{requirement}`: shards are selected by the label {SHARD_LABEL} only \
                 (for example `{SHARD_LABEL}=shard1`, or `!{SHARD_LABEL}` for the instance \
                 that takes unsharded apps)"
            ));
        }
    }
    Ok(())
}

/// Check a label selector in the API server's syntax, so a typo stops the operator at start
/// instead of failing every watch request.
pub fn check_selector(selector: &str) -> Result<(), String> {
    requirements(selector).map(|_| ())
}

/// The requirements of a label selector with their keys; an error names the first one that is
/// not well formed.
fn requirements(selector: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&selector[start..]);
    parts
        .into_iter()
        .map(|requirement| {
            let requirement = requirement.trim();
            let key = requirement
                .trim_start_matches('!')
                .split(|c: char| c == '=' || c == '!' || c.is_whitespace())
                .next()
                .unwrap_or_default();
            let rest = requirement.trim_start_matches('!')[key.len()..].trim_start();
            let well_formed = !key.is_empty()
                && match rest {
                    "" => true,
                    _ if rest.starts_with("in ") || rest.starts_with("notin ") => {
                        rest.ends_with(')') && rest.contains('(')
                    }
                    _ => {
                        let value = rest
                            .strip_prefix("==")
                            .or_else(|| rest.strip_prefix("!="))
                            .or_else(|| rest.strip_prefix('='));
                        value.is_some_and(|v| !v.trim().is_empty() && !v.contains(['=', '!', ' ']))
                    }
                };
            if well_formed {
                Ok((requirement, key))
            } else {
                Err(format!(
                    "`{requirement}` is not a label selector requirement (`key=value`, \
                     `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key` or `!key`)"
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_selectors_are_on_the_shard_label_only() {
        for ok in [
            "sharding.fluxcd.io/key=shard1",
            "sharding.fluxcd.io/key==shard1",
            "sharding.fluxcd.io/key!=shard1",
            "!sharding.fluxcd.io/key",
            "sharding.fluxcd.io/key",
            "sharding.fluxcd.io/key in (shard1, shard2)",
            "sharding.fluxcd.io/key notin (shard1,shard2),sharding.fluxcd.io/key",
        ] {
            assert_eq!(check_shard_selector(ok), Ok(()), "{ok}");
            assert_eq!(check_selector(ok), Ok(()), "{ok}");
        }
        for bad in ["a=b=c", "a in b", "a=", "a,,b", "=b", "a==", "a b"] {
            assert!(check_selector(bad).is_err(), "{bad}");
        }
        for bad in [
            "",
            "team=a",
            "sharding.fluxcd.io/key=shard1,team=a",
            "!team",
            "sharding.fluxcd.io/key=",
            "sharding.fluxcd.io/key in shard1",
            "sharding.fluxcd.io/keyx=1",
        ] {
            assert!(check_shard_selector(bad).is_err(), "{bad}");
            assert_eq!(
                check_selector(bad).is_ok(),
                [
                    "team=a",
                    "sharding.fluxcd.io/key=shard1,team=a",
                    "!team",
                    "sharding.fluxcd.io/keyx=1"
                ]
                .contains(&bad),
                "{bad}: any key is a well-formed namespace selector"
            );
        }
    }
}
