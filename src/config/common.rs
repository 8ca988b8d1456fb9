//! Flags every command takes: where Redis is (URL, passwords, sentinels, TLS, timeouts), the
//! queue, the codec and the log format. Passwords are [`Secret`]s; `Debug` masks the URL.

use super::errors::{bad, ConfigError};
use crate::codec::Codec;
use crate::conn::{Secret, DEFAULT_MASTER_NAME};
use clap::Args as ClapArgs;

/// Flags every command takes.
#[derive(ClapArgs)]
pub struct Common {
    /// Redis URL (redis:// or rediss://, with user:password@ and /db as needed). With
    /// --sentinel only its scheme, user, password and database are used.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://localhost:6379",
        global = true,
        hide_env_values = true
    )]
    pub redis_url: String,
    /// Redis password; replaces (or adds) the URL's, so a Secret can hold it apart.
    #[arg(long, env = "REDIS_PASSWORD", global = true, hide_env_values = true)]
    pub redis_password: Option<Secret>,
    /// Sentinels to ask for the master: host:port[,host:port...]. Also taken from
    /// REDIS_SENTINEL_SVC_HOST and REDIS_SENTINEL_SVC_PORT (default 26379).
    #[arg(
        long,
        env = "REDIS_SENTINEL",
        global = true,
        value_name = "HOST:PORT,..."
    )]
    pub sentinel: Option<String>,
    /// The master's name at the sentinels.
    #[arg(long, env = "REDIS_SENTINEL_MASTER", default_value = DEFAULT_MASTER_NAME, global = true)]
    pub sentinel_master: String,
    /// The sentinels' own password (their requirepass).
    #[arg(
        long,
        env = "REDIS_SENTINEL_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub sentinel_password: Option<Secret>,
    /// PEM file of the CAs to trust for rediss:// (default: the built-in web roots).
    #[arg(long, env = "REDIS_CA_FILE", global = true)]
    pub redis_ca_file: Option<std::path::PathBuf>,
    /// Seconds to wait for a Redis connection (TCP, TLS and AUTH).
    #[arg(
        long,
        env = "REDIS_CONNECT_TIMEOUT",
        default_value_t = 5.0,
        global = true
    )]
    pub redis_connect_timeout: f64,
    /// Seconds to wait for the reply to one Redis command.
    #[arg(
        long,
        env = "REDIS_COMMAND_TIMEOUT",
        default_value_t = 10.0,
        global = true
    )]
    pub redis_command_timeout: f64,
    /// Queue name (the sorted set's key).
    #[arg(long, env = "LYANNA_QUEUE", default_value = "arq:queue", global = true)]
    pub queue: String,
    /// Serializer shared by every producer and worker of the queue: pickle, msgpack or json.
    #[arg(long, env = "LYANNA_CODEC", default_value = "pickle", global = true)]
    pub codec: String,
    /// Log format: text or json.
    #[arg(long, env = "LYANNA_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: String,
    /// Least severe log level written: error, warn, info (arq's job lines), debug or trace.
    /// `warn` drops the two lines per job, for throughput deployments. RUST_LOG, when set,
    /// takes precedence (it can also set levels per module).
    #[arg(long, env = "LYANNA_LOG_LEVEL", default_value = "info", global = true)]
    pub log_level: String,
    /// Threads of the async runtime: N >= 1 runs jobs and Redis I/O on N worker threads;
    /// 0 runs everything on one thread (tokio's current_thread runtime). Big payloads are
    /// decoded on blocking threads either way.
    #[arg(
        long,
        env = "LYANNA_RUNTIME_THREADS",
        default_value_t = 2,
        global = true
    )]
    pub runtime_threads: usize,
}

/// Debug without secrets: the URL masked, passwords as `***`.
impl std::fmt::Debug for Common {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Common")
            .field("redis_url", &crate::conn::mask_url(&self.redis_url))
            .field("redis_password", &self.redis_password)
            .field("sentinel", &self.sentinel)
            .field("sentinel_master", &self.sentinel_master)
            .field("sentinel_password", &self.sentinel_password)
            .field("redis_ca_file", &self.redis_ca_file)
            .field("redis_connect_timeout", &self.redis_connect_timeout)
            .field("redis_command_timeout", &self.redis_command_timeout)
            .field("queue", &self.queue)
            .field("codec", &self.codec)
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("runtime_threads", &self.runtime_threads)
            .finish()
    }
}

impl Common {
    /// Every credential these flags carry, as written (the URL's userinfo, password and secret
    /// query values, `--redis-password`, `--sentinel-password`), so the log writer can scrub
    /// any that a library prints despite the masking.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = crate::conn::secrets_of(&self.redis_url);
        for s in [&self.redis_password, &self.sentinel_password]
            .into_iter()
            .flatten()
        {
            out.push(s.expose().to_string());
        }
        out.retain(|s| !s.is_empty());
        out.sort_by_key(|s| std::cmp::Reverse(s.len()));
        out.dedup();
        out
    }

    pub fn codec(&self) -> Result<Codec, ConfigError> {
        self.codec
            .parse()
            .map_err(|e: String| bad("--codec", "LYANNA_CODEC", e))
    }

    /// The `--log-level` as a filter directive.
    pub fn log_level(&self) -> Result<&'static str, ConfigError> {
        const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];
        let want = self.log_level.to_ascii_lowercase();
        LEVELS.into_iter().find(|l| *l == want).ok_or_else(|| {
            bad(
                "--log-level",
                "LYANNA_LOG_LEVEL",
                format!("{:?} is not one of {}", self.log_level, LEVELS.join(", ")),
            )
        })
    }

    pub fn json_logs(&self) -> Result<bool, ConfigError> {
        match self.log_format.as_str() {
            "text" => Ok(false),
            "json" => Ok(true),
            other => Err(bad(
                "--log-format",
                "LYANNA_LOG_FORMAT",
                format!("{other:?} is not text or json"),
            )),
        }
    }
}
