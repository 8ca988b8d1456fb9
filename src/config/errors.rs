//! A setting that failed validation: exit 64, naming the flag and its environment variable.

/// EX_USAGE: the command was used incorrectly (bad flag, bad environment value).
pub const EXIT_USAGE: i32 = 64;

/// A setting that failed validation.
#[derive(Debug, thiserror::Error)]
#[error("invalid {flag} (env {env}): {problem}")]
pub struct ConfigError {
    pub flag: &'static str,
    pub env: &'static str,
    pub problem: String,
}

pub(super) fn bad(
    flag: &'static str,
    env: &'static str,
    problem: impl Into<String>,
) -> ConfigError {
    ConfigError {
        flag,
        env,
        problem: problem.into(),
    }
}
