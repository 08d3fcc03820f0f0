//! The side-effect boundary of the `calico` plugin: programming a pod's network. The Linux
//! implementation is [`super::netlink`]; [`RecordingPodDataplane`] records calls instead
//! (tests, dry runs) on the same code path.

use std::path::Path;
use std::sync::Mutex;

use super::netlink::{self, PodNetwork};
use crate::skel::{Error, Result};

/// Programs (and unprograms) the network of a pod.
pub trait PodDataplane: Send + Sync {
    /// Creates the veth pair, addresses, routes and sysctls; returns the container MAC.
    fn setup(&self, net: &PodNetwork<'_>) -> Result<String>;
    /// Deletes the container interface (missing netns or link: success); whether it existed.
    fn teardown(&self, netns: &Path, ifname: &str) -> Result<bool>;
    /// What is missing or wrong (empty: all fine).
    fn check(&self, net: &PodNetwork<'_>) -> Result<Vec<String>>;
    /// Deletes a host-side link by name (absent: success).
    fn delete_host_link(&self, name: &str) -> Result<()>;
}

/// The Linux dataplane (rtnetlink and `/proc/sys`).
#[derive(Clone, Copy, Debug, Default)]
pub struct LinuxPodDataplane;

impl PodDataplane for LinuxPodDataplane {
    fn setup(&self, net: &PodNetwork<'_>) -> Result<String> {
        netlink::setup_pod_network(net)
    }
    fn teardown(&self, netns: &Path, ifname: &str) -> Result<bool> {
        netlink::teardown_pod_network(netns, ifname)
    }
    fn check(&self, net: &PodNetwork<'_>) -> Result<Vec<String>> {
        netlink::check_pod_network(net)
    }
    fn delete_host_link(&self, name: &str) -> Result<()> {
        netlink::delete_host_link(name)
    }
}

/// Records every call as a line of text; `setup` fails when `fail_setup` is set.
#[derive(Debug, Default)]
pub struct RecordingPodDataplane {
    /// Make `setup` fail (after recording it).
    pub fail_setup: bool,
    calls: Mutex<Vec<String>>,
}

/// The MAC [`RecordingPodDataplane::setup`] reports.
pub const RECORDED_MAC: &str = "0a:58:0a:00:00:01";

impl RecordingPodDataplane {
    /// A recorder whose `setup` fails.
    pub fn failing_setup() -> Self {
        RecordingPodDataplane {
            fail_setup: true,
            calls: Mutex::default(),
        }
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn record(&self, line: String) {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }
}

impl PodDataplane for RecordingPodDataplane {
    fn setup(&self, net: &PodNetwork<'_>) -> Result<String> {
        let addrs: Vec<String> = net.addresses.iter().map(ToString::to_string).collect();
        self.record(format!(
            "setup {} {} {} mtu={} {}",
            net.netns.display(),
            net.ifname,
            net.host_ifname,
            net.mtu,
            addrs.join(",")
        ));
        if self.fail_setup {
            return Err(Error::dataplane("setup", "injected failure"));
        }
        Ok(RECORDED_MAC.to_owned())
    }
    fn teardown(&self, netns: &Path, ifname: &str) -> Result<bool> {
        self.record(format!("teardown {} {ifname}", netns.display()));
        Ok(true)
    }
    fn check(&self, net: &PodNetwork<'_>) -> Result<Vec<String>> {
        self.record(format!("check {} {}", net.ifname, net.host_ifname));
        Ok(vec![])
    }
    fn delete_host_link(&self, name: &str) -> Result<()> {
        self.record(format!("delete-host-link {name}"));
        Ok(())
    }
}
