//! End-to-end tests of the built `calicoctl` binary.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn calicoctl(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_calicoctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn calicoctl");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn validates_the_bundled_examples() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let o = calicoctl(
        &["validate", "-f", examples.to_str().expect("utf-8 path")],
        None,
    );
    assert!(
        o.status.success(),
        "{}\n{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout(&o).starts_with("Successfully validated "),
        "{}",
        stdout(&o)
    );
}

#[test]
fn reports_every_problem_with_file_doc_kind_name_and_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: ok}\nspec: {selector: all()}\n---\n\
         apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: pool1}\nspec:\n  cidr: 10.0.0.1/16\n  blockSize: 40\n",
    )
    .expect("write");
    let o = calicoctl(&["validate", "-f", file.to_str().expect("utf-8")], None);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let prefix = format!("{}:2: IPPool/pool1: ", file.display());
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("{prefix}spec.cidr: "))),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("{prefix}spec.blockSize: "))),
        "{out}"
    );
    assert!(
        !out.contains(":1: "),
        "the valid first document must not be reported: {out}"
    );
}

#[test]
fn reads_stdin_and_reports_decode_errors_with_line() {
    let o = calicoctl(
        &["validate", "-f", "-"],
        Some(
            "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p, namespace: n}\nspec:\n  ingress:\n    - acton: Allow\n",
        ),
    );
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains(
            "stdin:1: NetworkPolicy/p: spec.ingress[0].acton: field in document is not recognized"
        ),
        "{out}"
    );
    assert!(out.contains("(line 6)"), "{out}");
}

#[test]
fn valid_stdin_succeeds_with_kind_in_message() {
    let o = calicoctl(
        &["validate", "-f", "-"],
        Some(
            "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\nspec: {order: 100}\n",
        ),
    );
    assert!(o.status.success());
    assert_eq!(
        stdout(&o).trim(),
        "Successfully validated 1 'Tier' resource(s)"
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let o = calicoctl(&["validate", "-f", "/nonexistent/file.yaml"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/file.yaml"));
}
