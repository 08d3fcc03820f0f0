//! One log line per invocation in `log_file_path` (Calico's CNI log file), filtered by
//! `log_level`: `debug` also records the output, `info` (default) every invocation,
//! `warning`/`error` only failures. Failures also go to stderr, which runtimes capture.
//! Logging never fails an invocation.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::Request;

/// Severity filter of the log file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Everything, with the output.
    Debug,
    /// One line per invocation.
    Info,
    /// Failures only.
    Warning,
}

impl Level {
    /// Parses Calico's `log_level` (case-insensitive; unknown values mean `info`).
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "debug" | "trace" => Level::Debug,
            "warning" | "warn" | "error" | "fatal" | "panic" => Level::Warning,
            _ => Level::Info,
        }
    }
}

/// The line for one invocation.
pub fn line(plugin: &str, req: &Request, code: i32, output: &str, elapsed: Duration) -> String {
    let level = if code == 0 { "info" } else { "error" };
    format!(
        "{} [{level}] {plugin} {} containerID={:?} netns={:?} ifname={:?} exit={code} took={}ms output={}",
        humantime::format_rfc3339_millis(std::time::SystemTime::now()),
        req.env.command.as_str(),
        req.env.container_id,
        req.env.netns,
        req.env.ifname,
        elapsed.as_millis(),
        output.trim(),
    )
}

/// Records an invocation according to the request's `log_file_path` and `log_level`.
pub fn record(plugin: &str, req: &Request, code: i32, output: &str, elapsed: Duration) {
    let text = line(plugin, req, code, output, elapsed);
    if code != 0 {
        eprintln!("{text}");
    }
    let Some(path) = req
        .config
        .get("log_file_path")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
    else {
        return;
    };
    let level = Level::parse(
        req.config
            .get("log_level")
            .and_then(|v| v.as_str())
            .unwrap_or("info"),
    );
    if code == 0 && level > Level::Info {
        return;
    }
    let text = if code == 0 && level > Level::Debug {
        // Results carry addresses only; still, keep info lines short.
        line(plugin, req, code, "", elapsed)
    } else {
        text
    };
    let path = Path::new(path);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(Level::parse("DEBUG"), Level::Debug);
        assert_eq!(Level::parse("info"), Level::Info);
        assert_eq!(Level::parse("error"), Level::Warning);
        assert_eq!(Level::parse("nonsense"), Level::Info);
    }
}
