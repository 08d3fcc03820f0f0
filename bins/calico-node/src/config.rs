//! Node configuration: FelixConfiguration from the datastore (`default`, then
//! `node.<nodename>`), with `FELIX_*` environment variables on top (Felix's rule: the
//! environment beats the datastore).
//!
//! An environment variable `FELIX_<NAME>` sets the FelixConfiguration field whose name,
//! lower-cased, is `<name>` lower-cased (`FELIX_HEALTHPORT` → `healthPort`). Values are
//! read as Felix reads them: booleans (`true`/`false`, any case), numbers, durations in
//! seconds (`FELIX_ROUTEREFRESHINTERVAL=30` is `30s`; `30s` works too), enums in any case.
//! Variables that name no field, or whose value does not fit it, are reported and ignored.

use std::collections::{BTreeMap, HashMap};

use calico_model::FelixConfigurationSpec;
use serde_json::{Map, Value};

/// Environment variable prefix of Felix settings.
pub const FELIX_ENV_PREFIX: &str = "FELIX_";

/// `FELIX_*` settings parsed from the environment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvOverrides {
    /// Field (camelCase) → value.
    pub fields: Map<String, Value>,
    /// Variables that were ignored, with why.
    pub ignored: Vec<String>,
}

/// `FELIX_*` variables that are not FelixConfiguration fields but are read elsewhere (so
/// they are not reported as unknown).
const ENV_ONLY: &[&str] = &["FELIXHOSTNAME"];

/// Field names of FelixConfigurationSpec, keyed by their lower-case form.
fn field_names() -> BTreeMap<String, String> {
    let schema = schemars::schema_for!(FelixConfigurationSpec);
    schema
        .as_value()
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .keys()
                .map(|k| (k.to_ascii_lowercase(), k.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The JSON values an environment string may stand for, in order of preference.
fn candidates(raw: &str) -> Vec<Value> {
    let mut out = Vec::new();
    match raw.to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" => out.push(Value::Bool(true)),
        "false" | "f" | "0" | "no" => out.push(Value::Bool(false)),
        _ => {}
    }
    if let Ok(n) = raw.parse::<i64>() {
        out.push(Value::from(n));
        out.push(Value::String(format!("{n}s")));
    } else if let Ok(f) = raw.parse::<f64>() {
        out.push(Value::String(format!("{}ms", (f * 1000.0).round())));
    }
    out.push(Value::String(raw.to_owned()));
    let mut chars = raw.chars();
    if let Some(first) = chars.next() {
        let title: String = first
            .to_uppercase()
            .chain(chars.as_str().to_lowercase().chars())
            .collect();
        out.push(Value::String(title));
    }
    out
}

/// Reads `FELIX_*` overrides from `env`, checking each value against the field's type.
pub fn env_overrides(env: &HashMap<String, String>) -> EnvOverrides {
    let names = field_names();
    let mut out = EnvOverrides::default();
    let mut keys: Vec<&String> = env.keys().collect();
    keys.sort();
    for key in keys {
        let Some(suffix) = key.strip_prefix(FELIX_ENV_PREFIX) else {
            continue;
        };
        if ENV_ONLY.iter().any(|n| n.eq_ignore_ascii_case(suffix)) {
            continue;
        }
        let raw = &env[key];
        let Some(field) = names.get(&suffix.to_ascii_lowercase()) else {
            out.ignored
                .push(format!("{key}: no FelixConfiguration field of that name"));
            continue;
        };
        let fitting = candidates(raw).into_iter().find(|v| {
            let mut one = Map::new();
            one.insert(field.clone(), v.clone());
            serde_json::from_value::<FelixConfigurationSpec>(Value::Object(one)).is_ok()
        });
        match fitting {
            Some(v) => {
                out.fields.insert(field.clone(), v);
            }
            None => out
                .ignored
                .push(format!("{key}={raw:?}: not a valid value for {field}")),
        }
    }
    out
}

/// The effective configuration: `datastore` (the merged FelixConfiguration spec as JSON, or
/// `Null`) with `overrides` on top.
pub fn effective(datastore: &Value, overrides: &EnvOverrides) -> FelixConfigurationSpec {
    let mut fields = datastore.as_object().cloned().unwrap_or_default();
    for (k, v) in &overrides.fields {
        fields.insert(k.clone(), v.clone());
    }
    match serde_json::from_value(Value::Object(fields)) {
        Ok(spec) => spec,
        Err(e) => {
            tracing::warn!(error = %e, "merged configuration does not decode; using the environment only");
            serde_json::from_value(Value::Object(overrides.fields.clone())).unwrap_or_default()
        }
    }
}

/// The node's name: `NODENAME`, else `FELIX_FELIXHOSTNAME`, else the host name.
pub fn nodename(env: &HashMap<String, String>) -> Option<String> {
    for key in ["NODENAME", "FELIX_FELIXHOSTNAME", "HOSTNAME"] {
        if let Some(v) = env.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            return Some(v.to_owned());
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn env_values_are_typed_like_felix_reads_them() {
        let o = env_overrides(&env(&[
            ("FELIX_HEALTHPORT", "9199"),
            ("FELIX_HEALTHENABLED", "TRUE"),
            ("FELIX_ROUTEREFRESHINTERVAL", "30"),
            ("FELIX_LOGSEVERITYSCREEN", "debug"),
            ("FELIX_NFTABLESMODE", "enabled"),
            ("FELIX_NOSUCHTHING", "1"),
            ("FELIX_HEALTHPORT2", "1"),
            ("FELIX_FELIXHOSTNAME", "node9"),
            ("PATH", "/bin"),
        ]));
        let spec = effective(&Value::Null, &o);
        assert_eq!(spec.health_port(), 9199);
        assert!(spec.health_enabled());
        assert_eq!(spec.route_refresh_interval().as_secs_f64(), 30.0);
        assert_eq!(spec.log_severity_screen().as_str(), "Debug");
        assert_eq!(spec.nftables_mode().as_str(), "Enabled");
        assert_eq!(o.ignored.len(), 2, "{:?}", o.ignored);
    }

    #[test]
    fn environment_beats_datastore() {
        let datastore = serde_json::json!({"healthPort": 1234, "prometheusMetricsPort": 9555});
        let o = env_overrides(&env(&[("FELIX_HEALTHPORT", "4321")]));
        let spec = effective(&datastore, &o);
        assert_eq!(spec.health_port(), 4321);
        assert_eq!(spec.prometheus_metrics_port(), 9555);
    }

    #[test]
    fn bad_values_are_ignored_with_a_reason() {
        let o = env_overrides(&env(&[("FELIX_HEALTHPORT", "lots")]));
        assert!(o.fields.is_empty());
        assert!(o.ignored[0].contains("healthPort"), "{:?}", o.ignored);
    }
}
