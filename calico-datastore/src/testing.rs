//! Test support: real servers for integration tests and benchmarks (cargo feature `testing`).
//!
//! [`EtcdServer`] runs `/usr/bin/etcd` (Debian package `etcd-server`) on free loopback ports
//! with a throwaway data directory, and kills it when dropped. It can be killed and started
//! again on the same ports and data, to test what clients do when etcd goes away.
//! [`TestCertificates`] makes a CA, a server and a client certificate with the `openssl`
//! command, for TLS tests.
//!
//! ```no_run
//! # async fn run() -> calico_datastore::Result<()> {
//! use calico_datastore::testing::EtcdServer;
//!
//! let mut etcd = EtcdServer::spawn().await?;
//! let config = etcd.config(); // an `EtcdConfig` pointing at it
//! etcd.kill(); // SIGKILL; clients see the connection break
//! etcd.start().await?; // same port, same data
//! # let _ = config; Ok(()) }
//! ```
//!
//! Environment: `CALICO_TEST_ETCD` and `CALICO_TEST_ETCDCTL` override the binaries' paths.
#![allow(clippy::panic)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::config::EtcdConfig;
use crate::error::{Error, Result};

/// Where Debian's `etcd-server` package installs etcd.
pub const ETCD_BINARY: &str = "/usr/bin/etcd";
/// Where Debian's `etcd-client` package installs etcdctl.
pub const ETCDCTL_BINARY: &str = "/usr/bin/etcdctl";
/// How long etcd may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts with fresh ports when another process takes ours between picking and binding.
const PORT_ATTEMPTS: u32 = 5;
/// How long a restart keeps retrying when its port is briefly taken.
const RESTART_PORT_PATIENCE: Duration = Duration::from_secs(10);
/// What etcd logs once its client listener serves.
const READY_MESSAGE: &str = "ready to serve client requests";
/// How often startup progress is checked.
const POLL: Duration = Duration::from_millis(20);

/// The certificate files an etcd server with TLS uses, and the client's.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The CA that signed both certificates.
    pub ca_cert: PathBuf,
    /// The server certificate (for `127.0.0.1` and `localhost`).
    pub server_cert: PathBuf,
    /// The server key.
    pub server_key: PathBuf,
    /// A client certificate signed by the same CA.
    pub client_cert: PathBuf,
    /// The client key.
    pub client_key: PathBuf,
}

/// A throwaway PKI made with the `openssl` command: one CA, a server certificate valid for
/// `127.0.0.1`/`localhost`, and a client certificate. The files live in a temporary
/// directory removed on drop.
pub struct TestCertificates {
    dir: TempDir,
    files: TlsFiles,
}

impl TestCertificates {
    /// Generates a fresh CA and certificates (ECDSA P-256, valid for a day).
    ///
    /// # Panics
    /// If the `openssl` command is missing (Debian package `openssl`).
    pub fn generate() -> Result<Self> {
        let dir = TempDir::with_prefix("calico-test-pki-")
            .map_err(|e| Error::unavailable(format!("cannot create a temp dir: {e}")))?;
        let d = dir.path();
        let p = |name: &str| d.join(name);
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=calico-test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &path_arg(&p("ca.key")),
            "-out",
            &path_arg(&p("ca.crt")),
        ])?;
        for (name, cn, usage) in [
            ("server", "localhost", "serverAuth,clientAuth"),
            ("client", "calico-test-client", "clientAuth"),
        ] {
            let ext = p(&format!("{name}.ext"));
            let mut text = format!(
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n"
            );
            if name == "server" {
                text.push_str("subjectAltName=IP:127.0.0.1,DNS:localhost\n");
            }
            std::fs::write(&ext, text)
                .map_err(|e| Error::unavailable(format!("cannot write {}: {e}", ext.display())))?;
            openssl(&[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                &format!("/CN={cn}"),
                "-keyout",
                &path_arg(&p(&format!("{name}.key"))),
                "-out",
                &path_arg(&p(&format!("{name}.csr"))),
            ])?;
            openssl(&[
                "x509",
                "-req",
                "-days",
                "1",
                "-in",
                &path_arg(&p(&format!("{name}.csr"))),
                "-CA",
                &path_arg(&p("ca.crt")),
                "-CAkey",
                &path_arg(&p("ca.key")),
                "-CAcreateserial",
                "-extfile",
                &path_arg(&ext),
                "-out",
                &path_arg(&p(&format!("{name}.crt"))),
            ])?;
        }
        let files = TlsFiles {
            ca_cert: p("ca.crt"),
            server_cert: p("server.crt"),
            server_key: p("server.key"),
            client_cert: p("client.crt"),
            client_key: p("client.key"),
        };
        Ok(TestCertificates { dir, files })
    }

    /// The files.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The directory holding them.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn openssl(args: &[&str]) -> Result<()> {
    let out = match Command::new("openssl").args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "the `openssl` command is missing; install the Debian package `openssl` to run TLS tests"
        ),
        Err(e) => return Err(Error::unavailable(format!("cannot run openssl: {e}"))),
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::unavailable(format!(
            "openssl {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A real etcd on 127.0.0.1 for tests: free client and peer ports, a temporary data
/// directory, killed (SIGKILL) and cleaned up on drop.
pub struct EtcdServer {
    dir: TempDir,
    client_port: u16,
    peer_port: u16,
    tls: Option<TlsFiles>,
    child: Option<Child>,
}

impl EtcdServer {
    /// Starts a fresh etcd serving plain HTTP.
    ///
    /// # Panics
    /// If the etcd binary is missing (Debian package `etcd-server`).
    pub async fn spawn() -> Result<Self> {
        Self::spawn_inner(None).await
    }

    /// Starts a fresh etcd serving HTTPS with `tls`'s server certificate, requiring client
    /// certificates signed by `tls.ca_cert` (`--client-cert-auth`).
    ///
    /// # Panics
    /// If the etcd binary is missing (Debian package `etcd-server`).
    pub async fn spawn_with_tls(tls: &TlsFiles) -> Result<Self> {
        Self::spawn_inner(Some(tls.clone())).await
    }

    async fn spawn_inner(tls: Option<TlsFiles>) -> Result<Self> {
        let binary = etcd_binary();
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let (client_port, peer_port) = free_ports()?;
            let mut server = EtcdServer {
                dir: TempDir::with_prefix("calico-test-etcd-")
                    .map_err(|e| Error::unavailable(format!("cannot create a temp dir: {e}")))?,
                client_port,
                peer_port,
                tls: tls.clone(),
                child: None,
            };
            match server.launch(&binary).await {
                Ok(()) => return Ok(server),
                // Another process took a port between our pick and etcd's bind: try again
                // with new ports and a new data dir (etcd records its URLs there).
                Err(Launch::PortTaken(e)) => last_error = Some(e),
                Err(Launch::Failed(e)) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::unavailable("etcd did not start")))
    }

    /// Starts etcd again after [`EtcdServer::kill`], on the same ports with the same data.
    /// Does nothing if it is running.
    pub async fn start(&mut self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let binary = etcd_binary();
        let deadline = Instant::now() + RESTART_PORT_PATIENCE;
        loop {
            match self.launch(&binary).await {
                Ok(()) => return Ok(()),
                Err(Launch::PortTaken(e)) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "etcd port still taken; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(Launch::PortTaken(e) | Launch::Failed(e)) => return Err(e),
            }
        }
    }

    /// Kills etcd with SIGKILL (no graceful shutdown) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// True while the etcd process runs.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// Settings that reach this server (with the client certificate when it uses TLS).
    pub fn config(&self) -> EtcdConfig {
        EtcdConfig {
            endpoints: vec![self.endpoint()],
            ca_cert_file: self.tls.as_ref().map(|t| t.ca_cert.clone()),
            cert_file: self.tls.as_ref().map(|t| t.client_cert.clone()),
            key_file: self.tls.as_ref().map(|t| t.client_key.clone()),
            username: None,
            password: None,
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Everything etcd has logged (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Runs `etcdctl` against this server and returns its standard output.
    ///
    /// # Panics
    /// If etcdctl is missing (Debian package `etcd-client`).
    pub async fn etcdctl(&self, args: &[&str]) -> Result<String> {
        let mut command = Command::new(etcdctl_binary());
        command.env("ETCDCTL_API", "3");
        command.arg(format!("--endpoints={}", self.endpoint()));
        if let Some(tls) = &self.tls {
            command.arg(format!("--cacert={}", tls.ca_cert.display()));
            command.arg(format!("--cert={}", tls.client_cert.display()));
            command.arg(format!("--key={}", tls.client_key.display()));
        }
        command.args(args);
        let what = args.join(" ");
        let out = tokio::task::spawn_blocking(move || command.output())
            .await
            .map_err(|e| Error::unavailable(format!("etcdctl {what}: {e}")))?;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "etcdctl is missing ({}); install the Debian package `etcd-client`",
                etcdctl_binary()
            ),
            Err(e) => return Err(Error::unavailable(format!("etcdctl {what}: {e}"))),
        };
        if !out.status.success() {
            return Err(Error::unavailable(format!(
                "etcdctl {what}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Compacts etcd's history up to `revision` with `etcdctl compact --physical`.
    pub async fn compact(&self, revision: u64) -> Result<()> {
        self.etcdctl(&["compact", &revision.to_string(), "--physical"])
            .await
            .map(|_| ())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// Starts the process and waits until it serves, or says why it could not.
    async fn launch(&mut self, binary: &str) -> std::result::Result<(), Launch> {
        let fail = |e: String| Launch::Failed(Error::unavailable(e));
        let log_path = self.log_path();
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| fail(format!("cannot open {}: {e}", log_path.display())))?;
        let log_start = log
            .seek(SeekFrom::End(0))
            .map_err(|e| fail(format!("{}: {e}", log_path.display())))?;
        let stderr = log
            .try_clone()
            .map_err(|e| fail(format!("{}: {e}", log_path.display())))?;
        let client_url = self.endpoint();
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let mut command = Command::new(binary);
        command
            .arg("--name=default")
            .arg(format!("--data-dir={}", self.data_dir().display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=default={peer_url}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr));
        if let Some(tls) = &self.tls {
            command
                .arg(format!("--cert-file={}", tls.server_cert.display()))
                .arg(format!("--key-file={}", tls.server_key.display()))
                .arg("--client-cert-auth")
                .arg(format!("--trusted-ca-file={}", tls.ca_cert.display()));
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("etcd is missing ({binary}); install the Debian package `etcd-server`")
            }
            Err(e) => return Err(fail(format!("cannot run {binary}: {e}"))),
        };
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let output = read_from(&log_path, log_start);
            if output.contains(READY_MESSAGE) {
                return Ok(());
            }
            let exited = match &mut self.child {
                Some(child) => !matches!(child.try_wait(), Ok(None)),
                None => true,
            };
            if exited {
                self.child = None;
                let e = Error::unavailable(format!(
                    "etcd on {client_url} exited during startup:\n{}",
                    tail(&output)
                ));
                return Err(if output.contains("address already in use") {
                    Launch::PortTaken(e)
                } else {
                    Launch::Failed(e)
                });
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(fail(format!(
                    "etcd on {client_url} did not serve within {START_TIMEOUT:?}:\n{}",
                    tail(&output)
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Why a launch failed.
enum Launch {
    /// A port was taken by another process; a retry may work.
    PortTaken(Error),
    /// Anything else.
    Failed(Error),
}

fn etcd_binary() -> String {
    std::env::var("CALICO_TEST_ETCD").unwrap_or_else(|_| ETCD_BINARY.to_owned())
}

fn etcdctl_binary() -> String {
    std::env::var("CALICO_TEST_ETCDCTL").unwrap_or_else(|_| ETCDCTL_BINARY.to_owned())
}

/// Two distinct free loopback ports (free when picked; see the retry in `spawn`).
fn free_ports() -> Result<(u16, u16)> {
    let bind = || {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::unavailable(format!("cannot find a free port: {e}")))
    };
    let (a, b) = (bind()?, bind()?);
    let port = |l: &TcpListener| {
        l.local_addr()
            .map(|a| a.port())
            .map_err(|e| Error::unavailable(format!("cannot find a free port: {e}")))
    };
    Ok((port(&a)?, port(&b)?))
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path)
        && f.seek(SeekFrom::Start(offset)).is_ok()
    {
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

/// The last lines of a log, for error messages.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
