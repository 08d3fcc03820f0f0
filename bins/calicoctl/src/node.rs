//! `calicoctl node status` and `calicoctl node checksystem`.
//!
//! `status` follows calicoctl's `commands/node/status.go`: it looks for a running Calico
//! node process, then reports the BGP backend. This build's `calico-node` does not run BGP
//! yet, so the BGP part says so honestly instead of querying a BIRD it did not configure.
//! It adds the node agent's own readiness (its health endpoint), which calicoctl does not
//! show.
//!
//! `checksystem` follows `commands/node/checksystem.go`'s procedure (kernel version, then each
//! kernel feature looked up in the loaded modules, `modules.dep`, `modules.builtin` and the
//! kernel configuration), with the features *our* dataplane needs: nftables rather than
//! iptables/ipset, plus the `nft` tool and the forwarding sysctls.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::commands::Report;

/// `calicoctl node …`.
#[derive(clap::Subcommand, Debug)]
pub enum NodeCommand {
    /// Check the status of the Calico node instance on this host (its process, readiness and
    /// BGP peering).
    Status,
    /// Check the compatibility of this host to run a Calico node instance.
    Checksystem(ChecksystemArgs),
}

/// `calicoctl node checksystem`.
#[derive(clap::Args, Debug)]
pub struct ChecksystemArgs {
    /// Override the kernel config file location (plain text or gzip, e.g. /proc/config.gz).
    /// Default search: /proc/config.gz, /usr/src/linux/.config, /boot/config-VERSION,
    /// /usr/src/linux-VERSION/.config, /usr/src/linux-headers-VERSION/.config,
    /// /lib/modules/VERSION/build/.config.
    #[arg(short = 'f', long = "kernel-config", value_name = "KERNEL_CONFIG")]
    kernel_config: Option<PathBuf>,
}

/// Runs a `node` subcommand.
pub fn run(command: &NodeCommand) -> Report {
    match command {
        NodeCommand::Status => status(&Host::real(), health_address()),
        NodeCommand::Checksystem(args) => {
            let host = Host::real();
            checksystem(&host, args.kernel_config.as_deref())
        }
    }
}

/// Where a host's facts are read from (the real `/proc`, `/sys` and `/lib/modules`, or a
/// directory tree in tests).
#[derive(Clone, Debug)]
pub struct Host {
    /// `/proc`.
    pub proc: PathBuf,
    /// `/sys`.
    pub sys: PathBuf,
    /// `/lib/modules`.
    pub modules: PathBuf,
    /// Prefix of the kernel config search locations (`/` on a real host).
    pub root: PathBuf,
    /// `PATH` to look for tools in.
    pub path: String,
}

impl Host {
    /// This host.
    pub fn real() -> Self {
        Host {
            proc: "/proc".into(),
            sys: "/sys".into(),
            modules: "/lib/modules".into(),
            root: "/".into(),
            path: std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        }
    }

    fn kernel_release(&self) -> Option<String> {
        std::fs::read_to_string(self.proc.join("sys/kernel/osrelease"))
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    /// Each process's command line (argv), skipping processes that vanish while we look.
    fn processes(&self) -> Vec<Vec<String>> {
        let Ok(dir) = std::fs::read_dir(&self.proc) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in dir.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let argv: Vec<String> = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if !argv.is_empty() {
                out.push(argv);
            }
        }
        out
    }
}

/// The program name of a command line (`/usr/bin/calico-node` → `calico-node`).
fn program(argv: &[String]) -> &str {
    argv.first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or_default()
}

/// calicoctl's process test: `calico-felix`, or `calico-node -felix`; ours runs as a plain
/// `calico-node`.
fn is_calico_node(argv: &[String]) -> bool {
    matches!(program(argv), "calico-felix" | "calico-node")
}

fn is_bgp_daemon(argv: &[String]) -> Option<&str> {
    match program(argv) {
        p @ ("bird" | "bird6" | "gobgpd") => Some(p),
        _ => None,
    }
}

/// The node agent's health endpoint: `FELIX_HEALTHHOST`/`FELIX_HEALTHPORT` as calico-node
/// reads them, else Felix's defaults (localhost:9099).
fn health_address() -> String {
    let host = std::env::var("FELIX_HEALTHHOST").unwrap_or_else(|_| "localhost".into());
    let port = std::env::var("FELIX_HEALTHPORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(9099);
    format!("{host}:{port}")
}

/// GETs `path` from a plain HTTP/1.0 endpoint and returns the status code.
fn http_status(address: &str, path: &str) -> Result<u16, String> {
    let timeout = Duration::from_secs(2);
    let addr = address
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{address} does not resolve"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut first = String::new();
    BufReader::new(stream.take(4096))
        .read_line(&mut first)
        .map_err(|e| e.to_string())?;
    first
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {:?}", first.trim()))
}

/// `calicoctl node status`.
pub fn status(host: &Host, health: String) -> Report {
    let mut report = Report::default();
    let processes = host.processes();
    if !processes.iter().any(|p| is_calico_node(p)) {
        return report.fail("Calico process is not running.");
    }
    report.out("Calico process is running.\n");
    let readiness = match http_status(&health, "/readiness") {
        Ok(200 | 204) => "ready".to_owned(),
        Ok(code) => format!("not ready (HTTP {code} from {health}/readiness)"),
        Err(e) => format!("unknown (health endpoint {health} not reachable: {e})"),
    };
    report.out(format!("Calico node readiness: {readiness}\n"));
    let daemons: Vec<&str> = processes.iter().filter_map(|p| is_bgp_daemon(p)).collect();
    if daemons.is_empty() {
        report.out("\nThe BGP backend process (BIRD) is not running.\n");
    } else {
        report.out(format!(
            "\nINFO: a BGP daemon is running ({}), but this build's calico-node does not \
             configure BGP yet, so its peers are not Calico's and are not shown.\n",
            daemons.join(", ")
        ));
    }
    report.out("BGP is not implemented in this build: no BGP peers are configured.\n\n");
    report
}

/// A kernel feature the node needs: a module name (looked up as calicoctl does) and the
/// kernel configuration symbol that provides it.
struct Feature {
    module: &'static str,
    config: &'static str,
    required: bool,
    why: &'static str,
}

const MIN_KERNEL: (u32, u32) = (5, 4);

const FEATURES: &[Feature] = &[
    Feature {
        module: "nf_tables",
        config: "CONFIG_NF_TABLES",
        required: true,
        why: "policy is programmed as nftables rules",
    },
    Feature {
        module: "nf_tables_inet",
        config: "CONFIG_NF_TABLES_INET",
        required: true,
        why: "calico-node's tables are in the inet family",
    },
    Feature {
        module: "nft_ct",
        config: "CONFIG_NFT_CT",
        required: true,
        why: "connection tracking matches (the established-flow fast path)",
    },
    Feature {
        module: "nf_conntrack",
        config: "CONFIG_NF_CONNTRACK",
        required: true,
        why: "connection tracking",
    },
    Feature {
        module: "veth",
        config: "CONFIG_VETH",
        required: true,
        why: "workload interfaces are veth pairs",
    },
    Feature {
        module: "net_ns",
        config: "CONFIG_NET_NS",
        required: true,
        why: "workloads live in network namespaces",
    },
    Feature {
        module: "nf_conntrack_netlink",
        config: "CONFIG_NF_CT_NETLINK",
        required: false,
        why: "clearing conntrack entries of removed workloads",
    },
    Feature {
        module: "nft_reject",
        config: "CONFIG_NFT_REJECT",
        required: false,
        why: "reject actions",
    },
    Feature {
        module: "nft_fib",
        config: "CONFIG_NFT_FIB_INET",
        required: false,
        why: "reverse-path checks",
    },
    Feature {
        module: "nft_log",
        config: "CONFIG_NFT_LOG",
        required: false,
        why: "the Log rule action",
    },
    Feature {
        module: "ipv6",
        config: "CONFIG_IPV6",
        required: false,
        why: "IPv6 workloads",
    },
    Feature {
        module: "ipip",
        config: "CONFIG_NET_IPIP",
        required: false,
        why: "IP-in-IP encapsulation",
    },
    Feature {
        module: "vxlan",
        config: "CONFIG_VXLAN",
        required: false,
        why: "VXLAN encapsulation",
    },
    Feature {
        module: "wireguard",
        config: "CONFIG_WIREGUARD",
        required: false,
        why: "WireGuard encryption",
    },
];

/// calicoctl's result line.
fn row(report: &mut Report, what: &str, result: &str) {
    report.out(format!("\t\t{what:<20}\t\t\t\t\t{result}\n"));
}

/// `(major, minor)` of a kernel release such as `6.18.44-fc-v657`.
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The kernel configuration's text: the override, else the first default location found.
fn kernel_config(
    host: &Host,
    release: &str,
    over: Option<&Path>,
) -> Result<Option<String>, String> {
    let candidates: Vec<PathBuf> = match over {
        Some(p) => vec![p.to_owned()],
        None => {
            let r = |p: String| host.root.join(p.trim_start_matches('/'));
            vec![
                host.proc.join("config.gz"),
                r("/usr/src/linux/.config".into()),
                r(format!("/boot/config-{release}")),
                r(format!("/usr/src/linux-{release}/.config")),
                r(format!("/usr/src/linux-headers-{release}/.config")),
                r(format!("/lib/modules/{release}/build/.config")),
            ]
        }
    };
    for path in candidates {
        let raw = match std::fs::read(&path) {
            Ok(raw) => raw,
            Err(e) if over.is_some() => {
                return Err(format!("cannot read kernel config {}: {e}", path.display()));
            }
            Err(_) => continue,
        };
        let text = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = String::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_string(&mut out)
                .map_err(|e| format!("cannot decompress {}: {e}", path.display()))?;
            out
        } else {
            String::from_utf8_lossy(&raw).into_owned()
        };
        return Ok(Some(text));
    }
    Ok(None)
}

/// Module names are spelled with `_` or `-` interchangeably.
fn same_module(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x == y || (matches!(x, b'_' | b'-') && matches!(y, b'_' | b'-')))
}

/// True if a `modules.dep`/`modules.builtin` line names `module` (`…/nf_tables.ko[.xz]…`).
fn lists_module(line: &str, module: &str) -> bool {
    let path = line.split(':').next().unwrap_or_default();
    let file = path.rsplit('/').next().unwrap_or_default();
    file.split_once(".ko")
        .is_some_and(|(name, _)| same_module(name, module))
}

/// Where a feature was found, or `None`.
fn find_feature(
    feature: &Feature,
    loaded: &[String],
    module_lists: &[String],
    config: Option<&str>,
    host: &Host,
) -> Option<&'static str> {
    if loaded.iter().any(|m| same_module(m, feature.module)) {
        return Some("loaded");
    }
    if host.sys.join("module").join(feature.module).is_dir() {
        return Some("loaded");
    }
    if module_lists
        .iter()
        .any(|text| text.lines().any(|l| lists_module(l, feature.module)))
    {
        return Some("available");
    }
    let prefix = format!("{}=", feature.config);
    if config.is_some_and(|c| {
        c.lines().any(|l| {
            l.strip_prefix(&prefix)
                .is_some_and(|v| v == "y" || v == "m")
        })
    }) {
        return Some("kernel config");
    }
    None
}

/// Finds an executable named `tool` on `path`.
fn which(path: &str, tool: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path.split(':').filter(|d| !d.is_empty()).find_map(|dir| {
        let candidate = Path::new(dir).join(tool);
        let meta = std::fs::metadata(&candidate).ok()?;
        (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(candidate)
    })
}

/// `calicoctl node checksystem`.
pub fn checksystem(host: &Host, kernel_config_file: Option<&Path>) -> Report {
    let mut report = Report::default();
    let mut ok = true;

    report.out("Checking kernel version...\n");
    let Some(release) = host.kernel_release() else {
        row(&mut report, "", "FAIL");
        report.out("Cannot read the kernel release (proc/sys/kernel/osrelease).\n");
        return report
            .fail("System doesn't meet one or more minimum systems requirements to run Calico");
    };
    match kernel_version(&release) {
        Some(v) if v >= MIN_KERNEL => row(&mut report, &release, "OK"),
        _ => {
            row(&mut report, &release, "FAIL");
            report.out(format!(
                "Minimum kernel version to run Calico is {}.{}. Detected kernel version: {release}\n",
                MIN_KERNEL.0, MIN_KERNEL.1
            ));
            ok = false;
        }
    }

    report.out("Checking kernel modules...\n");
    let loaded: Vec<String> = std::fs::read_to_string(host.proc.join("modules"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    let module_lists: Vec<String> = ["modules.dep", "modules.builtin"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(host.modules.join(&release).join(f)).ok())
        .collect();
    let config = match kernel_config(host, &release, kernel_config_file) {
        Ok(c) => c,
        Err(e) => return report.fail(e),
    };
    let mut missing_optional = Vec::new();
    for feature in FEATURES {
        match find_feature(feature, &loaded, &module_lists, config.as_deref(), host) {
            Some(_) => row(&mut report, feature.module, "OK"),
            None if feature.required => {
                report.out(format!(
                    "WARNING: Unable to detect the {} module as Loaded/Builtin module or lsmod (needed: {})\n",
                    feature.module, feature.why
                ));
                row(&mut report, feature.module, "FAIL");
                ok = false;
            }
            None => {
                row(&mut report, feature.module, "MISSING");
                missing_optional.push(feature);
            }
        }
    }
    for feature in missing_optional {
        report.out(format!(
            "WARNING: {} not found: {} will be unavailable\n",
            feature.module, feature.why
        ));
    }

    report.out("Checking tools...\n");
    match which(&host.path, "nft") {
        Some(path) => row(&mut report, "nft", &format!("OK ({})", path.display())),
        None => {
            row(&mut report, "nft", "FAIL");
            report.out(
                "WARNING: the nft tool is not on PATH; calico-node needs it to read back and repair its tables\n",
            );
            ok = false;
        }
    }

    report.out("Checking sysctls...\n");
    for (name, file, why) in [
        (
            "net.ipv4.ip_forward",
            "sys/net/ipv4/ip_forward",
            "workload traffic is routed by the host",
        ),
        (
            "net.ipv6.conf.all.forwarding",
            "sys/net/ipv6/conf/all/forwarding",
            "IPv6 workload traffic is routed by the host",
        ),
    ] {
        match std::fs::read_to_string(host.proc.join(file)).map(|v| v.trim().to_owned()) {
            Ok(v) if v == "1" => row(&mut report, name, "OK"),
            Ok(v) => {
                row(&mut report, name, &format!("WARNING ({v})"));
                report.out(format!("WARNING: {name} is {v}: set it to 1 ({why})\n"));
            }
            Err(_) => row(&mut report, name, "MISSING"),
        }
    }

    if !ok {
        return report
            .fail("System doesn't meet one or more minimum systems requirements to run Calico");
    }
    report.out("System meets minimum system requirements to run Calico!\n");
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake host: a kernel release, a config, loaded modules, sysctls and a PATH.
    struct Fake {
        dir: tempfile::TempDir,
    }

    impl Fake {
        fn new(release: &str) -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let f = Fake { dir };
            f.write("proc/sys/kernel/osrelease", &format!("{release}\n"));
            std::fs::create_dir_all(f.dir.path().join("sys/module")).expect("mkdir");
            std::fs::create_dir_all(f.dir.path().join("bin")).expect("mkdir");
            f
        }

        fn write(&self, rel: &str, text: &str) {
            let p = self.dir.path().join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        }

        fn nft(&self) {
            use std::os::unix::fs::PermissionsExt;
            let p = self.dir.path().join("bin/nft");
            std::fs::write(&p, "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }

        fn host(&self) -> Host {
            let d = self.dir.path();
            Host {
                proc: d.join("proc"),
                sys: d.join("sys"),
                modules: d.join("lib/modules"),
                root: d.to_owned(),
                path: d.join("bin").display().to_string(),
            }
        }
    }

    const FULL_CONFIG: &str = "CONFIG_NF_TABLES=m\nCONFIG_NF_TABLES_INET=y\nCONFIG_NFT_CT=m\n\
        CONFIG_NF_CONNTRACK=m\nCONFIG_VETH=m\nCONFIG_NET_NS=y\n# CONFIG_WIREGUARD is not set\n";

    #[test]
    fn passes_with_a_complete_kernel_config_and_nft() {
        let f = Fake::new("6.1.0-13-amd64");
        f.write("boot/config-6.1.0-13-amd64", FULL_CONFIG);
        f.write("proc/sys/net/ipv4/ip_forward", "1\n");
        f.nft();
        let r = checksystem(&f.host(), None);
        assert!(!r.failed, "{r:?}");
        assert!(
            r.stdout.contains("\t\tnf_tables           \t\t\t\t\tOK\n"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("wireguard"), "{}", r.stdout);
        assert!(
            r.stdout.contains("WARNING: wireguard not found"),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout
                .ends_with("System meets minimum system requirements to run Calico!\n")
        );
    }

    #[test]
    fn modules_are_found_loaded_in_modules_dep_or_builtin() {
        let f = Fake::new("6.1.0");
        f.write(
            "proc/modules",
            "nf_tables 364544 0 - Live 0x0\nnft_ct 28672 0 - Live 0x0\n",
        );
        f.write(
            "lib/modules/6.1.0/modules.dep",
            "kernel/net/netfilter/nf_conntrack.ko.xz: kernel/lib/libcrc32c.ko.xz\n\
             kernel/drivers/net/veth.ko.zst:\n",
        );
        f.write(
            "lib/modules/6.1.0/modules.builtin",
            "kernel/net/netfilter/nf_tables_inet.ko\n",
        );
        std::fs::create_dir_all(f.dir.path().join("sys/module/net_ns")).expect("mkdir");
        f.nft();
        let r = checksystem(&f.host(), None);
        assert!(!r.failed, "{r:?}");
    }

    #[test]
    fn a_missing_required_feature_fails_with_calicoctls_message() {
        let f = Fake::new("6.1.0");
        f.write(
            "boot/config-6.1.0",
            &FULL_CONFIG.replace("CONFIG_NFT_CT=m\n", ""),
        );
        f.nft();
        let r = checksystem(&f.host(), None);
        assert!(r.failed);
        assert!(
            r.stdout
                .contains("WARNING: Unable to detect the nft_ct module"),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout
                .contains("\t\tnft_ct              \t\t\t\t\tFAIL\n")
        );
        assert_eq!(
            r.stderr,
            "System doesn't meet one or more minimum systems requirements to run Calico\n"
        );
    }

    #[test]
    fn missing_nft_or_an_old_kernel_fails() {
        let f = Fake::new("6.1.0");
        f.write("boot/config-6.1.0", FULL_CONFIG);
        let r = checksystem(&f.host(), None);
        assert!(r.failed);
        assert!(
            r.stdout
                .contains("\t\tnft                 \t\t\t\t\tFAIL\n"),
            "{}",
            r.stdout
        );

        let f = Fake::new("4.19.0-25-amd64");
        f.write("boot/config-4.19.0-25-amd64", FULL_CONFIG);
        f.nft();
        let r = checksystem(&f.host(), None);
        assert!(r.failed);
        assert!(r.stdout.contains(
            "Minimum kernel version to run Calico is 5.4. Detected kernel version: 4.19.0-25-amd64"
        ));
    }

    #[test]
    fn kernel_config_override_may_be_gzip_and_must_exist() {
        use std::io::Write as _;
        let f = Fake::new("6.1.0");
        f.nft();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(FULL_CONFIG.as_bytes()).expect("gzip");
        let path = f.dir.path().join("my.config.gz");
        std::fs::write(&path, gz.finish().expect("gzip")).expect("write");
        assert!(!checksystem(&f.host(), Some(&path)).failed);

        let r = checksystem(&f.host(), Some(&f.dir.path().join("absent")));
        assert!(r.failed);
        assert!(
            r.stderr.starts_with("cannot read kernel config "),
            "{}",
            r.stderr
        );
    }

    #[test]
    fn a_disabled_forwarding_sysctl_is_a_warning_not_a_failure() {
        let f = Fake::new("6.1.0");
        f.write("boot/config-6.1.0", FULL_CONFIG);
        f.write("proc/sys/net/ipv4/ip_forward", "0\n");
        f.nft();
        let r = checksystem(&f.host(), None);
        assert!(!r.failed);
        assert!(
            r.stdout.contains("WARNING: net.ipv4.ip_forward is 0"),
            "{}",
            r.stdout
        );
    }

    #[test]
    fn module_names_match_like_modprobe() {
        assert!(lists_module(
            "kernel/net/netfilter/nf_tables.ko.xz: x.ko",
            "nf_tables"
        ));
        assert!(lists_module("kernel/drivers/net/vfio-pci.ko", "vfio_pci"));
        assert!(!lists_module(
            "kernel/net/netfilter/nf_tables_set.ko",
            "nf_tables"
        ));
        assert!(!lists_module("kernel/net/netfilter/nft_ct.ko", "nft_c"));
        assert_eq!(kernel_version("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(kernel_version("garbage"), None);
    }

    #[test]
    fn status_needs_a_calico_node_process() {
        let f = Fake::new("6.1.0");
        f.write("proc/42/cmdline", "/usr/sbin/bird\0-c\0/etc/bird.conf\0");
        let r = status(&f.host(), "127.0.0.1:1".into());
        assert!(r.failed);
        assert_eq!(r.stderr, "Calico process is not running.\n");

        f.write("proc/43/cmdline", "/usr/local/bin/calico-node\0");
        let r = status(&f.host(), "127.0.0.1:1".into());
        assert!(!r.failed, "{r:?}");
        assert!(r.stdout.starts_with("Calico process is running.\n"));
        assert!(
            r.stdout
                .contains("Calico node readiness: unknown (health endpoint")
        );
        assert!(
            r.stdout.contains("a BGP daemon is running (bird)"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("BGP is not implemented in this build"));
    }

    #[test]
    fn status_reports_readiness_from_the_health_endpoint() {
        use std::net::TcpListener;
        let f = Fake::new("6.1.0");
        f.write("proc/43/cmdline", "calico-node\0");
        for (answer, expect) in [
            (
                "HTTP/1.1 204 No Content\r\n\r\n",
                "Calico node readiness: ready\n",
            ),
            (
                "HTTP/1.1 503 Service Unavailable\r\n\r\n",
                "Calico node readiness: not ready (HTTP 503",
            ),
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr").to_string();
            let server = std::thread::spawn(move || {
                let (mut s, _) = listener.accept().expect("accept");
                // Read the whole request before answering and closing.
                let mut request = Vec::new();
                let mut buf = [0u8; 512];
                while !request.ends_with(b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                s.write_all(answer.as_bytes()).expect("answer");
            });
            let r = status(&f.host(), addr);
            server.join().expect("server");
            assert!(r.stdout.contains(expect), "{}", r.stdout);
            assert!(
                r.stdout
                    .contains("The BGP backend process (BIRD) is not running.")
            );
        }
    }
}
