//! `calico-ipam`: Calico's CNI IPAM plugin. The logic lives in [`calico_cni::ipam`]; the
//! `calico` binary runs the same code when invoked under the name `calico-ipam`.

fn main() {
    std::process::exit(calico_cni::ipam::main());
}
