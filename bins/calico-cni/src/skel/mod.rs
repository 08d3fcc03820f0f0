//! The CNI protocol: environment, stdin, commands, version negotiation, results and error
//! JSON, and delegation to IPAM plugins. Plugin logic implements [`Plugin`]; [`main`] (or [`dispatch`]) does
//! the rest and never panics on user input.

pub mod args;
pub mod delegate;
pub mod error;
pub mod log;
pub mod types;
pub mod version;

use std::io::{Read, Write};
use std::path::PathBuf;

pub use args::CniArgs;
pub use error::{Error, ErrorJson, Result};
pub use types::{CniResult, Dns, Interface, IpConfig, Route};

/// A CNI command (`CNI_COMMAND`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// Add the container to the network.
    Add,
    /// Remove it.
    Del,
    /// Check that it is still as ADD left it.
    Check,
    /// Remove resources of attachments the runtime no longer knows (1.1.0).
    Gc,
    /// Report readiness (1.1.0).
    Status,
    /// Report the supported versions.
    Version,
}

impl Command {
    /// Parses `CNI_COMMAND`.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "GC" => Command::Gc,
            "STATUS" => Command::Status,
            "VERSION" => Command::Version,
            other => {
                return Err(Error::InvalidEnv {
                    var: "CNI_COMMAND".into(),
                    reason: format!("unknown command {other:?}"),
                });
            }
        })
    }

    /// The `CNI_COMMAND` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Gc => "GC",
            Command::Status => "STATUS",
            Command::Version => "VERSION",
        }
    }

    /// The environment variables the spec requires for this command.
    pub fn required_env(self) -> &'static [&'static str] {
        match self {
            Command::Add | Command::Check => &[CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME],
            Command::Del => &[CNI_CONTAINERID, CNI_IFNAME],
            Command::Gc | Command::Status | Command::Version => &[],
        }
    }
}

/// `CNI_COMMAND`.
pub const CNI_COMMAND: &str = "CNI_COMMAND";
/// `CNI_CONTAINERID`.
pub const CNI_CONTAINERID: &str = "CNI_CONTAINERID";
/// `CNI_NETNS`.
pub const CNI_NETNS: &str = "CNI_NETNS";
/// `CNI_IFNAME`.
pub const CNI_IFNAME: &str = "CNI_IFNAME";
/// `CNI_ARGS`.
pub const CNI_ARGS: &str = "CNI_ARGS";
/// `CNI_PATH`.
pub const CNI_PATH: &str = "CNI_PATH";

/// Linux's interface name limit (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// The CNI parameters of one invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Env {
    /// The command.
    pub command: Command,
    /// `CNI_CONTAINERID` (empty for GC/STATUS/VERSION).
    pub container_id: String,
    /// `CNI_NETNS` (may be empty for DEL).
    pub netns: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS` as given.
    pub args_raw: String,
    /// `CNI_ARGS` parsed.
    pub args: CniArgs,
    /// `CNI_PATH` split on `:`.
    pub path: Vec<PathBuf>,
}

impl Env {
    /// Reads the parameters through `var` (usually `std::env::var`). Missing required
    /// variables are all named in one [`Error::MissingEnv`]. `known_args`: see
    /// [`CniArgs::parse`].
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        known_args: Option<&[&str]>,
    ) -> Result<Self> {
        let get = |k: &str| var(k).unwrap_or_default();
        let command_text = get(CNI_COMMAND);
        if command_text.is_empty() {
            return Err(Error::MissingEnv(vec![CNI_COMMAND.into()]));
        }
        let command = Command::parse(&command_text)?;
        let missing: Vec<String> = command
            .required_env()
            .iter()
            .filter(|k| get(k).is_empty())
            .map(|k| (*k).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingEnv(missing));
        }
        let env = Env {
            command,
            container_id: get(CNI_CONTAINERID),
            netns: get(CNI_NETNS),
            ifname: get(CNI_IFNAME),
            args_raw: get(CNI_ARGS),
            args: CniArgs::parse(&get(CNI_ARGS), known_args)?,
            path: std::env::split_paths(&get(CNI_PATH))
                .filter(|p| !p.as_os_str().is_empty())
                .collect(),
        };
        if !env.container_id.is_empty() {
            validate_container_id(&env.container_id)?;
        }
        if !env.ifname.is_empty() {
            validate_ifname(&env.ifname)?;
        }
        Ok(env)
    }

    /// The environment a delegated plugin runs with (`CNI_ARGS` replaced by `args`).
    pub fn delegate_vars(&self, command: Command, args: &str) -> Vec<(&'static str, String)> {
        let path = std::env::join_paths(&self.path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        vec![
            (CNI_COMMAND, command.as_str().to_owned()),
            (CNI_CONTAINERID, self.container_id.clone()),
            (CNI_NETNS, self.netns.clone()),
            (CNI_IFNAME, self.ifname.clone()),
            (CNI_ARGS, args.to_owned()),
            (CNI_PATH, path),
        ]
    }
}

/// Checks a container ID: non-empty, an alphanumeric first, then alphanumerics, `_`, `.`, `-`.
pub fn validate_container_id(id: &str) -> Result<()> {
    let mut chars = id.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidEnv {
            var: CNI_CONTAINERID.into(),
            reason: format!("invalid characters in container ID {id:?}"),
        })
    }
}

/// Checks an interface name as Linux does: 1–15 bytes, not `.`/`..`, no `/`, `:` or whitespace.
pub fn validate_ifname(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_IFNAME_LEN {
        Some("longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("is . or ..")
    } else if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        Some("contains '/', ':' or whitespace")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(r) => Err(Error::InvalidEnv {
            var: CNI_IFNAME.into(),
            reason: format!("interface name {name:?} {r}"),
        }),
    }
}

/// Checks a network name: an alphanumeric first, then alphanumerics, `_`, `.`, `-`.
pub fn validate_network_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::config(
            "name",
            format!("invalid characters found in network name {name:?}"),
        ))
    }
}

/// One invocation: the parameters and the configuration on stdin.
#[derive(Clone, Debug)]
pub struct Request {
    /// The parameters.
    pub env: Env,
    /// stdin as given (delegates get exactly this).
    pub stdin: Vec<u8>,
    /// stdin parsed.
    pub config: serde_json::Value,
    /// The configuration's `cniVersion`.
    pub cni_version: String,
}

/// What a command printed on success.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// A result (ADD; also printed for GC/STATUS/CHECK nothing).
    Result(CniResult),
    /// Nothing on stdout.
    Nothing,
}

/// A CNI plugin.
pub trait Plugin {
    /// The plugin's name in logs.
    fn name(&self) -> &'static str {
        "cni"
    }
    /// CNI_ARGS keys the plugin accepts without `IgnoreUnknown` (`None`: any).
    fn known_args(&self) -> Option<&'static [&'static str]> {
        None
    }
    /// ADD.
    fn add(&self, req: &Request) -> Result<CniResult>;
    /// DEL.
    fn del(&self, req: &Request) -> Result<()>;
    /// CHECK.
    fn check(&self, req: &Request) -> Result<()>;
    /// GC.
    fn gc(&self, req: &Request) -> Result<()>;
    /// STATUS.
    fn status(&self, req: &Request) -> Result<()>;
}

/// Parses a request from `var` and `stdin` and negotiates the version. For VERSION the
/// returned request has an empty config when stdin is empty.
pub fn parse_request(
    var: impl Fn(&str) -> Option<String>,
    stdin: Vec<u8>,
    known_args: Option<&[&str]>,
) -> std::result::Result<Request, (String, Error)> {
    // The version used in an error before the config's own is known.
    let fallback = version::LATEST.to_owned();
    let env = Env::from_vars(var, known_args).map_err(|e| (fallback.clone(), e))?;
    if env.command == Command::Version && stdin.iter().all(u8::is_ascii_whitespace) {
        return Ok(Request {
            env,
            stdin,
            config: serde_json::Value::Null,
            cni_version: version::LATEST.to_owned(),
        });
    }
    let config: serde_json::Value = serde_json::from_slice(&stdin).map_err(|e| {
        (
            fallback.clone(),
            Error::Decode {
                what: "network configuration on stdin".into(),
                reason: e.to_string(),
            },
        )
    })?;
    if !config.is_object() {
        return Err((
            fallback,
            Error::Decode {
                what: "network configuration on stdin".into(),
                reason: "not a JSON object".into(),
            },
        ));
    }
    let cni_version = match config.get("cniVersion") {
        None => version::DEFAULT_WHEN_MISSING.to_owned(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => {
            return Err((
                fallback,
                Error::config("cniVersion", format!("not a string: {other}")),
            ));
        }
    };
    let req = Request {
        env,
        stdin,
        config,
        cni_version,
    };
    if req.env.command != Command::Version {
        version::check(&req.cni_version, req.env.command)
            .map_err(|e| (req.cni_version.clone(), e))?;
    }
    Ok(req)
}

/// Runs one command of `plugin`: returns (exit code, stdout text).
pub fn dispatch(
    plugin: &dyn Plugin,
    var: impl Fn(&str) -> Option<String>,
    stdin: Vec<u8>,
) -> (i32, String) {
    let req = match parse_request(var, stdin, plugin.known_args()) {
        Ok(r) => r,
        Err((v, e)) => return error_output(&v, &e),
    };
    let started = std::time::Instant::now();
    let outcome = match req.env.command {
        Command::Version => {
            return (0, version::version_json(&req.cni_version).to_string());
        }
        Command::Add => plugin.add(&req).map(Output::Result),
        Command::Del => plugin.del(&req).map(|()| Output::Nothing),
        Command::Check => plugin.check(&req).map(|()| Output::Nothing),
        Command::Gc => plugin.gc(&req).map(|()| Output::Nothing),
        Command::Status => plugin.status(&req).map(|()| Output::Nothing),
    };
    let (code, out) = match outcome {
        Ok(Output::Result(r)) => (0, r.to_json(&req.cni_version).to_string()),
        Ok(Output::Nothing) => (0, String::new()),
        Err(e) => error_output(&req.cni_version, &e),
    };
    log::record(plugin.name(), &req, code, &out, started.elapsed());
    (code, out)
}

fn error_output(cni_version: &str, e: &Error) -> (i32, String) {
    let json = serde_json::to_string(&e.to_json(cni_version)).unwrap_or_else(|_| {
        format!(r#"{{"cniVersion":"{cni_version}","code":999,"msg":"unprintable error"}}"#)
    });
    (1, json)
}

/// The process entry point: reads the real environment and stdin, runs `plugin`, prints the
/// result or error JSON and returns the exit code.
pub fn main(plugin: &dyn Plugin) -> i32 {
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        let (code, out) = error_output(
            version::LATEST,
            &Error::Io {
                what: "reading stdin".into(),
                source: e,
            },
        );
        println!("{out}");
        return code;
    }
    let (code, out) = dispatch(plugin, |k| std::env::var(k).ok(), stdin);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    if !out.is_empty() {
        let _ = stdout.write_all(b"\n");
    }
    let _ = stdout.flush();
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn missing_env_names_them() {
        let e = Env::from_vars(vars(&[("CNI_COMMAND", "ADD")]), None).err();
        let text = e.as_ref().map(ToString::to_string).unwrap_or_default();
        assert_eq!(e.map(|e| e.code()), Some(4));
        for v in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] {
            assert!(text.contains(v), "{text}");
        }
        let del = Env::from_vars(
            vars(&[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "c1"),
                ("CNI_IFNAME", "eth0"),
            ]),
            None,
        );
        assert!(del.is_ok());
        assert!(Env::from_vars(vars(&[("CNI_COMMAND", "GC")]), None).is_ok());
        assert!(Env::from_vars(vars(&[("CNI_COMMAND", "NOPE")]), None).is_err());
        assert!(Env::from_vars(vars(&[]), None).is_err());
    }

    #[test]
    fn validates_ids_and_names() {
        assert!(validate_container_id("abc-1_2.3").is_ok());
        assert!(validate_container_id("-abc").is_err());
        assert!(validate_container_id("a/b").is_err());
        assert!(validate_ifname("eth0").is_ok());
        assert!(validate_ifname("0123456789abcdef").is_err());
        assert!(validate_ifname("a b").is_err());
        assert!(validate_network_name("k8s-pod-network").is_ok());
        assert_eq!(
            validate_network_name("bad name").map_err(|e| e.code()),
            Err(7)
        );
        assert!(validate_network_name("").is_err());
    }

    #[test]
    fn request_errors_have_codes() {
        let env = vars(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", "/x"),
            ("CNI_IFNAME", "eth0"),
        ]);
        let code = |stdin: &str| {
            parse_request(&env, stdin.as_bytes().to_vec(), None)
                .err()
                .map(|(_, e)| e.code())
        };
        assert_eq!(code("{"), Some(6));
        assert_eq!(code("[]"), Some(6));
        assert_eq!(code(r#"{"cniVersion":"0.1.0"}"#), Some(1));
        assert_eq!(code(r#"{"cniVersion":7}"#), Some(7));
        assert_eq!(code(r#"{}"#), Some(1));
        assert_eq!(code(r#"{"cniVersion":"1.0.0"}"#), None);
    }

    #[test]
    fn version_command() {
        struct Nop;
        impl Plugin for Nop {
            fn add(&self, _: &Request) -> Result<CniResult> {
                Ok(CniResult::default())
            }
            fn del(&self, _: &Request) -> Result<()> {
                Ok(())
            }
            fn check(&self, _: &Request) -> Result<()> {
                Ok(())
            }
            fn gc(&self, _: &Request) -> Result<()> {
                Ok(())
            }
            fn status(&self, _: &Request) -> Result<()> {
                Ok(())
            }
        }
        let (code, out) = dispatch(
            &Nop,
            vars(&[("CNI_COMMAND", "VERSION")]),
            br#"{"cniVersion":"0.4.0"}"#.to_vec(),
        );
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        assert_eq!(v["cniVersion"], "0.4.0");
        assert_eq!(v["supportedVersions"].as_array().map(Vec::len), Some(5));
        let (code, out) = dispatch(&Nop, vars(&[("CNI_COMMAND", "VERSION")]), vec![]);
        assert_eq!(code, 0, "{out}");
        let (code, out) = dispatch(&Nop, vars(&[("CNI_COMMAND", "ADD")]), vec![]);
        assert_eq!(code, 1);
        let e: ErrorJson = serde_json::from_str(&out).unwrap_or(ErrorJson {
            cni_version: String::new(),
            code: 0,
            msg: String::new(),
            details: String::new(),
        });
        assert_eq!(e.code, 4);
    }
}
