//! Golden test: the nft JSON a representative IR renders to, and (as root) that nft accepts
//! it and the backend programs it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a panic is a test failure

mod nft_common;

use calico_dataplane::nft::{NftOptions, NftablesDataplane, render};
use calico_dataplane::{Dataplane, DesiredState};
use nft_common::*;

fn representative_state() -> (DesiredState, NftOptions) {
    let mut state = DesiredState::default();
    let mut opts = NftOptions::default();
    for u in representative() {
        if let calico_policy::DataplaneUpdate::ConfigUpdate(c) = &u {
            opts = opts.with_felix_config(c).unwrap();
        }
        state.apply(&u).unwrap();
    }
    (state, opts)
}

#[test]
fn representative_ir_renders_to_the_golden_document() {
    let (state, opts) = representative_state();
    let doc = render(&state, &opts).to_json();
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/nft_representative.json"
    );
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(std::path::Path::new(path).parent().unwrap()).unwrap();
        std::fs::write(path, &text).unwrap();
    }
    let golden = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run with UPDATE_GOLDEN=1 to create it)"));
    assert!(
        golden == text,
        "rendered nft JSON differs from {path}; run with UPDATE_GOLDEN=1 and review the diff"
    );
    // Stable across renders.
    assert_eq!(render(&state, &opts), render(&state, &opts));
}

#[test]
fn nft_accepts_the_representative_ruleset_and_a_second_apply_changes_nothing() {
    if !root_or_skip("nft_accepts_the_representative_ruleset") {
        return;
    }
    let ns = Netns::new("gold");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut dp = NftablesDataplane::new(ns.nft_options()).unwrap();
        let report = dp.apply(representative()).await.unwrap();
        assert!(report.in_sync);
        assert!(report.objects_changed > 0);
        // The kernel holds exactly what was rendered: a resync finds nothing to repair.
        let report = dp.resync().await.unwrap();
        assert_eq!(report.objects_changed, 0, "{:?}", dp.last_transaction());
        // Applying nothing new sends nothing.
        let report = dp.apply(vec![]).await.unwrap();
        assert_eq!(report.objects_changed, 0);
        // The whole-document form (dry-run output) is accepted by nft as well.
        let doc = dp.ruleset().to_json_text();
        let mut child = std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name, "nft", "-c", "-j", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(doc.as_bytes())
                .unwrap();
        }
        assert!(
            child.wait().unwrap().success(),
            "nft -c refused the dry-run document"
        );
    });
}
