//! A synthetic Kubernetes-like cluster for the `SelectorIndex` benchmark
//! and the memory example.
//!
//! * Namespaces `ns-K`, each with a namespace profile (`kns.ns-K`, labels
//!   `pcns.*`) and three service-account profiles (`ksa.ns-K.sa-J`).
//! * 100 endpoints per namespace: 10 deployments (`app`) of 10 pods, each
//!   pod with `app`, `tier`, `version`, `pod-template-hash`,
//!   `projectcalico.org/namespace` and `projectcalico.org/orchestrator`,
//!   and parents `[kns.ns-K, ksa.ns-K.sa-J]`. Pods of one deployment and
//!   version have identical labels, as in a real ReplicaSet.
//! * Selectors: a Felix-like mix of `app == …` (43%), `app == … && tier ==
//!   …` (20%), `projectcalico.org/namespace == … && role in {…}` (20%),
//!   `pcns.env == …` and `pcns.team == …` (10%), `all()` (2%), `has(…)`
//!   (2%) and `!has(…)` (3%).
#![allow(dead_code)]

use calico_model::selector::Selector;

/// Endpoints per namespace (and so children per namespace profile).
pub const PODS_PER_NS: usize = 100;
/// Deployments per namespace.
pub const APPS_PER_NS: usize = 10;
/// Service accounts per namespace.
pub const SAS_PER_NS: usize = 3;

const TIERS: [&str; 3] = ["frontend", "backend", "db"];
const ENVS: [&str; 3] = ["prod", "staging", "dev"];
const ROLES: [&str; 3] = ["web", "worker", "admin"];

/// Owned labels.
pub type Labels = Vec<(String, String)>;

/// The size of the cluster.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Number of endpoints (items).
    pub endpoints: usize,
    /// Number of selectors.
    pub selectors: usize,
}

impl Shape {
    /// The reference shape: 10,000 endpoints in 100 namespaces, 2,000
    /// selectors.
    pub const REFERENCE: Shape = Shape {
        endpoints: 10_000,
        selectors: 2_000,
    };

    /// Number of namespaces.
    pub fn namespaces(&self) -> usize {
        self.endpoints.div_ceil(PODS_PER_NS).max(1)
    }
}

/// SplitMix64: a deterministic pseudo-random number from `x`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn pick<'a>(options: &[&'a str], x: u64) -> &'a str {
    options[(x % options.len() as u64) as usize]
}

fn owned(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The namespace profile of namespace `k`, with its labels.
pub fn namespace_profile(k: usize, generation: usize) -> (String, Labels) {
    let name = format!("ns-{k}");
    let env = pick(&ENVS, (k + generation) as u64);
    let team = format!("team-{}", k % 10);
    (
        format!("kns.{name}"),
        owned(&[
            ("pcns.projectcalico.org/name", &name),
            ("pcns.env", env),
            ("pcns.team", &team),
        ]),
    )
}

/// Service-account profile `j` of namespace `k`, with its labels.
pub fn sa_profile(k: usize, j: usize) -> (String, Labels) {
    let name = format!("sa-{j}");
    (
        format!("ksa.ns-{k}.{name}"),
        owned(&[
            ("pcsa.projectcalico.org/name", &name),
            ("role", ROLES[j % ROLES.len()]),
        ]),
    )
}

/// Endpoint `e` (its id, own labels and parents). `generation` varies the
/// deployment it belongs to, for label-change benchmarks.
pub fn endpoint(e: usize, generation: usize) -> (String, Labels, Vec<String>) {
    let ns = e / PODS_PER_NS;
    let app = (e % PODS_PER_NS / (PODS_PER_NS / APPS_PER_NS) + generation) % APPS_PER_NS;
    let version = if e % 10 < 8 { "v1" } else { "v2" };
    let hash = format!(
        "{:010x}",
        mix((ns * 1000 + app) as u64 * 2 + u64::from(version == "v2")) >> 24
    );
    let namespace = format!("ns-{ns}");
    let sa = app % SAS_PER_NS;
    (
        format!("{namespace}/pod-{e}"),
        owned(&[
            ("app", &format!("app-{ns}-{app}")),
            ("tier", TIERS[app % TIERS.len()]),
            ("version", version),
            ("pod-template-hash", &hash),
            ("projectcalico.org/namespace", &namespace),
            ("projectcalico.org/orchestrator", "k8s"),
        ]),
        vec![
            format!("kns.{namespace}"),
            format!("ksa.{namespace}.sa-{sa}"),
        ],
    )
}

/// Selector `n`, by its id.
pub fn selector(shape: &Shape, n: usize) -> (String, Selector) {
    let r = mix(n as u64);
    let ns = (r >> 8) as usize % shape.namespaces();
    let app = (r >> 24) as usize % APPS_PER_NS;
    let text = match n % 100 {
        0..43 => format!("app == 'app-{ns}-{app}'"),
        43..63 => format!(
            "app == 'app-{ns}-{app}' && tier == '{}'",
            TIERS[app % TIERS.len()]
        ),
        63..83 => format!(
            "projectcalico.org/namespace == 'ns-{ns}' && role in {{'{}', '{}'}}",
            pick(&ROLES, r >> 32),
            pick(&ROLES, r >> 40)
        ),
        83..88 => format!("pcns.env == '{}'", pick(&ENVS, r >> 32)),
        88..93 => format!("pcns.team == 'team-{}'", (r >> 32) % 10),
        93..95 => "all()".to_owned(),
        95..97 => format!("has({})", pick(&["app", "version", "canary"], r >> 32)),
        _ => format!("!has({})", pick(&["deprecated", "pcns.legacy"], r >> 32)),
    };
    let selector = Selector::parse(&text).expect("generated selectors parse");
    (format!("sel-{n}"), selector)
}

/// The whole cluster as lists.
pub struct Cluster {
    /// Profiles (namespace then service-account ones).
    pub parents: Vec<(String, Labels)>,
    /// Endpoints.
    pub items: Vec<(String, Labels, Vec<String>)>,
    /// Selectors.
    pub selectors: Vec<(String, Selector)>,
}

/// Generates the cluster of `shape`.
pub fn cluster(shape: &Shape) -> Cluster {
    let mut parents = Vec::new();
    for k in 0..shape.namespaces() {
        parents.push(namespace_profile(k, 0));
        for j in 0..SAS_PER_NS {
            parents.push(sa_profile(k, j));
        }
    }
    Cluster {
        parents,
        items: (0..shape.endpoints).map(|e| endpoint(e, 0)).collect(),
        selectors: (0..shape.selectors).map(|n| selector(shape, n)).collect(),
    }
}

/// Borrowed `(&str, &str)` pairs of owned labels.
pub fn pairs(labels: &Labels) -> impl Iterator<Item = (&str, &str)> {
    labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}
