//! The error type of every dataplane driver.

/// A dataplane failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An update referred to something the dataplane does not have (for example a delta to
    /// an IP set that was never created).
    #[error("inconsistent update: {0}")]
    Inconsistent(String),
    /// The kernel (or the tool in between, such as `nft`) refused a change.
    #[error("{tool} refused {object}: {reason}")]
    Kernel {
        /// The tool or interface (`nft`, `netlink`, `sysctl`).
        tool: &'static str,
        /// The object that failed (chain, set, route, …).
        object: String,
        /// What it said.
        reason: String,
    },
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The backend is not supported here (not root, tool missing, kernel feature absent).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Configuration names an unknown backend or an invalid value.
    #[error("config {field}: {reason}")]
    Config {
        /// The configuration field.
        field: String,
        /// Why it is wrong.
        reason: String,
    },
}

impl Error {
    /// An [`Error::Io`] with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
