//! Golden test of the IR: the calculation graph's whole output for representative policies,
//! compared with `tests/golden/*.json`. Re-bless with `UPDATE_GOLDEN=1 cargo test -p calico-policy --test golden`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a test failure

mod common;

use std::path::Path;

#[test]
fn representative_policies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let input = std::fs::read_to_string(dir.join("policies.yaml")).unwrap();
    let resources = calico_model::decode_yaml(&input).unwrap();
    let (g, _, out) = common::run("n1", resources);
    assert!(g.rejected().is_empty(), "{:?}", g.rejected());
    let now = serde_json::to_string_pretty(&out).unwrap() + "\n";
    let path = dir.join("policies.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &now).unwrap();
        return;
    }
    let saved = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with UPDATE_GOLDEN=1)", path.display()));
    if saved != now {
        let line = saved
            .lines()
            .zip(now.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "IR output changed at line {}:\n saved: {:?}\n now:   {:?}\nreview, then re-bless with UPDATE_GOLDEN=1",
            line + 1,
            saved.lines().nth(line),
            now.lines().nth(line)
        );
    }
}
