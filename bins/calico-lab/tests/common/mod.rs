//! Shared by the `calico-lab run` tests: finding the binaries and reading the JSON lines
//! `run --json` / `simulate --json` print.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The calico-lab binary under test.
pub fn lab() -> &'static str {
    env!("CARGO_BIN_EXE_calico-lab")
}

/// `name` next to calico-lab, if built.
pub fn sibling(name: &str) -> Option<PathBuf> {
    let p = Path::new(lab()).parent()?.join(name);
    p.is_file().then_some(p)
}

/// One probe: (case, from, to, port, protocol, ICMP type and code, family).
pub type Key = Vec<String>;

/// The key of one probe line.
pub fn key(l: &Value) -> Key {
    [
        "case",
        "from",
        "to",
        "port",
        "protocol",
        "icmp_type",
        "icmp_code",
        "family",
    ]
    .iter()
    .map(|k| l[*k].to_string())
    .collect()
}

/// Runs calico-lab with `args` and `file`: probe key → allowed, the summary, and the output.
pub fn answers(args: &[&str], file: &Path) -> (BTreeMap<Key, bool>, Value, std::process::Output) {
    let out = Command::new(lab()).args(args).arg(file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut map = BTreeMap::new();
    let mut summary = Value::Null;
    for l in stdout.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        if let Some(a) = v.get("allowed").and_then(Value::as_bool) {
            map.insert(key(&v), a);
        } else if v.get("summary").is_some() {
            summary = v["summary"].clone();
        }
    }
    (map, summary, out)
}
