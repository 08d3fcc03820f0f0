//! Key-value backends and [`KvStore`], the [`Datastore`] built on any of them.
//!
//! Calico's etcd layout stores each resource as the JSON of the whole v3 object (without
//! `resourceVersion`) under one key, and uses the key's modification revision as the
//! resource's `resourceVersion`. Every store here that owns its storage works that way: a
//! [`KvBackend`] only moves JSON strings with revisions and compare-and-swap, and
//! [`KvStore`] adds everything resource-shaped (validation, metadata, decoding, the built-in
//! `projectcalico-default-allow` profile) once for all of them.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use calico_model::DEFAULT_ALLOW_PROFILE;
use calico_model::sync::ResourceKey;
use calico_model::{Kind, ObjectMeta, Profile, ProfileSpec, Resource, Rule};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::api::{Datastore, ListResult, Undecodable, WatchEvent, WatchEventType, WatchStream};
use crate::error::{Error, Result};

/// One stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvEntry {
    /// The resource it belongs to.
    pub key: ResourceKey,
    /// The JSON of the whole object, without `metadata.resourceVersion`.
    pub value: String,
    /// The revision of its last modification.
    pub revision: u64,
}

/// What a [`KvEvent`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// The key was created.
    Create,
    /// The key was overwritten.
    Update,
    /// The key was deleted.
    Delete,
}

/// One change in a [`KvBackend`]'s history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvEvent {
    /// Which resource.
    pub key: ResourceKey,
    /// The revision of the change.
    pub revision: u64,
    /// What happened.
    pub op: KvOp,
    /// The new value, or for a delete the value before it (if the backend kept it).
    pub value: Option<String>,
}

/// A stream of [`KvEvent`]s; see [`KvBackend::watch`].
pub type KvWatch = BoxStream<'static, Result<KvEvent>>;

/// Revisioned key-value storage with compare-and-swap and ordered watches: what a backend
/// must provide for [`KvStore`] to make a full [`Datastore`] of it.
///
/// Revisions are one counter per store, increased by every write (as etcd's). Errors use
/// [`Error::NotFound`], [`Error::AlreadyExists`], [`Error::Conflict`] (with the current
/// revision), [`Error::Unavailable`] and [`Error::RevisionTooOld`].
#[async_trait]
pub trait KvBackend: Send + Sync + 'static {
    /// The backend's name, e.g. `memory`.
    fn name(&self) -> &'static str;
    /// Reads one value.
    async fn get(&self, key: &ResourceKey) -> Result<Option<KvEntry>>;
    /// Reads every value of a kind (optionally of one namespace), ordered by key, and the
    /// store revision they were read at (one consistent snapshot).
    async fn list(&self, kind: Kind, namespace: Option<&str>) -> Result<(Vec<KvEntry>, u64)>;
    /// Writes a new key; [`Error::AlreadyExists`] if present. Returns the write's revision.
    async fn create(&self, key: &ResourceKey, value: String) -> Result<u64>;
    /// Overwrites a key if its revision is still `expected`. [`Error::NotFound`] if absent,
    /// [`Error::Conflict`] if changed. Returns the write's revision.
    async fn update(&self, key: &ResourceKey, value: String, expected: u64) -> Result<u64>;
    /// Deletes a key, if `expected` is given only at that revision. Returns the last value.
    async fn delete(&self, key: &ResourceKey, expected: Option<u64>) -> Result<KvEntry>;
    /// Streams every change to keys of `kind` with a revision greater than `from` (`None`:
    /// from the current revision on), in revision order.
    async fn watch(&self, kind: Kind, from: Option<u64>) -> Result<KvWatch>;
    /// Forgets history up to and including `revision`.
    async fn compact(&self, revision: u64) -> Result<()>;
}

/// What [`KvStore`] remembers of a stored object to compute the metadata of the next write
/// without reading it again: a write at revision `revision` can only replace exactly this.
#[derive(Clone, Debug)]
struct Summary {
    revision: u64,
    uid: String,
    creation_timestamp: Option<String>,
    generation: i64,
    body_hash: u64,
}

/// Remembered summaries are dropped wholesale beyond this many (they are only a shortcut).
const SUMMARY_CACHE_LIMIT: usize = 100_000;

/// A [`Datastore`] over a [`KvBackend`]: validates and defaults writes, manages metadata,
/// encodes resources as Calico's JSON, and serves the built-in default-allow profile.
pub struct KvStore<B> {
    backend: B,
    summaries: Mutex<HashMap<ResourceKey, Summary>>,
}

impl<B: KvBackend> KvStore<B> {
    /// Wraps a backend.
    pub fn with_backend(backend: B) -> Self {
        KvStore {
            backend,
            summaries: Mutex::new(HashMap::new()),
        }
    }

    /// The backend, for backend-specific operations.
    pub fn backend_ref(&self) -> &B {
        &self.backend
    }

    fn remember(&self, key: &ResourceKey, resource: &Resource, revision: u64) -> Summary {
        self.remember_hashed(key, resource, revision, body_hash(resource))
    }

    /// [`KvStore::remember`] with the body hash already computed.
    fn remember_hashed(
        &self,
        key: &ResourceKey,
        resource: &Resource,
        revision: u64,
        body_hash: u64,
    ) -> Summary {
        let summary = Summary {
            revision,
            uid: resource.metadata().uid.clone(),
            creation_timestamp: resource.metadata().creation_timestamp.clone(),
            generation: resource.metadata().generation,
            body_hash,
        };
        let mut cache = lock(&self.summaries);
        if cache.len() >= SUMMARY_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key.clone(), summary.clone());
        summary
    }

    fn forget(&self, key: &ResourceKey) {
        lock(&self.summaries).remove(key);
    }

    fn recall(&self, key: &ResourceKey, revision: u64) -> Option<Summary> {
        lock(&self.summaries)
            .get(key)
            .filter(|s| s.revision == revision)
            .cloned()
    }

    /// The summary of the stored object: from the cache when `expected` names the revision
    /// we last saw, otherwise read from the backend.
    async fn current(&self, key: &ResourceKey, expected: Option<u64>) -> Result<Summary> {
        if let Some(s) = expected.and_then(|rev| self.recall(key, rev)) {
            return Ok(s);
        }
        let entry = self
            .backend
            .get(key)
            .await?
            .ok_or_else(|| Error::NotFound { key: key.clone() })?;
        if let Some(rev) = expected.filter(|rev| *rev != entry.revision) {
            return Err(Error::Conflict {
                key: key.clone(),
                expected: rev.to_string(),
                current: entry.revision.to_string(),
            });
        }
        let resource = decode(&entry).map_err(|reason| Error::Corrupt {
            location: key.to_string(),
            reason,
        })?;
        Ok(self.remember(key, &resource, entry.revision))
    }
}

#[async_trait]
impl<B: KvBackend> Datastore for KvStore<B> {
    fn backend(&self) -> &'static str {
        self.backend.name()
    }

    async fn get(&self, key: &ResourceKey) -> Result<Resource> {
        if is_default_allow(key) {
            return Ok(default_allow_profile());
        }
        let entry = self
            .backend
            .get(key)
            .await?
            .ok_or_else(|| Error::NotFound { key: key.clone() })?;
        let resource = decode(&entry).map_err(|reason| Error::Corrupt {
            location: key.to_string(),
            reason,
        })?;
        self.remember(key, &resource, entry.revision);
        Ok(resource)
    }

    async fn list(&self, kind: Kind, namespace: Option<&str>) -> Result<ListResult> {
        let namespace = namespace.filter(|ns| kind.namespaced() && !ns.is_empty());
        let (entries, revision) = self.backend.list(kind, namespace).await?;
        let mut out = ListResult {
            items: Vec::with_capacity(entries.len() + 1),
            revision: revision.to_string(),
            undecodable: Vec::new(),
        };
        if kind == Kind::Profile {
            out.items.push(default_allow_profile());
        }
        for entry in entries {
            if is_default_allow(&entry.key) {
                continue;
            }
            match decode(&entry) {
                Ok(resource) => out.items.push(resource),
                Err(reason) => out.undecodable.push(Undecodable {
                    key: entry.key,
                    revision: entry.revision.to_string(),
                    reason,
                }),
            }
        }
        out.items
            .sort_by(|a, b| (a.namespace(), a.name()).cmp(&(b.namespace(), b.name())));
        Ok(out)
    }

    async fn create(&self, resource: Resource) -> Result<Resource> {
        let mut resource = prepare_create(resource)?;
        let key = ResourceKey::of(&resource);
        let value = encode_in_place(&mut resource);
        let hash = body_hash_in_place(&mut resource);
        let revision = self.backend.create(&key, value).await?;
        resource.metadata_mut().resource_version = revision.to_string();
        self.remember_hashed(&key, &resource, revision, hash);
        Ok(resource)
    }

    async fn update(&self, resource: Resource) -> Result<Resource> {
        let mut resource = prepare_write(resource)?;
        let key = ResourceKey::of(&resource);
        let expected = match resource.metadata().resource_version.as_str() {
            "" => None,
            rv => Some(parse_revision(&key, "metadata.resourceVersion", rv)?),
        };
        // An unconditional update is a compare-and-swap on whatever is current, retried
        // if another writer gets in between.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let old = self.current(&key, expected).await?;
            let hash = finish_update(&mut resource, &old);
            let value = encode_in_place(&mut resource);
            match self.backend.update(&key, value, old.revision).await {
                Ok(revision) => {
                    resource.metadata_mut().resource_version = revision.to_string();
                    self.remember_hashed(&key, &resource, revision, hash);
                    return Ok(resource);
                }
                Err(e @ (Error::Conflict { .. } | Error::NotFound { .. })) => {
                    self.forget(&key);
                    if expected.is_some() || attempts >= 10 {
                        return Err(match e {
                            Error::Conflict { key, current, .. } => Error::Conflict {
                                key,
                                expected: resource.metadata().resource_version.clone(),
                                current,
                            },
                            e => e,
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn delete(&self, key: &ResourceKey, revision: Option<&str>) -> Result<Resource> {
        if is_default_allow(key) {
            return Err(read_only(key));
        }
        let expected = match revision {
            None | Some("") => None,
            Some(rv) => Some(parse_revision(key, "resourceVersion", rv)?),
        };
        let entry = self.backend.delete(key, expected).await?;
        self.forget(key);
        decode(&entry).map_err(|reason| Error::Corrupt {
            location: key.to_string(),
            reason,
        })
    }

    async fn watch(&self, kind: Kind, from_revision: &str) -> Result<WatchStream> {
        let from = match from_revision {
            "" => None,
            rv => Some(parse_revision(
                &ResourceKey::new(kind, "", ""),
                "revision",
                rv,
            )?),
        };
        let stream = self.backend.watch(kind, from).await?;
        Ok(stream.map(|item| item.map(to_watch_event)).boxed())
    }

    async fn compact(&self, revision: &str) -> Result<()> {
        let rev = parse_revision(&ResourceKey::new(Kind::Tier, "", ""), "revision", revision)?;
        self.backend.compact(rev).await
    }
}

fn to_watch_event(ev: KvEvent) -> WatchEvent {
    let event_type = match ev.op {
        KvOp::Create => WatchEventType::Added,
        KvOp::Update => WatchEventType::Modified,
        KvOp::Delete => WatchEventType::Deleted,
    };
    let (resource, problem) = match ev.value {
        Some(value) => {
            let entry = KvEntry {
                key: ev.key.clone(),
                value,
                revision: ev.revision,
            };
            match decode(&entry) {
                Ok(r) => (Some(r), None),
                Err(reason) => (None, Some(reason)),
            }
        }
        None => (None, None),
    };
    WatchEvent {
        event_type,
        key: ev.key,
        revision: ev.revision.to_string(),
        resource,
        problem,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the map inconsistent (single inserts).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Parses a numeric revision string, naming the field on error.
pub fn parse_revision(key: &ResourceKey, field: &str, rv: &str) -> Result<u64> {
    rv.parse::<u64>().map_err(|_| {
        Error::invalid(
            key,
            field,
            format!("{rv:?} is not a revision of this datastore"),
        )
    })
}

/// Starts a [`KvEntry::value`] that stands for a stored value the backend could not turn
/// into an object (JSON never starts with this control character).
const UNDECODABLE: &str = "\u{1}undecodable:";

/// The [`KvEntry::value`] a backend hands over for a stored value it could not translate
/// into a v3 object (e.g. a malformed value in a backend-specific layout): [`decode`]
/// reports `reason` for it.
pub fn undecodable_value(reason: &str) -> String {
    format!("{UNDECODABLE}{reason}")
}

/// Decodes a stored value and stamps its revision as `resourceVersion`.
pub fn decode(entry: &KvEntry) -> std::result::Result<Resource, String> {
    if let Some(reason) = entry.value.strip_prefix(UNDECODABLE) {
        return Err(reason.to_owned());
    }
    let value: serde_json::Value =
        serde_json::from_str(&entry.value).map_err(|e| format!("not JSON: {e}"))?;
    let mut resource = Resource::from_value(entry.key.kind, &value)
        .map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
    let meta = resource.metadata_mut();
    if meta.name != entry.key.name
        || (entry.key.kind.namespaced() && meta.namespace != entry.key.namespace)
    {
        return Err(format!(
            "stored object is named {:?} in namespace {:?}",
            meta.name, meta.namespace
        ));
    }
    meta.resource_version = entry.revision.to_string();
    Ok(resource)
}

/// The stored form: Calico's JSON of the whole object, without `resourceVersion`.
pub fn encode(resource: &Resource) -> String {
    if resource.metadata().resource_version.is_empty() {
        to_json(resource)
    } else {
        encode_in_place(&mut resource.clone())
    }
}

/// [`encode`] without a copy: takes `resourceVersion` out while serialising.
fn encode_in_place(resource: &mut Resource) -> String {
    let rv = std::mem::take(&mut resource.metadata_mut().resource_version);
    let json = to_json(resource);
    resource.metadata_mut().resource_version = rv;
    json
}

fn to_json(resource: &Resource) -> String {
    // Serialising these types cannot fail: every map key is a string.
    serde_json::to_string(resource).unwrap_or_default()
}

/// Feeds serialised bytes straight into a hasher (no intermediate string).
struct HashWriter(DefaultHasher);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Hash of everything but metadata: a change of it bumps `generation`.
fn body_hash(resource: &Resource) -> u64 {
    body_hash_in_place(&mut resource.clone())
}

/// [`body_hash`] without a copy: takes the metadata out while hashing.
fn body_hash_in_place(resource: &mut Resource) -> u64 {
    let meta = std::mem::take(resource.metadata_mut());
    let mut h = HashWriter(DefaultHasher::new());
    // Cannot fail: the writer never fails and every map key is a string.
    let _ = serde_json::to_writer(&mut h, &*resource);
    *resource.metadata_mut() = meta;
    h.0.finish()
}

fn is_default_allow(key: &ResourceKey) -> bool {
    key.kind == Kind::Profile && key.name == DEFAULT_ALLOW_PROFILE
}

fn read_only(key: &ResourceKey) -> Error {
    Error::invalid(
        key,
        "metadata.name",
        format!("{DEFAULT_ALLOW_PROFILE} is built in and cannot be changed"),
    )
}

/// The built-in profile Calico serves on every datastore (allow everything both ways).
pub fn default_allow_profile() -> Resource {
    let allow = Rule {
        action: calico_model::Action::Allow,
        ..Rule::default()
    };
    Profile::new(
        ObjectMeta {
            resource_version: "0".into(),
            ..ObjectMeta::named(DEFAULT_ALLOW_PROFILE)
        },
        ProfileSpec {
            ingress: vec![allow.clone()],
            egress: vec![allow],
            ..ProfileSpec::default()
        },
    )
    .into()
}

/// Checks shared by create and update: scope, defaults, validation.
fn prepare_write(mut resource: Resource) -> Result<Resource> {
    let kind = resource.kind();
    let key = ResourceKey::of(&resource);
    if is_default_allow(&key) {
        return Err(read_only(&key));
    }
    if kind.namespaced() && resource.namespace().is_empty() {
        return Err(Error::invalid(
            &key,
            "metadata.namespace",
            format!("a {kind} must have a namespace"),
        ));
    }
    if !kind.namespaced() && !resource.namespace().is_empty() {
        return Err(Error::invalid(
            &key,
            "metadata.namespace",
            format!("a {kind} is not namespaced; remove the namespace"),
        ));
    }
    resource.apply_defaults();
    resource.validate().map_err(|errors| Error::Invalid {
        key: key.clone(),
        errors,
    })?;
    Ok(resource)
}

/// Prepares a resource for creation: generated name, checks, and fresh metadata.
fn prepare_create(mut resource: Resource) -> Result<Resource> {
    let meta = resource.metadata_mut();
    if meta.name.is_empty() && !meta.generate_name.is_empty() {
        meta.name = format!("{}{}", meta.generate_name, random_suffix());
    }
    if !resource.metadata().resource_version.is_empty() {
        return Err(Error::invalid(
            &ResourceKey::of(&resource),
            "metadata.resourceVersion",
            "must not be set when creating a resource",
        ));
    }
    let mut resource = prepare_write(resource)?;
    let meta = resource.metadata_mut();
    meta.uid = uuid::Uuid::new_v4().to_string();
    meta.creation_timestamp = Some(now_rfc3339());
    meta.generation = 1;
    meta.deletion_timestamp = None;
    Ok(resource)
}

/// Carries identity over from the stored object and bumps `generation` if anything but
/// metadata changed.
/// Carries the managed metadata over from the stored object; returns the body hash.
fn finish_update(resource: &mut Resource, old: &Summary) -> u64 {
    let hash = body_hash_in_place(resource);
    let changed = hash != old.body_hash;
    let meta = resource.metadata_mut();
    meta.uid = old.uid.clone();
    meta.creation_timestamp = old.creation_timestamp.clone();
    meta.generation = old.generation.max(1) + i64::from(changed);
    hash
}

/// Kubernetes' `generateName` suffix: five characters from its alphabet (no vowels).
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// The current time as Kubernetes writes it (RFC 3339, seconds, UTC).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use calico_model::{GlobalNetworkSet, GlobalNetworkSetSpec};

    fn gns(name: &str) -> Resource {
        GlobalNetworkSet::new(
            ObjectMeta::named(name),
            GlobalNetworkSetSpec {
                nets: vec!["10.0.0.0/8".parse().expect("cidr")],
            },
        )
        .into()
    }

    #[test]
    fn encode_drops_resource_version_and_decode_restores_it() {
        let mut r = gns("a");
        r.metadata_mut().resource_version = "7".into();
        let value = encode(&r);
        assert!(!value.contains("resourceVersion"), "{value}");
        let entry = KvEntry {
            key: ResourceKey::of(&r),
            value,
            revision: 9,
        };
        let back = decode(&entry).expect("decodes");
        assert_eq!(back.metadata().resource_version, "9");
    }

    #[test]
    fn decode_rejects_a_value_stored_under_another_name() {
        let entry = KvEntry {
            key: ResourceKey::new(Kind::GlobalNetworkSet, "", "other"),
            value: encode(&gns("a")),
            revision: 1,
        };
        assert!(decode(&entry).unwrap_err().contains("named"));
    }

    #[test]
    fn generation_moves_only_with_the_body() {
        let created = prepare_create(gns("a")).expect("valid");
        let old = Summary {
            revision: 1,
            uid: created.metadata().uid.clone(),
            creation_timestamp: created.metadata().creation_timestamp.clone(),
            generation: 1,
            body_hash: body_hash(&created),
        };
        let mut relabelled = created.clone();
        relabelled
            .metadata_mut()
            .labels
            .insert("a".into(), "b".into());
        finish_update(&mut relabelled, &old);
        assert_eq!(relabelled.metadata().generation, 1);
        let mut changed = gns("a");
        if let Resource::GlobalNetworkSet(g) = &mut changed {
            g.spec.nets.push("192.168.0.0/16".parse().expect("cidr"));
        }
        finish_update(&mut changed, &old);
        assert_eq!(changed.metadata().generation, 2);
        assert_eq!(changed.metadata().uid, created.metadata().uid);
    }

    #[test]
    fn create_fills_metadata_and_generates_names() {
        let mut r = gns("");
        r.metadata_mut().generate_name = "net-".into();
        let c = prepare_create(r).expect("valid");
        assert!(
            c.name().starts_with("net-") && c.name().len() == 9,
            "{}",
            c.name()
        );
        assert_eq!(c.metadata().uid.len(), 36);
        let ts = c.metadata().creation_timestamp.clone().expect("timestamp");
        assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
    }
}
