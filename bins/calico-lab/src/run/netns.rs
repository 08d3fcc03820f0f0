//! Named network namespaces (`ip netns`), threads that work inside one, the `ip` command in
//! batch mode, and the clean-up registry that removes everything a run created — on a normal
//! exit, on failure (Drop guards) and on SIGINT/SIGTERM.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::sched::{CloneFlags, setns};

use super::LabError;

/// Where `ip netns` keeps its namespace handles.
pub const NETNS_DIR: &str = "/run/netns";

/// Moves the calling thread into network namespace `name` (a name under [`NETNS_DIR`]).
/// Sockets the thread creates afterwards live in that namespace; the rest of the process is
/// unaffected. Call it first thing in a dedicated thread.
pub fn enter(name: &str) -> Result<(), LabError> {
    let path = format!("{NETNS_DIR}/{name}");
    let file = std::fs::File::open(&path).map_err(|e| LabError::Io {
        what: format!("open network namespace {path}"),
        source: e,
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| LabError::Netns {
        ns: name.to_string(),
        source: e,
    })
}

/// Runs `ip [-n NS] -batch -` with `lines` on standard input; any failing line fails the call
/// (with `force`, every line is tried and failures are ignored: for clean-up).
pub fn ip_batch(ns: Option<&str>, lines: &[String], force: bool) -> Result<(), LabError> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    if force {
        cmd.arg("-force");
    }
    cmd.args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let shown = format!(
        "ip {}-batch ({} line(s), first: {:?})",
        ns.map(|n| format!("-n {n} ")).unwrap_or_default(),
        lines.len(),
        lines[0]
    );
    let mut child = cmd.spawn().map_err(|e| LabError::Io {
        what: format!("start `ip` (is iproute2 installed?) for {shown}"),
        source: e,
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        let text = lines.join("\n") + "\n";
        stdin.write_all(text.as_bytes()).map_err(|e| LabError::Io {
            what: format!("write to {shown}"),
            source: e,
        })?;
    }
    let out = child.wait_with_output().map_err(|e| LabError::Io {
        what: format!("wait for {shown}"),
        source: e,
    })?;
    if out.status.success() || force {
        Ok(())
    } else {
        Err(LabError::Command {
            cmd: shown,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Names of the existing network namespaces starting with `prefix`.
pub fn list_with_prefix(prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(NETNS_DIR)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Deletes network namespaces by name (links inside them go with them; a veth pair dies when
/// either end's namespace does). Missing ones are ignored.
pub fn delete(names: &[String]) -> Result<(), LabError> {
    let lines: Vec<String> = names.iter().map(|n| format!("netns del {n}")).collect();
    ip_batch(None, &lines, true)?;
    let left: Vec<String> = names
        .iter()
        .filter(|n| std::path::Path::new(NETNS_DIR).join(n).exists())
        .cloned()
        .collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(LabError::Cleanup(format!(
            "network namespaces still present: {}",
            left.join(", ")
        )))
    }
}

#[derive(Default)]
struct Registered {
    namespaces: BTreeSet<String>,
    children: Vec<(String, Child)>,
    /// Process groups of commands the main thread waits for itself (the node hook).
    groups: BTreeSet<i32>,
}

/// Everything a run created that must not outlive it: namespaces and child processes.
/// Cloning shares the registry. [`Cleanup::run`] is idempotent.
#[derive(Clone, Default)]
pub struct Cleanup {
    inner: Arc<Mutex<Registered>>,
    busy: Arc<Mutex<()>>,
}

impl Cleanup {
    fn lock(&self) -> MutexGuard<'_, Registered> {
        // A panic while holding the lock must not stop the clean-up.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Held while namespaces are being created: the signal handler waits for it, so that no
    /// namespace appears after the clean-up ran.
    pub fn busy(&self) -> MutexGuard<'_, ()> {
        self.busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers the process group of a command the caller waits for (killed at clean-up).
    pub fn group(&self, pgid: i32) {
        self.lock().groups.insert(pgid);
    }

    /// Forgets a process group (its command ended).
    pub fn forget_group(&self, pgid: i32) {
        self.lock().groups.remove(&pgid);
    }

    /// Registers a namespace (before creating it, so a half-done creation is cleaned too).
    pub fn namespace(&self, name: &str) {
        self.lock().namespaces.insert(name.to_string());
    }

    /// Registers a child process, killed at clean-up.
    pub fn child(&self, what: &str, child: Child) {
        self.lock().children.push((what.to_string(), child));
    }

    /// The exit status of the registered child named `what`, if it has exited.
    pub fn exited(&self, what: &str) -> Option<std::process::ExitStatus> {
        let mut reg = self.lock();
        reg.children
            .iter_mut()
            .filter(|(w, _)| w == what)
            .find_map(|(_, c)| c.try_wait().ok().flatten())
    }

    /// Stops the registered child named `what` (SIGKILL after SIGTERM had `grace` to work).
    pub fn stop_child(&self, what: &str, grace: std::time::Duration) {
        let taken: Vec<(String, Child)> = {
            let mut reg = self.lock();
            let (mine, rest) = std::mem::take(&mut reg.children)
                .into_iter()
                .partition(|(w, _)| w == what);
            reg.children = rest;
            mine
        };
        for (_, child) in taken {
            stop(child, grace);
        }
    }

    /// Kills the children, then deletes the namespaces. Errors are returned, not printed.
    pub fn run(&self) -> Result<(), LabError> {
        let (children, namespaces, groups) = {
            let mut reg = self.lock();
            (
                std::mem::take(&mut reg.children),
                std::mem::take(&mut reg.namespaces),
                std::mem::take(&mut reg.groups),
            )
        };
        for g in groups {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(g),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        for (_, child) in children {
            stop(child, std::time::Duration::from_millis(500));
        }
        let names: Vec<String> = namespaces.into_iter().collect();
        delete(&names)
    }
}

/// Stops a child: SIGTERM, then SIGKILL if it is still there after `grace`.
fn stop(mut child: Child, grace: std::time::Duration) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Blocks SIGINT and SIGTERM in this thread (and so in every thread started after it) and
/// starts a thread that, on either signal, runs `cleanup` and exits with 128+signal. Call
/// it before starting any other thread.
pub fn handle_signals(cleanup: Cleanup) -> Result<(), LabError> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block().map_err(|e| LabError::Netns {
        ns: "(signal mask)".into(),
        source: e,
    })?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Ok(sig) = set.wait() {
                eprintln!("calico-lab: {sig}: removing the lab");
                // Let a namespace creation in progress finish, so nothing appears afterwards.
                let _busy = cleanup.busy();
                if let Err(e) = cleanup.run() {
                    eprintln!("calico-lab: clean-up: {e}");
                }
                std::process::exit(128 + sig as i32);
            }
        })
        .map_err(|e| LabError::Io {
            what: "start the signal thread".into(),
            source: e,
        })?;
    Ok(())
}
