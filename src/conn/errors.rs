//! What went wrong talking to Redis, in words an operator can act on; never with a password.

use redis::{ErrorKind, RedisError, ServerErrorKind};

/// A start-up failure, naming where we tried (URL masked).
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to Redis at {url}: {cause}{}", hint.map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct ConnectError {
    pub url: String,
    /// Not a `#[source]`: its text is in the message already, and a chain would repeat it.
    pub cause: RedisError,
    pub hint: Option<&'static str>,
}

impl ConnectError {
    pub fn new(url: &str, cause: RedisError) -> Self {
        ConnectError {
            url: url.to_string(),
            hint: hint(&cause),
            cause,
        }
    }
}

/// Errors after which the connection (or the node behind it) cannot be trusted any more.
pub fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly)
                | ErrorKind::Server(ServerErrorKind::MasterDown)
                | ErrorKind::Server(ServerErrorKind::BusyLoading)
                | ErrorKind::AuthenticationFailed
        )
        || says_replica(e)
}

/// READONLY (or MASTERDOWN) wrapped in a script error or an aborted transaction: the node is
/// a replica now.
fn says_replica(e: &RedisError) -> bool {
    let s = e.to_string();
    s.contains("READONLY") || s.contains("MASTERDOWN") || s.contains("read only replica")
}

pub(crate) fn is_auth_error(e: &RedisError) -> bool {
    e.kind() == ErrorKind::AuthenticationFailed || {
        let s = e.to_string();
        s.contains("WRONGPASS") || s.contains("NOAUTH") || s.contains("invalid password")
    }
}

/// The database index of the URL does not exist on the server (`redis://host/99`).
pub(crate) fn is_bad_database(e: &RedisError) -> bool {
    let s = e.to_string();
    s.contains("DB index is out of range") || s.contains("invalid DB index")
}

/// A command we need is refused for good: not allowed by the user's ACL, or renamed away.
pub(crate) fn is_refused_command(e: &RedisError) -> bool {
    e.code() == Some("NOPERM") || {
        let s = e.to_string();
        s.contains("NOPERM") || s.contains("unknown command")
    }
}

/// What to check, for the failures with an obvious suspect.
pub(crate) fn hint(e: &RedisError) -> Option<&'static str> {
    if is_bad_database(e) {
        Some("the database index (the URL's /N) is out of range for this server: see its `databases` setting")
    } else if is_refused_command(e) {
        Some("the Redis user may not run a command the worker needs (ACL) or it was renamed: allow PING, EVALSHA, SCRIPT LOAD, the key commands and MULTI/EXEC (docs/redis.md)")
    } else if is_auth_error(e) {
        Some("check the user and password: --redis-password / REDIS_PASSWORD or the URL's, and --sentinel-password / REDIS_SENTINEL_PASSWORD for sentinels")
    } else if super::tls::is_trust_error(e) {
        Some("the server's TLS certificate is not trusted for this host: check --redis-ca-file / REDIS_CA_FILE")
    } else if e.kind() == ErrorKind::MasterNameNotFoundBySentinel {
        Some("check --sentinel-master / REDIS_SENTINEL_MASTER")
    } else if e.is_connection_refusal() || e.is_timeout() {
        Some("is Redis running and reachable from here?")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readonly_inside_a_script_counts() {
        let e = RedisError::from((
            ErrorKind::Extension,
            "script",
            "READONLY You can't write against a read only replica.".to_string(),
        ));
        assert!(is_connection_error(&e));
        let e = RedisError::from((ErrorKind::Extension, "x", "WRONGTYPE".to_string()));
        assert!(!is_connection_error(&e));
    }

    #[test]
    fn errors_retrying_cannot_fix() {
        let e = RedisError::from((
            ErrorKind::Server(ServerErrorKind::ResponseError),
            "An error was signalled by the server",
            "DB index is out of range".to_string(),
        ));
        assert!(is_bad_database(&e) && super::super::is_permanent(&e));
        assert!(hint(&e).unwrap().contains("databases"));
        let e = RedisError::from((
            ErrorKind::Extension,
            "x",
            "NOPERM User app has no permissions to run the 'eval' command".to_string(),
        ));
        assert!(is_refused_command(&e) && super::super::is_permanent(&e));
    }

    #[test]
    fn start_up_errors_say_what_to_check() {
        let e = RedisError::from((
            ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        let msg = ConnectError::new("redis://:***@h:1", e).to_string();
        assert!(
            msg.starts_with("cannot connect to Redis at redis://:***@h:1: "),
            "{msg}"
        );
        assert!(msg.contains("REDIS_PASSWORD"), "{msg}");
    }
}
