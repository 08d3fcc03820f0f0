//! Shared by calicoctl's end-to-end tests: running the built binary and checking its output.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// What one calicoctl run printed and how it exited.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        self
    }

    #[track_caller]
    pub fn fails(self) -> Self {
        assert_eq!(self.code, Some(1), "expected exit status 1: {self:#?}");
        self
    }

    #[track_caller]
    pub fn has_line(&self, line: &str) -> &Self {
        assert!(
            self.stdout.lines().any(|l| l == line),
            "no line {line:?} in:\n{}",
            self.stdout
        );
        self
    }
}

/// A scratch directory for one test's datastore and files (removed on drop). Refuses to run
/// where a system-wide calicoctl configuration would override the test's environment.
pub fn scratch_dir() -> tempfile::TempDir {
    assert!(
        !Path::new("/etc/calico/calicoctl.cfg").exists(),
        "/etc/calico/calicoctl.cfg exists and would override the test's environment"
    );
    tempfile::tempdir().expect("tempdir")
}

/// Runs calicoctl with only the given environment, `args` and optionally `stdin`.
pub fn calicoctl(env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_calicoctl"));
    cmd.env_clear()
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn calicoctl");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
