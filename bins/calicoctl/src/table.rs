//! `calicoctl get` tables: the columns calicoctl registers for each kind (default, `-o wide`
//! and the full heading map for `custom-columns=`), the cell values as its Go templates
//! print them, and the layout of Go's `tabwriter` (minimum width 5, padding 3, every cell
//! tab-terminated, so every column is padded, the last one included).

use calico_model::Kind;
use serde_json::Value;

/// Go `tabwriter` minimum column width used by calicoctl.
const MIN_WIDTH: usize = 5;
/// Go `tabwriter` padding used by calicoctl.
const PADDING: usize = 3;
/// `joinAndTruncate` limit calicoctl uses for network lists.
const NETS_MAX: usize = 80;
/// Go's `%v` of a float switches to exponent form from this decimal exponent on.
const GO_FLOAT_EXPONENT_THRESHOLD: i32 = 6;
/// The AS number calicoctl shows for nodes when no global one is configured.
pub const DEFAULT_AS_NUMBER: &str = "64512";

/// What a cell may need beyond the resource itself.
pub struct Context {
    /// The global AS number (calicoctl's `config "asnumber"` template function).
    pub as_number: String,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            as_number: DEFAULT_AS_NUMBER.to_owned(),
        }
    }
}

/// Computes one cell from the resource's JSON.
type Cell = fn(&Value, &Context) -> String;

/// The table columns of one kind.
pub struct KindColumns {
    /// Columns of the default (`ps`) output.
    pub default: &'static [&'static str],
    /// Columns of `-o wide`.
    pub wide: &'static [&'static str],
    /// Every heading that can be shown (also `NAMESPACE` for namespaced kinds).
    cells: Vec<(&'static str, Cell)>,
}

impl KindColumns {
    fn cell(&self, heading: &str) -> Option<Cell> {
        self.cells
            .iter()
            .find(|(h, _)| *h == heading)
            .map(|(_, c)| *c)
    }

    /// Whether a heading exists for this kind.
    pub fn has(&self, heading: &str) -> bool {
        self.cell(heading).is_some()
    }

    /// Every valid heading, sorted.
    pub fn headings(&self) -> Vec<&'static str> {
        let mut h: Vec<_> = self.cells.iter().map(|(h, _)| *h).collect();
        h.sort_unstable();
        h
    }
}

// ---- value access, printing values as Go's text/template does ----

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(v, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)` with `%v`'s exponent rule).
pub fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Go's shortest formatting.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..GO_FLOAT_EXPONENT_THRESHOLD).contains(&exp) {
        // %e form with at least two exponent digits.
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    // %f form with exactly the significant digits.
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// A JSON number as Go prints the field's value (integers plainly, floats with `%v`).
fn go_number(n: &serde_json::Number) -> String {
    if n.is_f64() {
        n.as_f64().map_or_else(|| n.to_string(), go_float)
    } else {
        n.to_string()
    }
}

/// A scalar as Go prints it; structures as `fmt`'s `%v` would (maps sorted, structs in
/// braces).
fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_value).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_value(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// `{{.X}}` of a string, bool or number field: the zero value when absent.
fn text(v: &Value, path: &str) -> String {
    at(v, path).map(go_value).unwrap_or_default()
}

/// `{{.X}}` of a bool field.
fn boolean(v: &Value, path: &str) -> String {
    at(v, path).map_or_else(|| "false".into(), go_value)
}

/// `{{.X}}` of an integer field.
fn integer(v: &Value, path: &str) -> String {
    at(v, path).map_or_else(|| "0".into(), go_value)
}

/// `{{.X}}` of a pointer field: `<nil>` when absent.
fn pointer(v: &Value, path: &str) -> String {
    at(v, path).map_or_else(|| "<nil>".into(), go_value)
}

/// `{{if .X}}{{.X}}{{else}}…{{end}}` of a pointer or string field.
fn or_else(v: &Value, path: &str, otherwise: &str) -> String {
    match at(v, path) {
        None => otherwise.into(),
        Some(Value::String(s)) if s.is_empty() => otherwise.into(),
        Some(x) => go_value(x),
    }
}

/// calicoctl's `joinAndTruncate`: list items (or a map's sorted `k=v` pairs) joined, cut
/// to `max` characters with `...` when `max > 0`.
fn join_truncate(v: &Value, path: &str, sep: &str, max: usize) -> String {
    let items: Vec<String> = match at(v, path) {
        None => return String::new(),
        Some(Value::Array(a)) => a.iter().map(go_value).collect(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", go_value(v)))
            .collect(),
        Some(other) => vec![go_value(other)],
    };
    join_and_truncate(&items, sep, max)
}

/// The joining and cutting of calicoctl's `joinAndTruncate` template function: `items`
/// joined with `sep`, cut to `max` characters ending in `...` when `max > 0`.
pub(crate) fn join_and_truncate(items: &[String], sep: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(item);
        if max > 0 && out.len() > max {
            let mut cut = max.saturating_sub(3);
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("...");
            break;
        }
    }
    out
}

fn join(v: &Value, path: &str) -> String {
    join_truncate(v, path, ",", 0)
}

fn count(v: &Value, path: &str) -> String {
    at(v, path)
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
        .to_string()
}

/// A Kubernetes label selector printed as Go's `%v` of `metav1.LabelSelector`:
/// `{map[k:v] [{key Op [values]}]}`.
fn label_selector(v: &Value, path: &str) -> String {
    let sel = at(v, path);
    let labels = sel
        .and_then(|s| at(s, "matchLabels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_value(v)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let exprs = sel
        .and_then(|s| at(s, "matchExpressions"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{{{} {} {}}}",
                        text(e, "key"),
                        text(e, "operator"),
                        at(e, "values").map_or_else(|| "[]".into(), go_value)
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    format!("{{map[{labels}] [{exprs}]}}")
}

fn name(v: &Value, _: &Context) -> String {
    text(v, "metadata.name")
}

fn namespace(v: &Value, _: &Context) -> String {
    text(v, "metadata.namespace")
}

fn order(v: &Value, _: &Context) -> String {
    pointer(v, "spec.order")
}

fn selector(v: &Value, _: &Context) -> String {
    text(v, "spec.selector")
}

fn tier(v: &Value, _: &Context) -> String {
    text(v, "spec.tier")
}

fn nets(v: &Value, _: &Context) -> String {
    join_truncate(v, "spec.nets", ",", NETS_MAX)
}

/// Columns of kinds that show only their name.
fn name_only() -> KindColumns {
    KindColumns {
        default: &["NAME"],
        wide: &["NAME"],
        cells: vec![("NAME", name)],
    }
}

/// Columns of the tiered policy kinds.
fn tiered_policy(namespaced: bool) -> KindColumns {
    let mut cells: Vec<(&'static str, Cell)> = vec![
        ("NAME", name),
        ("ORDER", order),
        ("SELECTOR", selector),
        ("TIER", tier),
    ];
    if namespaced {
        cells.push(("NAMESPACE", namespace));
    }
    KindColumns {
        default: &["NAME", "TIER"],
        wide: &["NAME", "TIER", "ORDER", "SELECTOR"],
        cells,
    }
}

/// The columns calicoctl shows for a kind.
pub fn columns(kind: Kind) -> KindColumns {
    match kind {
        Kind::BGPConfiguration => KindColumns {
            default: &["NAME", "LOGSEVERITY", "MESHENABLED", "ASNUMBER"],
            wide: &["NAME", "LOGSEVERITY", "MESHENABLED", "ASNUMBER"],
            cells: vec![
                ("NAME", name),
                ("LOGSEVERITY", |v, _| text(v, "spec.logSeverityScreen")),
                ("MESHENABLED", |v, _| {
                    or_else(v, "spec.nodeToNodeMeshEnabled", "-")
                }),
                ("ASNUMBER", |v, _| or_else(v, "spec.asNumber", "-")),
            ],
        },
        Kind::BGPFilter => KindColumns {
            default: &[
                "NAME",
                "NUMEXPORTV4",
                "NUMIMPORTV4",
                "NUMEXPORTV6",
                "NUMIMPORTV6",
            ],
            wide: &[
                "NAME",
                "NUMEXPORTV4",
                "NUMIMPORTV4",
                "NUMEXPORTV6",
                "NUMIMPORTV6",
            ],
            cells: vec![
                ("NAME", name),
                ("NUMEXPORTV4", |v, _| count(v, "spec.exportV4")),
                ("NUMIMPORTV4", |v, _| count(v, "spec.importV4")),
                ("NUMEXPORTV6", |v, _| count(v, "spec.exportV6")),
                ("NUMIMPORTV6", |v, _| count(v, "spec.importV6")),
            ],
        },
        Kind::BGPPeer => KindColumns {
            default: &["NAME", "PEERIP", "NODE", "ASN"],
            wide: &["NAME", "PEERIP", "NODE", "ASN"],
            cells: vec![
                ("NAME", name),
                ("PEERIP", |v, _| text(v, "spec.peerIP")),
                ("NODE", |v, _| match text(v, "spec.node").as_str() {
                    "" => or_else(v, "spec.nodeSelector", "(global)"),
                    node => node.to_owned(),
                }),
                ("ASN", |v, _| integer(v, "spec.asNumber")),
            ],
        },
        Kind::ClusterInformation => KindColumns {
            default: &[
                "NAME",
                "CLUSTERGUID",
                "CLUSTERTYPE",
                "CALICOVERSION",
                "DATASTOREREADY",
            ],
            wide: &[
                "NAME",
                "CLUSTERGUID",
                "CLUSTERTYPE",
                "CALICOVERSION",
                "DATASTOREREADY",
            ],
            cells: vec![
                ("NAME", name),
                ("CLUSTERGUID", |v, _| text(v, "spec.clusterGUID")),
                ("CLUSTERTYPE", |v, _| text(v, "spec.clusterType")),
                ("CALICOVERSION", |v, _| text(v, "spec.calicoVersion")),
                ("DATASTOREREADY", |v, _| pointer(v, "spec.datastoreReady")),
            ],
        },
        Kind::FelixConfiguration | Kind::KubeControllersConfiguration => name_only(),
        Kind::GlobalNetworkPolicy | Kind::StagedGlobalNetworkPolicy => tiered_policy(false),
        Kind::NetworkPolicy | Kind::StagedNetworkPolicy => tiered_policy(true),
        Kind::GlobalNetworkSet => KindColumns {
            default: &["NAME"],
            wide: &["NAME", "NETS"],
            cells: vec![("NAME", name), ("NETS", nets)],
        },
        Kind::NetworkSet => KindColumns {
            default: &["NAME"],
            wide: &["NAME", "NETS"],
            cells: vec![("NAME", name), ("NAMESPACE", namespace), ("NETS", nets)],
        },
        Kind::HostEndpoint => KindColumns {
            default: &["NAME", "NODE"],
            wide: &["NAME", "NODE", "INTERFACE", "IPS", "PROFILES"],
            cells: vec![
                ("NAME", name),
                ("NODE", |v, _| text(v, "spec.node")),
                ("INTERFACE", |v, _| text(v, "spec.interfaceName")),
                ("IPS", |v, _| join(v, "spec.expectedIPs")),
                ("PROFILES", |v, _| join(v, "spec.profiles")),
            ],
        },
        Kind::IPAMConfiguration => KindColumns {
            default: &["NAME", "STRICTAFFINITY", "AUTOALLOCATEBLOCKS"],
            wide: &[
                "NAME",
                "STRICTAFFINITY",
                "AUTOALLOCATEBLOCKS",
                "MAXBLOCKSPERHOST",
            ],
            cells: vec![
                ("NAME", name),
                ("STRICTAFFINITY", |v, _| boolean(v, "spec.strictAffinity")),
                ("AUTOALLOCATEBLOCKS", |v, _| {
                    boolean(v, "spec.autoAllocateBlocks")
                }),
                ("MAXBLOCKSPERHOST", |v, _| {
                    integer(v, "spec.maxBlocksPerHost")
                }),
            ],
        },
        Kind::IPPool => KindColumns {
            default: &["NAME", "CIDR", "SELECTOR"],
            wide: &[
                "NAME",
                "CIDR",
                "NAT",
                "IPIPMODE",
                "VXLANMODE",
                "DISABLED",
                "DISABLEBGPEXPORT",
                "SELECTOR",
            ],
            cells: vec![
                ("NAME", name),
                ("CIDR", |v, _| text(v, "spec.cidr")),
                ("NAT", |v, _| boolean(v, "spec.natOutgoing")),
                ("IPIPMODE", |v, _| or_else(v, "spec.ipipMode", "Never")),
                ("VXLANMODE", |v, _| or_else(v, "spec.vxlanMode", "Never")),
                ("DISABLED", |v, _| boolean(v, "spec.disabled")),
                ("DISABLEBGPEXPORT", |v, _| {
                    boolean(v, "spec.disableBGPExport")
                }),
                ("SELECTOR", |v, _| text(v, "spec.nodeSelector")),
            ],
        },
        Kind::IPReservation => KindColumns {
            default: &["NAME"],
            wide: &["NAME", "CIDRS"],
            cells: vec![
                ("NAME", name),
                ("CIDRS", |v, _| {
                    join_truncate(v, "spec.reservedCIDRs", ",", NETS_MAX)
                }),
            ],
        },
        Kind::Node => KindColumns {
            default: &["NAME"],
            wide: &["NAME", "ASN", "IPV4", "IPV6"],
            cells: vec![
                ("NAME", name),
                ("ASN", |v, ctx| match at(v, "spec.bgp") {
                    None => String::new(),
                    Some(bgp) => match at(bgp, "asNumber") {
                        Some(asn) => go_value(asn),
                        None => format!("({})", ctx.as_number),
                    },
                }),
                ("IPV4", |v, _| text(v, "spec.bgp.ipv4Address")),
                ("IPV6", |v, _| text(v, "spec.bgp.ipv6Address")),
            ],
        },
        Kind::CalicoNodeStatus => KindColumns {
            default: &["NAME", "NODE"],
            wide: &["NAME", "NODE", "CLASSES"],
            cells: vec![
                ("NAME", name),
                ("NODE", |v, _| text(v, "spec.node")),
                ("CLASSES", |v, _| join(v, "spec.classes")),
            ],
        },
        Kind::Profile => KindColumns {
            default: &["NAME"],
            wide: &["NAME", "LABELS"],
            cells: vec![
                ("NAME", name),
                ("LABELS", |v, _| join(v, "spec.labelsToApply")),
            ],
        },
        Kind::StagedKubernetesNetworkPolicy => KindColumns {
            default: &["NAME"],
            wide: &["NAME", "PODSELECTOR"],
            cells: vec![
                ("NAME", name),
                ("NAMESPACE", namespace),
                ("PODSELECTOR", |v, _| label_selector(v, "spec.podSelector")),
            ],
        },
        Kind::Tier => KindColumns {
            default: &["NAME", "ORDER"],
            wide: &["NAME", "ORDER"],
            cells: vec![("NAME", name), ("ORDER", order)],
        },
        Kind::WorkloadEndpoint => KindColumns {
            default: &["WORKLOAD", "NODE", "NETWORKS", "INTERFACE"],
            wide: &[
                "NAME",
                "WORKLOAD",
                "NODE",
                "NETWORKS",
                "INTERFACE",
                "PROFILES",
                "NATS",
            ],
            cells: vec![
                ("NAME", name),
                ("NAMESPACE", namespace),
                ("NODE", |v, _| text(v, "spec.node")),
                ("ORCHESTRATOR", |v, _| text(v, "spec.orchestrator")),
                ("WORKLOAD", |v, _| match text(v, "spec.workload").as_str() {
                    "" => text(v, "spec.pod"),
                    w => w.to_owned(),
                }),
                ("NETWORKS", |v, _| join(v, "spec.ipNetworks")),
                ("NATS", |v, _| {
                    at(v, "spec.ipNATs")
                        .and_then(Value::as_array)
                        .map(|nats| {
                            nats.iter()
                                .map(|n| {
                                    format!(
                                        "{{{} {}}}",
                                        text(n, "internalIP"),
                                        text(n, "externalIP")
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_default()
                }),
                ("PROFILES", |v, _| join(v, "spec.profiles")),
                ("INTERFACE", |v, _| text(v, "spec.interfaceName")),
            ],
        },
        // Not in calicoctl (it does not register the IPAM kinds); read-only views of ours.
        Kind::IPAMBlock => KindColumns {
            default: &["NAME", "CIDR", "AFFINITY"],
            wide: &["NAME", "CIDR", "AFFINITY"],
            cells: vec![
                ("NAME", name),
                ("CIDR", |v, _| text(v, "spec.cidr")),
                ("AFFINITY", |v, _| text(v, "spec.affinity")),
            ],
        },
        Kind::BlockAffinity => KindColumns {
            default: &["NAME", "NODE", "CIDR", "STATE"],
            wide: &["NAME", "NODE", "CIDR", "STATE"],
            cells: vec![
                ("NAME", name),
                ("NODE", |v, _| text(v, "spec.node")),
                ("CIDR", |v, _| text(v, "spec.cidr")),
                ("STATE", |v, _| text(v, "spec.state")),
            ],
        },
        Kind::IPAMHandle => KindColumns {
            default: &["NAME", "HANDLEID"],
            wide: &["NAME", "HANDLEID"],
            cells: vec![
                ("NAME", name),
                ("HANDLEID", |v, _| text(v, "spec.handleID")),
            ],
        },
    }
}

/// Which columns to show.
pub enum Headings<'a> {
    /// The kind's default columns, or its wide ones.
    Default {
        /// `-o wide`.
        wide: bool,
    },
    /// `-o custom-columns=A,B`.
    Custom(&'a [String]),
}

/// Renders one table (headings line, then one row per resource) followed by the blank line
/// calicoctl leaves after each table.
pub fn render(
    kind: Kind,
    rows: &[Value],
    headings: &Headings<'_>,
    print_namespace: bool,
    ctx: &Context,
) -> Result<String, String> {
    let cols = columns(kind);
    let mut chosen: Vec<String> = match headings {
        Headings::Default { wide: false } => cols.default.iter().map(|s| (*s).to_owned()).collect(),
        Headings::Default { wide: true } => cols.wide.iter().map(|s| (*s).to_owned()).collect(),
        Headings::Custom(h) => h.to_vec(),
    };
    if print_namespace && cols.has("NAMESPACE") {
        chosen.insert(0, "NAMESPACE".to_owned());
    }
    let mut cells = Vec::with_capacity(chosen.len());
    for h in &chosen {
        let cell = cols.cell(h).ok_or_else(|| {
            format!(
                "Unknown heading {h}, valid values are: {}",
                cols.headings().join(", ")
            )
        })?;
        cells.push(cell);
    }
    let mut grid = vec![chosen.clone()];
    for row in rows {
        grid.push(cells.iter().map(|c| c(row, ctx)).collect());
    }
    let mut out = tabwrite(&grid);
    out.push('\n');
    Ok(out)
}

/// Lays out rows of tab-terminated cells as Go's `tabwriter.NewWriter(w, 5, 1, 3, ' ', 0)`.
pub fn tabwrite(grid: &[Vec<String>]) -> String {
    let columns = grid.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            grid.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count() + PADDING)
                .fold(MIN_WIDTH, usize::max)
        })
        .collect();
    let mut out = String::new();
    for row in grid {
        for (cell, width) in row.iter().zip(&widths) {
            out.push_str(cell);
            out.extend(std::iter::repeat_n(
                ' ',
                width.saturating_sub(cell.chars().count()),
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ippool_tables_match_calicoctl_byte_for_byte() {
        let pool = json!({
            "metadata": {"name": "ippool-name1"},
            "spec": {"cidr": "10.0.1.0/24", "ipipMode": "Always", "nodeSelector": "foo == 'bar'"}
        });
        let ctx = Context::default();
        let ps = render(
            Kind::IPPool,
            std::slice::from_ref(&pool),
            &Headings::Default { wide: false },
            false,
            &ctx,
        )
        .expect("table");
        assert_eq!(
            ps,
            "NAME           CIDR          SELECTOR       \nippool-name1   10.0.1.0/24   foo == 'bar'   \n\n"
        );
        let wide = render(
            Kind::IPPool,
            &[pool],
            &Headings::Default { wide: true },
            false,
            &ctx,
        )
        .expect("table");
        assert_eq!(
            wide.trim_end(),
            "NAME           CIDR          NAT     IPIPMODE   VXLANMODE   DISABLED   DISABLEBGPEXPORT   SELECTOR       \n\
             ippool-name1   10.0.1.0/24   false   Always     Never       false      false              foo == 'bar'"
        );
    }

    #[test]
    fn namespace_column_is_prepended_when_asked_and_known() {
        let np =
            json!({"metadata": {"name": "p", "namespace": "ns1"}, "spec": {"tier": "default"}});
        let t = render(
            Kind::NetworkPolicy,
            &[np],
            &Headings::Default { wide: false },
            true,
            &Context::default(),
        )
        .expect("table");
        assert!(
            t.starts_with("NAMESPACE   NAME   TIER      \nns1         p      default   \n"),
            "{t:?}"
        );
        let t = render(
            Kind::IPPool,
            &[],
            &Headings::Default { wide: false },
            true,
            &Context::default(),
        )
        .expect("table");
        assert_eq!(t, "NAME   CIDR   SELECTOR   \n\n");
    }

    #[test]
    fn unknown_custom_heading_lists_the_valid_ones() {
        let err = render(
            Kind::Tier,
            &[],
            &Headings::Custom(&["NAME".into(), "COLOUR".into()]),
            false,
            &Context::default(),
        )
        .expect_err("unknown heading");
        assert_eq!(err, "Unknown heading COLOUR, valid values are: NAME, ORDER");
    }

    #[test]
    fn go_value_formatting() {
        assert_eq!(go_float(100.0), "100");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-2.5), "-2.5");
        let tier = json!({"metadata": {"name": "t"}, "spec": {}});
        assert_eq!(order(&tier, &Context::default()), "<nil>");
        let tier = json!({"metadata": {"name": "t"}, "spec": {"order": 100.0}});
        assert_eq!(order(&tier, &Context::default()), "100");
    }

    #[test]
    fn join_and_truncate_like_calicoctl() {
        let nets: Vec<String> = (0..16).map(|i| format!("10.0.{i}.0/28")).collect();
        let v = json!({"spec": {"nets": nets}});
        let s = join_truncate(&v, "spec.nets", ",", 80);
        assert_eq!(s.len(), 80);
        assert!(s.ends_with("..."), "{s}");
        let labels = json!({"spec": {"labelsToApply": {"b": "2", "a": "1"}}});
        assert_eq!(join(&labels, "spec.labelsToApply"), "a=1,b=2");
        assert_eq!(join(&labels, "spec.missing"), "");
    }

    #[test]
    fn node_asn_falls_back_to_the_global_number() {
        let cols = columns(Kind::Node);
        let asn = cols.cell("ASN").expect("ASN");
        let ctx = Context {
            as_number: "65001".into(),
        };
        assert_eq!(
            asn(
                &json!({"spec": {"bgp": {"ipv4Address": "10.0.0.1/24"}}}),
                &ctx
            ),
            "(65001)"
        );
        assert_eq!(
            asn(&json!({"spec": {"bgp": {"asNumber": 64600}}}), &ctx),
            "64600"
        );
        assert_eq!(asn(&json!({"spec": {}}), &ctx), "");
    }

    #[test]
    fn bgp_peer_node_column() {
        let node = columns(Kind::BGPPeer).cell("NODE").expect("NODE");
        let ctx = Context::default();
        assert_eq!(node(&json!({"spec": {}}), &ctx), "(global)");
        assert_eq!(
            node(&json!({"spec": {"nodeSelector": "all()"}}), &ctx),
            "all()"
        );
        assert_eq!(
            node(
                &json!({"spec": {"node": "n1", "nodeSelector": "all()"}}),
                &ctx
            ),
            "n1"
        );
    }

    #[test]
    fn staged_k8s_pod_selector_prints_like_go() {
        let v = json!({"spec": {"podSelector": {"matchLabels": {"app": "a"},
            "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]}}});
        assert_eq!(
            label_selector(&v, "spec.podSelector"),
            "{map[app:a] [{k In [x y]}]}"
        );
        assert_eq!(label_selector(&json!({}), "spec.podSelector"), "{map[] []}");
    }

    #[test]
    fn every_kind_has_consistent_columns() {
        for kind in Kind::ALL {
            let cols = columns(*kind);
            for h in cols.default.iter().chain(cols.wide) {
                assert!(cols.has(h), "{kind}: {h}");
            }
            assert_eq!(cols.has("NAMESPACE"), kind.namespaced(), "{kind}");
        }
    }
}
