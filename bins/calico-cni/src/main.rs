//! `calico`: Calico's CNI network plugin. Invoked as `calico-ipam` (a symlink), it is the
//! IPAM plugin instead, as Calico's own binary is.

fn main() {
    if std::env::args()
        .nth(1)
        .is_some_and(|a| a == "-v" || a == "--version")
    {
        println!("{}", env!("CARGO_PKG_VERSION"));
        return;
    }
    let invoked_as = std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let code = if invoked_as.starts_with("calico-ipam") {
        calico_cni::ipam::main()
    } else {
        calico_cni::plugin::main()
    };
    std::process::exit(code);
}
