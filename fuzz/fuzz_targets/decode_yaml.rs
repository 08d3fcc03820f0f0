//! YAML decoder: never panics; anything it accepts validates without panicking and
//! round-trips through encode → decode unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(resources) = calico_model::decode_yaml(s) else { return };
    for r in &resources {
        let _ = r.validate();
        let mut d = r.clone();
        d.apply_defaults();
        let _ = d.validate();
    }
    let yaml = calico_model::encode_yaml(&resources);
    let back = calico_model::decode_yaml(&yaml).expect("re-encoded YAML must decode");
    assert_eq!(back, resources, "YAML round trip changed the resources:\n{yaml}");
});
