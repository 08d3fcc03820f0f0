//! The etcd v3 backend, with Calico's own key layout: a cluster's data written by Calico's
//! Go components reads here, and the other way round.
//!
//! - **Keys**: `/calico/resources/v3/projectcalico.org/<plural>/<name>` for cluster-scoped
//!   kinds and `/calico/resources/v3/projectcalico.org/<plural>/<namespace>/<name>` for
//!   namespaced ones ([`resource_path`], [`parse_resource_path`]). Keys under the prefix that
//!   are not resource keys are ignored.
//! - **Values**: the JSON of the whole v3 object without `resourceVersion`, as [`KvStore`]
//!   encodes it. A resource's `resourceVersion` is its key's `mod_revision`; a list's revision
//!   is the etcd header revision it was read at.
//! - **IPAM**: `IPAMBlock`, `BlockAffinity`, `IPAMHandle` and `IPAMConfiguration` are stored
//!   as Calico's IPAM library stores them, bare model values under `/calico/ipam/v2/…`
//!   ([`ipam_layout`]); the backend translates them to and from v3 objects.
//! - **Compare-and-swap** as Calico does it, one transaction per write: create is
//!   `If(version(key) = 0) Then Put Else Get`, update `If(mod_revision(key) = rev) Then Put
//!   Else Get`, delete `[If(mod_revision(key) = rev)] Then Delete(prev_kv) Else Get`.
//! - **Watches**: `Watch(prefix, start_revision = from + 1, prev_kv)`. History lost to
//!   compaction ends the stream with [`Error::RevisionTooOld`]; a broken connection ends it with
//!   [`Error::Unavailable`], and the caller relists.
//! - **Failures**: every request has a deadline (Calico's 10 s); a dead or unreachable etcd is
//!   [`Error::Unavailable`], which callers retry.
//!
//! ```no_run
//! # async fn run() -> calico_datastore::Result<()> {
//! use calico_datastore::{Datastore, EtcdConfig, etcd};
//! use calico_model::Kind;
//!
//! let config = EtcdConfig {
//!     endpoints: vec!["https://10.0.0.1:2379".into()],
//!     ca_cert_file: Some("/etc/calico/etcd-ca.pem".into()),
//!     cert_file: Some("/etc/calico/etcd-cert.pem".into()),
//!     key_file: Some("/etc/calico/etcd-key.pem".into()),
//!     ..EtcdConfig::default()
//! };
//! let store = etcd::connect(&config).await?;
//! let pools = store.list(Kind::IPPool, None).await?;
//! println!("{} pools at revision {}", pools.items.len(), pools.revision);
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use calico_model::Kind;
use calico_model::sync::ResourceKey;
use etcd_client::{
    Certificate, Client, CompactionOptions, Compare, CompareOp, ConnectOptions, DeleteOptions,
    Event, EventType, GetOptions, Identity, KeyValue, KvClient, TlsOptions, Txn, TxnOp,
    TxnOpResponse, TxnResponse, WatchClient, WatchOptions, WatchResponse, WatchStream,
};
use futures::StreamExt;

pub use etcd_client;

pub mod ipam_layout;

use ipam_layout::{EtcdLayout, ModelKey};

use crate::config::EtcdConfig;
use crate::error::{Error, Result};
use crate::kv::{KvBackend, KvEntry, KvEvent, KvOp, KvStore, KvWatch};

/// A [`crate::Datastore`] on etcd v3.
pub type EtcdDatastore = KvStore<EtcdBackend>;

/// Connects to etcd with Calico's timeouts ([`EtcdOptions::default`]).
///
/// The connection itself is made lazily: an unreachable etcd fails the first request with
/// [`Error::Unavailable`], not this call (unless a user name is configured, which needs an
/// authentication round trip). Unusable settings (no endpoint, unreadable certificate files,
/// TLS files with `http://` endpoints) fail here with [`Error::Config`].
pub async fn connect(config: &EtcdConfig) -> Result<EtcdDatastore> {
    Ok(KvStore::with_backend(EtcdBackend::connect(config).await?))
}

/// Every v3 resource key starts with this.
pub const RESOURCE_PREFIX: &str = "/calico/resources/v3/projectcalico.org/";

/// Deadline of one request (Calico's etcd client uses 10 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline for opening a connection, including the TLS handshake.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Interval of HTTP/2 keep-alive pings (Calico: 30 s), so that a silently dead peer breaks
/// watches instead of leaving them hanging.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a keep-alive ping may go unanswered before the connection is dropped.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Keys read per request when listing; later pages are read at the first page's revision.
pub const LIST_PAGE_SIZE: usize = 500;
/// Largest response accepted from etcd (gRPC's default of 4 MiB is too small for big pages
/// of large policies; a page that still does not fit is re-read in smaller pages).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Times a paginated list restarts when its revision is compacted between pages.
const LIST_RESTARTS: u32 = 3;
/// Most operations etcd accepts in one transaction (its `--max-txn-ops` default).
const MAX_TXN_OPS: usize = 128;

/// Tunables of the etcd connection. [`Default`] gives Calico's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Deadline of one request.
    pub request_timeout: Duration,
    /// Deadline for opening a connection.
    pub dial_timeout: Duration,
    /// HTTP/2 keep-alive ping interval.
    pub keepalive_interval: Duration,
    /// How long a keep-alive ping may go unanswered.
    pub keepalive_timeout: Duration,
    /// Keys read per list request.
    pub list_page_size: usize,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            request_timeout: REQUEST_TIMEOUT,
            dial_timeout: DIAL_TIMEOUT,
            keepalive_interval: KEEPALIVE_INTERVAL,
            keepalive_timeout: KEEPALIVE_TIMEOUT,
            list_page_size: LIST_PAGE_SIZE,
        }
    }
}

/// The etcd key of a resource, or `None` if its name or namespace cannot be one path
/// segment (empty, or containing `/`): no such resource can be stored. Also `None` for the
/// kinds stored in Calico's IPAM layout ([`ipam_layout`]), which have no v3 key.
pub fn resource_path(key: &ResourceKey) -> Option<String> {
    let segment_ok = |s: &str| !s.is_empty() && !s.contains('/');
    if !segment_ok(&key.name) || EtcdLayout::of(key.kind) != EtcdLayout::Resource {
        return None;
    }
    let plural = key.kind.plural();
    if key.kind.namespaced() {
        segment_ok(&key.namespace)
            .then(|| format!("{RESOURCE_PREFIX}{plural}/{}/{}", key.namespace, key.name))
    } else {
        Some(format!("{RESOURCE_PREFIX}{plural}/{}", key.name))
    }
}

/// The key prefix of every resource of `kind`, or of one namespace of a namespaced kind.
/// It ends with `/`, so that `networksets/a/` does not also match namespace `ab`.
pub fn kind_prefix(kind: Kind, namespace: Option<&str>) -> String {
    match namespace.filter(|ns| kind.namespaced() && !ns.is_empty()) {
        Some(ns) => format!("{RESOURCE_PREFIX}{}/{ns}/", kind.plural()),
        None => format!("{RESOURCE_PREFIX}{}/", kind.plural()),
    }
}

/// Parses an etcd key back into the resource it stores: `None` for keys outside the v3
/// resource layout (unknown plural, wrong number of segments for the kind's scope, a kind
/// stored in the IPAM layout).
pub fn parse_resource_path(path: &str) -> Option<ResourceKey> {
    let rest = path.strip_prefix(RESOURCE_PREFIX)?;
    let mut parts = rest.split('/');
    let plural = parts.next()?;
    let kind = Kind::ALL
        .iter()
        .copied()
        .find(|k| k.plural() == plural && EtcdLayout::of(*k) == EtcdLayout::Resource)?;
    let segments: Vec<&str> = parts.collect();
    if segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    match (kind.namespaced(), segments.as_slice()) {
        (true, [namespace, name]) => Some(ResourceKey::new(kind, *namespace, *name)),
        (false, [name]) => Some(ResourceKey::new(kind, "", *name)),
        _ => None,
    }
}

/// The key range `[start, end)` of every key of `kind` (of one namespace of a namespaced
/// kind); it may hold other keys too, which [`parse_path`] skips.
fn kind_range(kind: Kind, namespace: Option<&str>) -> (String, Vec<u8>) {
    EtcdLayout::of(kind).range().unwrap_or_else(|| {
        let prefix = kind_prefix(kind, namespace);
        let end = prefix_end(&prefix);
        (prefix, end)
    })
}

/// Where a key of `kind` lives in etcd.
enum Located {
    /// A v3 resource key.
    Resource(ResourceKey),
    /// A key of Calico's IPAM layout.
    Model(ModelKey),
}

/// Parses an etcd key as a key of `kind`: `None` if it holds something else.
fn parse_path(kind: Kind, path: &str) -> Option<Located> {
    match EtcdLayout::of(kind) {
        EtcdLayout::Resource => parse_resource_path(path)
            .filter(|k| k.kind == kind)
            .map(Located::Resource),
        _ => ModelKey::parse(path)
            .filter(|k| k.kind() == kind)
            .map(Located::Model),
    }
}

/// The [`KvEntry`] of a stored key-value; a model value is translated into its v3 object.
fn entry_of(located: Located, kv: &KeyValue, path: &str) -> Result<KvEntry> {
    let revision = to_u64(kv.mod_revision(), path)?;
    Ok(match located {
        Located::Resource(key) => KvEntry {
            key,
            value: value_text(kv.value()),
            revision,
        },
        Located::Model(model_key) => KvEntry {
            key: model_key.resource_key(),
            value: model_value(&model_key, kv),
            revision,
        },
    })
}

/// The v3 JSON of a stored model value (or why there is none).
fn model_value(model_key: &ModelKey, kv: &KeyValue) -> String {
    ipam_layout::decode(model_key, kv.value(), kv.create_revision())
        .unwrap_or_else(|reason| crate::kv::undecodable_value(&reason))
}

/// The end of the key range holding every key that starts with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    // Only for a prefix of 0xff bytes: the range then runs to the end of the key space.
    vec![0]
}

/// The [`KvBackend`] of [`EtcdDatastore`]: one etcd v3 client (one HTTP/2 connection per
/// endpoint, shared by every request and watch).
pub struct EtcdBackend {
    client: Client,
    kv: KvClient,
    watch: WatchClient,
    options: EtcdOptions,
    /// The endpoints, for error messages.
    endpoints: Arc<str>,
}

impl EtcdBackend {
    /// Connects with Calico's timeouts; see [`connect`].
    pub async fn connect(config: &EtcdConfig) -> Result<Self> {
        Self::connect_with(config, EtcdOptions::default()).await
    }

    /// Connects with the given tunables; see [`connect`].
    pub async fn connect_with(config: &EtcdConfig, options: EtcdOptions) -> Result<Self> {
        let (endpoints, tls) = endpoints_and_tls(config)?;
        let label: Arc<str> = endpoints.join(",").into();
        let uses_tls = tls.is_some();
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(options.dial_timeout)
            .with_keep_alive(options.keepalive_interval, options.keepalive_timeout)
            .with_require_leader(true);
        if let Some(tls) = tls {
            connect = connect.with_tls(tls.timeout(options.dial_timeout));
        }
        match (&config.username, &config.password) {
            (Some(user), password) => {
                connect = connect
                    .with_user(user.clone(), password.clone().unwrap_or_default())
                    .with_auto_token_refresh(true);
            }
            (None, Some(_)) => {
                return Err(Error::config(
                    "ETCD_PASSWORD",
                    "a password is set but no user name (ETCD_USERNAME)",
                ));
            }
            (None, None) => {}
        }
        tracing::info!(
            endpoints = %label,
            tls = uses_tls,
            authenticated = config.username.is_some(),
            "connecting to etcd"
        );
        let client = match tokio::time::timeout(
            options.request_timeout,
            Client::connect(&endpoints, Some(connect)),
        )
        .await
        {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(connect_error(&label, e)),
            Err(_) => {
                return Err(Error::unavailable(format!(
                    "etcd at {label}: no answer to authentication within {:?}",
                    options.request_timeout
                )));
            }
        };
        let kv = client
            .kv_client()
            .max_decoding_message_size(MAX_RESPONSE_BYTES);
        let watch = client
            .watch_client()
            .max_decoding_message_size(MAX_RESPONSE_BYTES);
        Ok(EtcdBackend {
            client,
            kv,
            watch,
            options,
            endpoints: label,
        })
    }

    /// The underlying etcd client, for keys no kind maps to (e.g. Felix's
    /// `/calico/felix/v1/…`, IPAM's legacy host directories `/calico/ipam/v2/host/<node>`).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The endpoints this backend talks to, comma-separated.
    pub fn endpoints(&self) -> &str {
        &self.endpoints
    }

    /// Runs one request under the request deadline.
    async fn run<T>(
        &self,
        request: impl Future<Output = std::result::Result<T, etcd_client::Error>>,
    ) -> std::result::Result<T, Failure> {
        match tokio::time::timeout(self.options.request_timeout, request).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Failure::Etcd(e)),
            Err(_) => Err(Failure::Timeout(self.options.request_timeout)),
        }
    }

    /// Turns a failed request into this crate's error.
    fn error(&self, op: &str, key: Option<&ResourceKey>, failure: Failure) -> Error {
        let target = key.map(|k| format!(" {k}")).unwrap_or_default();
        let e = match failure {
            Failure::Timeout(t) => {
                return Error::unavailable(format!(
                    "etcd at {}: no answer to {op}{target} within {t:?} (the outcome of a write is unknown)",
                    self.endpoints
                ));
            }
            Failure::Etcd(e) => e,
        };
        let detail = describe(&e);
        if let etcd_client::Error::GRpcStatus(status) = &e {
            let code = status.code() as i32;
            if is_auth_failure(code, status.message()) {
                return Error::config(
                    "etcd credentials",
                    format!("etcd at {} refused {op}{target}: {detail}", self.endpoints),
                );
            }
            if let Some(key) = key.filter(|_| {
                code == grpc_code::INVALID_ARGUMENT && detail.contains("request is too large")
            }) {
                return Error::invalid(key, "", format!("etcd refused the value: {detail}"));
            }
        }
        Error::unavailable(format!(
            "etcd at {}: {op}{target}: {detail}",
            self.endpoints
        ))
    }

    async fn txn(&self, op: &str, key: &ResourceKey, txn: Txn) -> Result<TxnResponse> {
        let mut kv = self.kv.clone();
        self.run(kv.txn(txn))
            .await
            .map_err(|f| self.error(op, Some(key), f))
    }

    /// Finds where a resource of an IPAM-layout kind is stored, with its key-value if it
    /// exists. A block, handle or configuration name gives one key. An affinity name does
    /// not (node names contain `-`): every candidate key is read in one transaction and the
    /// first that exists wins (the longest node name, host before virtual).
    async fn find_model(&self, key: &ResourceKey) -> Result<Option<(ModelKey, KeyValue)>> {
        let mut candidates = ipam_layout::candidates(key);
        // etcd's default limit of operations per transaction; no real name comes close.
        candidates.truncate(MAX_TXN_OPS);
        let found: Vec<Option<KeyValue>> = match candidates.as_slice() {
            [] => return Ok(None),
            [only] => {
                let path = only.path();
                let mut kv = self.kv.clone();
                let mut resp = self
                    .run(kv.get(path.as_str(), None))
                    .await
                    .map_err(|f| self.error("get", Some(key), f))?;
                vec![resp.take_kvs().into_iter().next()]
            }
            many => {
                let ops: Vec<TxnOp> = many.iter().map(|c| TxnOp::get(c.path(), None)).collect();
                let resp = self.txn("get", key, Txn::new().and_then(ops)).await?;
                resp.op_responses()
                    .into_iter()
                    .map(|op| match op {
                        TxnOpResponse::Get(mut get) => get.take_kvs().into_iter().next(),
                        _ => None,
                    })
                    .collect()
            }
        };
        let mut existing = candidates
            .into_iter()
            .zip(found)
            .filter_map(|(c, kv)| kv.map(|kv| (c, kv)));
        let first = existing.next();
        if let Some((chosen, _)) = &first {
            let others: Vec<String> = existing.map(|(c, _)| c.path()).collect();
            if !others.is_empty() {
                tracing::warn!(
                    name = %key.name,
                    chosen = %chosen.path(),
                    ?others,
                    "several etcd keys hold a {} of this name; using the first",
                    key.kind
                );
            }
        }
        Ok(first)
    }

    /// The current store revision.
    async fn current_revision(&self) -> Result<i64> {
        let mut kv = self.kv.clone();
        let resp = self
            .run(kv.get(RESOURCE_PREFIX, Some(GetOptions::new().with_count_only())))
            .await
            .map_err(|f| self.error("read the current revision", None, f))?;
        header_revision(resp.header(), RESOURCE_PREFIX)
    }
}

/// Why a request failed: etcd (or the connection) said so, or it did not answer in time.
enum Failure {
    Etcd(etcd_client::Error),
    Timeout(Duration),
}

impl Failure {
    fn message_contains(&self, text: &str) -> bool {
        matches!(self, Failure::Etcd(etcd_client::Error::GRpcStatus(s)) if s.message().contains(text))
    }

    /// The requested revision has been compacted away.
    fn is_compacted(&self) -> bool {
        self.message_contains(COMPACTED)
    }
}

/// What etcd says when a revision is older than its history.
const COMPACTED: &str = "required revision has been compacted";
/// What etcd says when a revision is newer than the store.
const FUTURE_REVISION: &str = "required revision is a future revision";

/// gRPC status codes (fixed by the gRPC specification) that change how a failure maps.
mod grpc_code {
    pub(super) const INVALID_ARGUMENT: i32 = 3;
    pub(super) const PERMISSION_DENIED: i32 = 7;
    pub(super) const UNAUTHENTICATED: i32 = 16;
}

/// One line describing an etcd-client error with its causes (the TLS or socket error behind
/// a transport failure is what tells an operator what to fix).
fn describe(e: &etcd_client::Error) -> String {
    use std::error::Error as _;
    let (first, mut source): (String, Option<&dyn std::error::Error>) = match e {
        etcd_client::Error::GRpcStatus(s) => {
            let message = if s.message().is_empty() {
                format!("{:?}", s.code())
            } else {
                s.message().to_owned()
            };
            (message, s.source())
        }
        etcd_client::Error::TransportError(t) => (t.to_string(), t.source()),
        etcd_client::Error::IoError(io) => (io.to_string(), io.source()),
        other => (other.to_string(), None),
    };
    let mut parts = vec![first];
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    // Drop the generic wrappers when something more telling follows, and repeats.
    if parts.len() > 1 {
        parts.retain(|p| p != "transport error" && p != "connection error");
    }
    let mut out = String::new();
    for part in parts {
        if !out.contains(&part) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&part);
        }
    }
    let lower = out.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("handshake") || lower.contains("alert") {
        out.push_str(
            " (TLS failed: check ETCD_CA_CERT_FILE, ETCD_CERT_FILE and ETCD_KEY_FILE against the etcd server's certificates)",
        );
    }
    out
}

/// True if etcd refused the credentials (or their lack). etcd reports some of these as
/// invalid arguments, so the message is checked too.
fn is_auth_failure(code: i32, message: &str) -> bool {
    const MESSAGES: &[&str] = &[
        "authentication failed",
        "user name is empty",
        "user name not found",
        "permission denied",
    ];
    matches!(
        code,
        grpc_code::UNAUTHENTICATED | grpc_code::PERMISSION_DENIED
    ) || MESSAGES.iter().any(|m| message.contains(m))
}

/// Maps a failure of [`Client::connect`].
fn connect_error(endpoints: &str, e: etcd_client::Error) -> Error {
    let detail = describe(&e);
    match e {
        etcd_client::Error::InvalidArgs(_)
        | etcd_client::Error::InvalidUri(_)
        | etcd_client::Error::EndpointError(_) => Error::config("ETCD_ENDPOINTS", detail),
        etcd_client::Error::TransportError(_) => Error::config(
            "ETCD_CA_CERT_FILE/ETCD_CERT_FILE/ETCD_KEY_FILE",
            format!("cannot set up TLS for {endpoints}: {detail}"),
        ),
        etcd_client::Error::GRpcStatus(s) if is_auth_failure(s.code() as i32, s.message()) => {
            Error::config(
                "ETCD_USERNAME/ETCD_PASSWORD",
                format!("etcd at {endpoints} refused the credentials: {detail}"),
            )
        }
        _ => Error::unavailable(format!("etcd at {endpoints}: {detail}")),
    }
}

/// Normalises the endpoints (adding the scheme where missing) and builds the TLS settings.
fn endpoints_and_tls(config: &EtcdConfig) -> Result<(Vec<String>, Option<TlsOptions>)> {
    let tls_files =
        config.ca_cert_file.is_some() || config.cert_file.is_some() || config.key_file.is_some();
    let mut endpoints = Vec::new();
    for raw in &config.endpoints {
        let e = raw.trim().trim_end_matches('/');
        if e.is_empty() {
            continue;
        }
        let e = if e.starts_with("http://") || e.starts_with("https://") {
            e.to_owned()
        } else if e.contains("://") {
            return Err(Error::config(
                "ETCD_ENDPOINTS",
                format!("{e:?}: only http:// and https:// endpoints are supported"),
            ));
        } else if tls_files {
            format!("https://{e}")
        } else {
            format!("http://{e}")
        };
        endpoints.push(e);
    }
    if endpoints.is_empty() {
        return Err(Error::config(
            "ETCD_ENDPOINTS",
            "no etcd endpoint is configured",
        ));
    }
    let https = endpoints
        .iter()
        .filter(|e| e.starts_with("https://"))
        .count();
    if https != 0 && https != endpoints.len() {
        return Err(Error::config(
            "ETCD_ENDPOINTS",
            "mixes http:// and https:// endpoints; use one scheme",
        ));
    }
    if https == 0 {
        if tls_files {
            return Err(Error::config(
                "ETCD_ENDPOINTS",
                "TLS certificate files are configured but the endpoints use http://; use https://",
            ));
        }
        return Ok((endpoints, None));
    }
    let Some(ca_file) = &config.ca_cert_file else {
        return Err(Error::config(
            "ETCD_CA_CERT_FILE",
            "https:// endpoints need the CA certificate that signed etcd's server certificate",
        ));
    };
    let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(read_pem(
        "ETCD_CA_CERT_FILE",
        ca_file,
    )?));
    match (&config.cert_file, &config.key_file) {
        (Some(cert), Some(key)) => {
            tls = tls.identity(Identity::from_pem(
                read_pem("ETCD_CERT_FILE", cert)?,
                read_pem("ETCD_KEY_FILE", key)?,
            ));
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(Error::config(
                "ETCD_KEY_FILE",
                "a client certificate is configured without its key",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::config(
                "ETCD_CERT_FILE",
                "a client key is configured without its certificate",
            ));
        }
    }
    Ok((endpoints, Some(tls)))
}

/// Reads a PEM file named by configuration `field`.
fn read_pem(field: &str, path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::config(field, format!("cannot read {}: {e}", path.display())))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(Error::config(
            field,
            format!("{} is not a PEM file", path.display()),
        ));
    }
    Ok(bytes)
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>, location: &str) -> Result<i64> {
    header.map(|h| h.revision()).ok_or_else(|| Error::Corrupt {
        location: location.to_owned(),
        reason: "etcd sent a response without a header".into(),
    })
}

fn to_u64(revision: i64, location: &str) -> Result<u64> {
    u64::try_from(revision).map_err(|_| Error::Corrupt {
        location: location.to_owned(),
        reason: format!("etcd sent the negative revision {revision}"),
    })
}

fn to_i64(revision: u64) -> i64 {
    // Revisions we hand out come from etcd and fit; a caller's larger one can match nothing.
    i64::try_from(revision).unwrap_or(i64::MAX)
}

/// The value as text; a non-UTF-8 value keeps its shape so that decoding reports it.
fn value_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The key a write goes to and the value stored there; a resource that cannot have one is
/// invalid. Kinds of the IPAM layout are translated into Calico's model values.
fn write_target(key: &ResourceKey, value: String) -> Result<(String, String)> {
    if EtcdLayout::of(key.kind) != EtcdLayout::Resource {
        let (model_key, value) = ipam_layout::write_target(key, &value)?;
        return Ok((model_key.path(), value));
    }
    let path = resource_path(key).ok_or_else(|| {
        Error::invalid(
            key,
            "metadata.name",
            "the name and namespace must be non-empty and free of '/' to form an etcd key",
        )
    })?;
    Ok((path, value))
}

/// The first key-value of the Get in a transaction's else branch.
fn else_get(resp: &TxnResponse) -> Option<KeyValue> {
    resp.op_responses().into_iter().find_map(|op| match op {
        TxnOpResponse::Get(mut get) => get.take_kvs().into_iter().next(),
        _ => None,
    })
}

#[async_trait]
impl KvBackend for EtcdBackend {
    fn name(&self) -> &'static str {
        "etcdv3"
    }

    async fn get(&self, key: &ResourceKey) -> Result<Option<KvEntry>> {
        if EtcdLayout::of(key.kind) != EtcdLayout::Resource {
            return match self.find_model(key).await? {
                None => Ok(None),
                Some((model_key, found)) => {
                    let path = model_key.path();
                    entry_of(Located::Model(model_key), &found, &path).map(Some)
                }
            };
        }
        let Some(path) = resource_path(key) else {
            return Ok(None);
        };
        let mut kv = self.kv.clone();
        let mut resp = self
            .run(kv.get(path.as_str(), None))
            .await
            .map_err(|f| self.error("get", Some(key), f))?;
        match resp.take_kvs().into_iter().next() {
            None => Ok(None),
            Some(found) => Ok(Some(KvEntry {
                key: key.clone(),
                value: value_text(found.value()),
                revision: to_u64(found.mod_revision(), &path)?,
            })),
        }
    }

    async fn list(&self, kind: Kind, namespace: Option<&str>) -> Result<(Vec<KvEntry>, u64)> {
        let (prefix, end) = kind_range(kind, namespace);
        let mut page = i64::try_from(self.options.list_page_size.max(1)).unwrap_or(i64::MAX);
        let mut restarts = 0;
        let mut entries = Vec::new();
        let mut revision: Option<i64> = None;
        let mut start = prefix.clone().into_bytes();
        loop {
            let mut options = GetOptions::new().with_range(end.clone()).with_limit(page);
            if let Some(rev) = revision {
                // Every page at the first page's revision: one consistent snapshot.
                options = options.with_revision(rev);
            }
            let mut kv = self.kv.clone();
            let mut resp = match self.run(kv.get(start.clone(), Some(options))).await {
                Ok(resp) => resp,
                Err(f) if f.is_compacted() && revision.is_some() && restarts < LIST_RESTARTS => {
                    // The snapshot was compacted between pages: start over at a newer one.
                    restarts += 1;
                    tracing::debug!(prefix = %prefix, "list revision compacted between pages; relisting");
                    entries.clear();
                    revision = None;
                    start = prefix.clone().into_bytes();
                    continue;
                }
                Err(f) if f.message_contains("message length too large") && page > 1 => {
                    page = (page / 2).max(1);
                    tracing::debug!(prefix = %prefix, page, "list page too large; reading smaller pages");
                    continue;
                }
                Err(f) => return Err(self.error("list", None, f)),
            };
            let rev = *revision.get_or_insert(header_revision(resp.header(), &prefix)?);
            let more = resp.more();
            let kvs = resp.take_kvs();
            let Some(last) = kvs.last().map(|kv| kv.key().to_vec()) else {
                break;
            };
            for found in kvs {
                let path = String::from_utf8_lossy(found.key());
                match parse_path(kind, &path) {
                    Some(located) => entries.push(entry_of(located, &found, &path)?),
                    None => tracing::debug!(key = %path, "ignoring a key that is not a {kind} key"),
                }
            }
            if !more {
                return Ok((entries, to_u64(rev, &prefix)?));
            }
            start = last;
            start.push(0);
        }
        let rev = match revision {
            Some(rev) => rev,
            None => self.current_revision().await?,
        };
        Ok((entries, to_u64(rev, &prefix)?))
    }

    async fn create(&self, key: &ResourceKey, value: String) -> Result<u64> {
        let (path, value) = write_target(key, value)?;
        let txn = Txn::new()
            .when([Compare::version(path.as_str(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(path.as_str(), value, None)])
            .or_else([TxnOp::get(path.as_str(), None)]);
        let resp = self.txn("create", key, txn).await?;
        if !resp.succeeded() {
            return Err(Error::AlreadyExists { key: key.clone() });
        }
        to_u64(header_revision(resp.header(), &path)?, &path)
    }

    async fn update(&self, key: &ResourceKey, value: String, expected: u64) -> Result<u64> {
        let (path, value) = write_target(key, value)?;
        let txn = Txn::new()
            .when([Compare::mod_revision(
                path.as_str(),
                CompareOp::Equal,
                to_i64(expected),
            )])
            .and_then([TxnOp::put(path.as_str(), value, None)])
            .or_else([TxnOp::get(path.as_str(), None)]);
        let resp = self.txn("update", key, txn).await?;
        if resp.succeeded() {
            return to_u64(header_revision(resp.header(), &path)?, &path);
        }
        match else_get(&resp) {
            None => Err(Error::NotFound { key: key.clone() }),
            Some(current) => Err(Error::Conflict {
                key: key.clone(),
                expected: expected.to_string(),
                current: current.mod_revision().to_string(),
            }),
        }
    }

    async fn delete(&self, key: &ResourceKey, expected: Option<u64>) -> Result<KvEntry> {
        let (path, model_key) = if EtcdLayout::of(key.kind) == EtcdLayout::Resource {
            let Some(path) = resource_path(key) else {
                return Err(Error::NotFound { key: key.clone() });
            };
            (path, None)
        } else {
            // One candidate key: delete it directly; an ambiguous affinity name: find the
            // key first (the delete below is still conditional on what it finds, if asked).
            let model_key = match ipam_layout::candidates(key).as_slice() {
                [only] => only.clone(),
                [] => return Err(Error::NotFound { key: key.clone() }),
                _ => match self.find_model(key).await? {
                    Some((model_key, _)) => model_key,
                    None => return Err(Error::NotFound { key: key.clone() }),
                },
            };
            (model_key.path(), Some(model_key))
        };
        let mut txn = Txn::new();
        if let Some(rev) = expected {
            txn = txn.when([Compare::mod_revision(
                path.as_str(),
                CompareOp::Equal,
                to_i64(rev),
            )]);
        }
        let txn = txn
            .and_then([TxnOp::delete(
                path.as_str(),
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(path.as_str(), None)]);
        let resp = self.txn("delete", key, txn).await?;
        if !resp.succeeded() {
            return match (else_get(&resp), expected) {
                (Some(current), Some(rev)) => Err(Error::Conflict {
                    key: key.clone(),
                    expected: rev.to_string(),
                    current: current.mod_revision().to_string(),
                }),
                _ => Err(Error::NotFound { key: key.clone() }),
            };
        }
        let previous = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Delete(mut d) => d.take_prev_kvs().into_iter().next(),
            _ => None,
        });
        match (previous, model_key) {
            (None, _) => Err(Error::NotFound { key: key.clone() }),
            (Some(prev), None) => Ok(KvEntry {
                key: key.clone(),
                value: value_text(prev.value()),
                revision: to_u64(prev.mod_revision(), &path)?,
            }),
            (Some(prev), Some(model_key)) => entry_of(Located::Model(model_key), &prev, &path),
        }
    }

    async fn watch(&self, kind: Kind, from: Option<u64>) -> Result<KvWatch> {
        let (prefix, end) = kind_range(kind, None);
        let mut options = WatchOptions::new().with_range(end).with_prev_key();
        if let Some(from) = from {
            options = options.with_start_revision(to_i64(from).saturating_add(1));
        }
        let op = format!("watch {kind}");
        let mut client = self.watch.clone();
        let mut stream = self
            .run(client.watch(prefix.as_str(), Some(options)))
            .await
            .map_err(|f| self.error(&op, None, f))?;
        // Wait until etcd has registered the watch, so that every write after this call
        // returns is seen (with `from = None` etcd starts at its revision at registration).
        let requested = loop {
            let resp = self
                .run(stream.message())
                .await
                .map_err(|f| self.error(&op, None, f))?;
            let Some(resp) = resp else {
                return Err(Error::unavailable(format!(
                    "etcd at {}: the watch of {kind} closed before it started",
                    self.endpoints
                )));
            };
            if let Some(e) = watch_ended(&resp, from, &self.endpoints) {
                return Err(e);
            }
            if resp.created() {
                let at = header_revision(resp.header(), &prefix)?;
                break from.unwrap_or_else(|| u64::try_from(at).unwrap_or(0));
            }
        };
        let cursor = WatchCursor {
            stream,
            kind,
            requested,
            pending: VecDeque::new(),
            finished: false,
            endpoints: self.endpoints.clone(),
        };
        Ok(futures::stream::unfold(cursor, WatchCursor::next).boxed())
    }

    async fn compact(&self, revision: u64) -> Result<()> {
        if revision == 0 {
            return Ok(());
        }
        let mut target = to_i64(revision);
        for _ in 0..2 {
            let mut kv = self.kv.clone();
            match self
                .run(kv.compact(target, Some(CompactionOptions::new().with_physical())))
                .await
            {
                Ok(_) => return Ok(()),
                // Already compacted at or beyond it: nothing left to do.
                Err(f) if f.is_compacted() => return Ok(()),
                // Beyond the store's revision: compact everything there is, as far as now.
                Err(f) if f.message_contains(FUTURE_REVISION) => {
                    target = self.current_revision().await?;
                }
                Err(f) => return Err(self.error("compact", None, f)),
            }
        }
        Ok(())
    }
}

/// The error that ends a watch, if this response ends it.
fn watch_ended(resp: &WatchResponse, from: Option<u64>, endpoints: &str) -> Option<Error> {
    if resp.compact_revision() > 0 {
        return Some(Error::RevisionTooOld {
            requested: from.unwrap_or(0).to_string(),
            oldest: resp.compact_revision().to_string(),
        });
    }
    if resp.canceled() {
        let reason = match resp.cancel_reason() {
            "" => "no reason given",
            r => r,
        };
        return Some(Error::unavailable(format!(
            "etcd at {endpoints} cancelled the watch: {reason}"
        )));
    }
    None
}

/// A watch's state between stream items.
struct WatchCursor {
    stream: WatchStream,
    kind: Kind,
    /// The revision the watch resumed after, for [`Error::RevisionTooOld`].
    requested: u64,
    pending: VecDeque<KvEvent>,
    finished: bool,
    endpoints: Arc<str>,
}

impl WatchCursor {
    async fn next(mut self) -> Option<(Result<KvEvent>, WatchCursor)> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some((Ok(ev), self));
            }
            if self.finished {
                return None;
            }
            // No deadline here: a watch may be quiet for hours. A dead peer is detected by
            // the HTTP/2 keep-alive, which fails the stream.
            let error = match self.stream.message().await {
                Ok(Some(resp)) => match watch_ended(&resp, Some(self.requested), &self.endpoints) {
                    Some(e) => e,
                    None => {
                        for ev in resp.events() {
                            if let Some(ev) = self.convert(ev) {
                                self.requested = ev.revision;
                                self.pending.push_back(ev);
                            }
                        }
                        continue;
                    }
                },
                Ok(None) => Error::unavailable(format!(
                    "etcd at {} closed the watch of {}",
                    self.endpoints, self.kind
                )),
                Err(e) => Error::unavailable(format!(
                    "etcd at {}: the watch of {} broke: {}",
                    self.endpoints,
                    self.kind,
                    describe(&e)
                )),
            };
            tracing::debug!(kind = %self.kind, error = %error, "etcd watch ended");
            self.finished = true;
            return Some((Err(error), self));
        }
    }

    fn convert(&self, ev: &Event) -> Option<KvEvent> {
        let kv = ev.kv()?;
        let path = String::from_utf8_lossy(kv.key());
        let Some(located) = parse_path(self.kind, &path) else {
            tracing::debug!(key = %path, "ignoring a change to a key that is not a {} key", self.kind);
            return None;
        };
        let revision = u64::try_from(kv.mod_revision()).ok()?;
        let (key, model_key) = match located {
            Located::Resource(key) => (key, None),
            Located::Model(model_key) => (model_key.resource_key(), Some(model_key)),
        };
        // The value as the store decodes it: IPAM model values become v3 objects.
        let text = |kv: &KeyValue| match &model_key {
            None => value_text(kv.value()),
            Some(model_key) => model_value(model_key, kv),
        };
        let (op, value) = match ev.event_type() {
            EventType::Put if kv.version() == 1 => (KvOp::Create, Some(text(kv))),
            EventType::Put => (KvOp::Update, Some(text(kv))),
            EventType::Delete => (KvOp::Delete, ev.prev_kv().map(text)),
        };
        Some(KvEvent {
            key,
            revision,
            op,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_calicos_layout() {
        let gnp = ResourceKey::new(Kind::GlobalNetworkPolicy, "", "allow-dns");
        assert_eq!(
            resource_path(&gnp).unwrap(),
            "/calico/resources/v3/projectcalico.org/globalnetworkpolicies/allow-dns"
        );
        let np = ResourceKey::new(Kind::NetworkPolicy, "prod", "db");
        assert_eq!(
            resource_path(&np).unwrap(),
            "/calico/resources/v3/projectcalico.org/networkpolicies/prod/db"
        );
        for key in [gnp, np] {
            assert_eq!(
                parse_resource_path(&resource_path(&key).unwrap()),
                Some(key)
            );
        }
    }

    #[test]
    fn every_kind_round_trips() {
        for &kind in Kind::ALL {
            if EtcdLayout::of(kind) != EtcdLayout::Resource {
                let key = ResourceKey::new(kind, "", "n");
                assert_eq!(resource_path(&key), None, "{kind} has no v3 key");
                continue;
            }
            let key = ResourceKey::new(kind, if kind.namespaced() { "ns" } else { "" }, "n");
            let path = resource_path(&key).unwrap();
            assert!(path.starts_with(&kind_prefix(kind, None)), "{path}");
            assert_eq!(parse_resource_path(&path), Some(key), "{path}");
        }
    }

    #[test]
    fn foreign_keys_do_not_parse() {
        for path in [
            "/calico/resources/v3/projectcalico.org/unknownthings/x",
            "/calico/resources/v3/projectcalico.org/globalnetworkpolicies/ns/x",
            "/calico/resources/v3/projectcalico.org/networkpolicies/x",
            "/calico/resources/v3/projectcalico.org/networkpolicies/ns/",
            "/calico/resources/v3/projectcalico.org/networkpolicies//x",
            "/calico/resources/v3/projectcalico.org/tiers/",
            "/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26",
            "/calico/v1/config/LogSeverityScreen",
        ] {
            assert_eq!(parse_resource_path(path), None, "{path}");
        }
    }

    #[test]
    fn unstorable_names_have_no_path() {
        assert_eq!(
            resource_path(&ResourceKey::new(Kind::Tier, "", "a/b")),
            None
        );
        assert_eq!(resource_path(&ResourceKey::new(Kind::Tier, "", "")), None);
        assert_eq!(
            resource_path(&ResourceKey::new(Kind::NetworkSet, "", "x")),
            None
        );
    }

    #[test]
    fn prefixes_do_not_overlap() {
        assert_eq!(
            kind_prefix(Kind::NetworkSet, Some("a")),
            "/calico/resources/v3/projectcalico.org/networksets/a/"
        );
        // The namespace is ignored for cluster-scoped kinds.
        assert_eq!(
            kind_prefix(Kind::GlobalNetworkSet, Some("a")),
            "/calico/resources/v3/projectcalico.org/globalnetworksets/"
        );
        assert_eq!(prefix_end("/a/"), b"/a0".to_vec());
    }

    fn config(endpoints: &[&str]) -> EtcdConfig {
        EtcdConfig {
            endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
            ..EtcdConfig::default()
        }
    }

    #[test]
    fn endpoint_settings_are_checked() {
        let (eps, tls) = endpoints_and_tls(&config(&["127.0.0.1:2379", " http://h:1/ "])).unwrap();
        assert_eq!(eps, ["http://127.0.0.1:2379", "http://h:1"]);
        assert!(tls.is_none());
        let field = |c: &EtcdConfig| match endpoints_and_tls(c) {
            Err(Error::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(&config(&[])), "ETCD_ENDPOINTS");
        assert_eq!(field(&config(&["unix:///x"])), "ETCD_ENDPOINTS");
        assert_eq!(field(&config(&["http://a", "https://b"])), "ETCD_ENDPOINTS");
        assert_eq!(field(&config(&["https://a"])), "ETCD_CA_CERT_FILE");
        let mut missing = config(&["https://a"]);
        missing.ca_cert_file = Some("/nonexistent/ca.pem".into());
        assert_eq!(field(&missing), "ETCD_CA_CERT_FILE");
        let mut plain = config(&["http://a"]);
        plain.ca_cert_file = Some("/nonexistent/ca.pem".into());
        assert_eq!(field(&plain), "ETCD_ENDPOINTS");
    }
}
