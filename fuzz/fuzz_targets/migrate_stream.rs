//! `calicoctl datastore migrate import`'s stream decoder: never panics on any input, and a
//! stream it accepts survives an encode/decode round trip unchanged (export then import is
//! lossless).
#![no_main]

use calico_datastore::migrate::{decode_stream, to_stream};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(resources) = decode_stream(s) {
        let text = to_stream(&resources);
        let again = decode_stream(&text).expect("re-decode of our own export");
        assert_eq!(to_stream(&again), text, "export is not stable");
    }
});
