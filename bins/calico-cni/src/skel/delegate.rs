//! Delegation: executing another plugin (an IPAM plugin) found on `CNI_PATH` with the same
//! parameters and the whole configuration on stdin, as the CNI spec prescribes.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};

use super::error::{Error, ErrorJson, Result};
use super::{CniResult, Command, Env};

/// Finds plugin `plugin_type` on the search path (the first executable file of that name).
pub fn find(plugin_type: &str, path: &[PathBuf]) -> Result<PathBuf> {
    if plugin_type.is_empty()
        || plugin_type.contains('/')
        || plugin_type == "."
        || plugin_type == ".."
    {
        return Err(Error::config(
            "ipam.type",
            format!("invalid plugin type {plugin_type:?}"),
        ));
    }
    if path.is_empty() {
        return Err(Error::MissingEnv(vec![super::CNI_PATH.into()]));
    }
    for dir in path {
        let candidate = dir.join(plugin_type);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::config(
        "ipam.type",
        format!(
            "failed to find plugin {plugin_type:?} in path {:?}",
            path.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        ),
    ))
}

/// Runs `plugin_type` with `command`, the parameters of `env` (with `CNI_ARGS` replaced by
/// `args`) and `stdin`. The delegate's stderr goes to ours. Returns its parsed result for ADD
/// (`None` for other commands); a failure carries the delegate's own code and message.
pub fn exec(
    plugin_type: &str,
    command: Command,
    env: &Env,
    args: &str,
    stdin: &[u8],
) -> Result<Option<CniResult>> {
    let binary = find(plugin_type, &env.path)?;
    let mut child = Process::new(&binary)
        .envs(env.delegate_vars(command, args))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::Io {
            what: format!("start IPAM plugin {}", binary.display()),
            source: e,
        })?;
    if let Some(mut input) = child.stdin.take() {
        // A plugin that exits without reading stdin closes the pipe: not our error.
        let _ = input.write_all(stdin);
    }
    let out = child.wait_with_output().map_err(|e| Error::Io {
        what: format!("wait for IPAM plugin {}", binary.display()),
        source: e,
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(match serde_json::from_str::<ErrorJson>(stdout.trim()) {
            Ok(e) if e.code != 0 || !e.msg.is_empty() => Error::Delegate {
                plugin: plugin_type.to_owned(),
                code: e.code,
                msg: e.msg,
                details: e.details,
            },
            _ => Error::Delegate {
                plugin: plugin_type.to_owned(),
                code: super::error::CODE_INTERNAL,
                msg: format!("{plugin_type} {} failed ({})", command.as_str(), out.status),
                details: stdout.trim().to_owned(),
            },
        });
    }
    if command != Command::Add {
        return Ok(None);
    }
    let value: serde_json::Value =
        serde_json::from_str(stdout.trim()).map_err(|e| Error::Decode {
            what: format!("{plugin_type} result"),
            reason: e.to_string(),
        })?;
    CniResult::from_json(&format!("{plugin_type} result"), &value).map(Some)
}
