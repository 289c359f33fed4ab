//! The library's one error type. Every variant says what went wrong and where.

use std::path::PathBuf;

/// Errors of the aedyn library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration field has a value outside its allowed range.
    #[error("invalid config field `{field}`: {message}")]
    InvalidConfig {
        /// Dotted name of the offending field, e.g. `training.lr`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// Reading or writing a file failed.
    /// The system's message is part of this error's text, and deliberately not its
    /// `source()`, so that a printed error chain says it once.
    #[error("I/O error on `{path}`: {cause}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        cause: std::io::Error,
    },
    /// A file was read but its content is malformed.
    #[error("cannot parse `{path}`: {message}")]
    Parse {
        /// The file involved.
        path: PathBuf,
        /// What is malformed.
        message: String,
    },
    /// A combination of options that aedyn does not support (rather than a wrong number).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A state is invalid for the kernels (e.g. Q not positive definite).
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// The dynamics produced NaN/inf or blew up.
    #[error("{what} diverged at t = {time}: {detail}")]
    Diverged {
        /// Which run (e.g. `theory`, `simulation seed 3`).
        what: String,
        /// The time (t = steps/D) at which it was detected.
        time: f64,
        /// What was observed.
        detail: String,
    },
    /// Every replicate of a command failed (each one's reason is listed).
    #[error("every simulation seed failed: {0}")]
    AllSeedsFailed(String),
    /// The ODE integrator failed.
    #[error("ODE integration failed at t = {time}: {message}")]
    Integration {
        /// Time reached.
        time: f64,
        /// The integrator's reason.
        message: String,
    },
}

/// Shorthand result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Build an [`Error::InvalidConfig`].
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Attribute an error of the numerics ([`Error::InvalidState`]) to the config field
    /// whose value caused it; other errors pass through. Only the params layers call this.
    pub fn at(self, field: &str) -> Self {
        match self {
            Error::InvalidState(message) => Error::config(field, message),
            other => other,
        }
    }

    /// Place a config error of a neutral module (which names its field relative to its
    /// section, e.g. `spikes.2`) in the config section `section` (`data.spikes.2`); other
    /// errors pass through. Only the params layers call this.
    pub fn within(self, section: &str) -> Self {
        match self {
            Error::InvalidConfig { field, message } => Error::InvalidConfig {
                field: format!("{section}.{field}"),
                message,
            },
            other => other,
        }
    }

    /// Build an [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }

    /// Build an [`Error::Parse`].
    pub fn parse(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Parse {
            path: path.into(),
            message: message.into(),
        }
    }
}
