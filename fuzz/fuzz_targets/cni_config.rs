//! The CNI plugin's input parsers: a request (stdin bytes + `CNI_ARGS`) and the `calico`
//! network configuration and prevResult it carries never panic; every rejection is a typed
//! error with a CNI error code.
#![no_main]

use calico_cni::netconf::NetConf;
use calico_cni::skel::{self, CniResult};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line is CNI_ARGS, the rest is stdin.
    let (args, stdin) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let args = String::from_utf8_lossy(args).into_owned();
    let var = |k: &str| match k {
        "CNI_COMMAND" => Some("ADD".to_owned()),
        "CNI_CONTAINERID" => Some("fuzz0".to_owned()),
        "CNI_NETNS" => Some("/run/netns/fuzz".to_owned()),
        "CNI_IFNAME" => Some("eth0".to_owned()),
        "CNI_PATH" => Some("/opt/cni/bin".to_owned()),
        "CNI_ARGS" => Some(args.clone()),
        _ => None,
    };
    match skel::parse_request(var, stdin.to_vec(), Some(skel::args::KNOWN_KEYS)) {
        Ok(req) => {
            if let Ok(conf) = NetConf::from_value(&req.config) {
                let _ = conf.node_name();
            }
            if let Some(prev) = req.config.get("prevResult") {
                let _ = CniResult::from_json("prevResult", prev);
            }
        }
        Err((_, e)) => {
            let _ = e.code();
        }
    }
});
