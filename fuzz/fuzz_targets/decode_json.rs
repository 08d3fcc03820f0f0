//! JSON decoder: never panics; accepted input round-trips through encode → decode.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(resources) = calico_model::decode_json(s) else { return };
    for r in &resources {
        let _ = r.validate();
    }
    let json = calico_model::encode_json(&resources);
    let back = calico_model::decode_json(&json).expect("re-encoded JSON must decode");
    assert_eq!(back, resources);
});
