//! Command line and environment -> a validated configuration. Every bad value is reported
//! naming its flag and environment variable, with exit code 64 (EX_USAGE), before anything
//! connects.

use crate::codec::Codec;
use crate::conn::{parse_sentinels, RedisSettings, Secret, SentinelAddr, DEFAULT_MASTER_NAME};
use crate::protocol::cron::CronTz;
use crate::worker::WorkerSettings;
use clap::{Args as ClapArgs, Parser, Subcommand};
use std::time::Duration;

/// EX_USAGE: the command was used incorrectly (bad flag, bad environment value).
pub const EXIT_USAGE: i32 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "lyanna-worker",
    version,
    about = "A Rust worker and client for Python arq's Redis job queue"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub worker: WorkerFlags,
    #[command(subcommand)]
    pub command: Option<Command>,
}

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
            .finish()
    }
}

/// The worker's flags (arq's WorkerSettings).
#[derive(ClapArgs, Debug)]
pub struct WorkerFlags {
    /// Task set to serve: Diagnostics or WorkerSettings.
    #[arg(long, env = "LYANNA_SETTINGS")]
    pub settings: Option<String>,
    /// Exit when the queue is empty.
    #[arg(long, env = "LYANNA_BURST")]
    pub burst: bool,
    /// Exit 0 if the queue's health key exists (a worker is alive), 1 otherwise.
    #[arg(long)]
    pub check: bool,
    /// Jobs run at once.
    #[arg(long, env = "LYANNA_MAX_JOBS", default_value_t = 10)]
    pub max_jobs: i64,
    /// Default job timeout, seconds.
    #[arg(long, env = "LYANNA_JOB_TIMEOUT", default_value_t = 300.0)]
    pub job_timeout: f64,
    /// Seconds between polls when idle.
    #[arg(long, env = "LYANNA_POLL_DELAY", default_value_t = 0.5)]
    pub poll_delay: f64,
    /// Seconds results are kept (0: not stored).
    #[arg(long, env = "LYANNA_KEEP_RESULT", default_value_t = 3600.0)]
    pub keep_result: f64,
    /// Keep results without expiry.
    #[arg(long, env = "LYANNA_KEEP_RESULT_FOREVER")]
    pub keep_result_forever: bool,
    /// Tries before a job fails with "max N retries exceeded".
    #[arg(long, env = "LYANNA_MAX_TRIES", default_value_t = 5)]
    pub max_tries: i64,
    /// Honour abort requests.
    #[arg(long, env = "LYANNA_ALLOW_ABORT_JOBS")]
    pub allow_abort_jobs: bool,
    /// In burst mode, stop after starting this many jobs (-1: no limit).
    #[arg(long, env = "LYANNA_MAX_BURST_JOBS", default_value_t = -1, allow_negative_numbers = true)]
    pub max_burst_jobs: i64,
    /// Seconds between health-key writes.
    #[arg(long, env = "LYANNA_HEALTH_CHECK_INTERVAL", default_value_t = 60.0)]
    pub health_check_interval: f64,
    /// Seconds to let running jobs finish at shutdown before cancelling (they are retried).
    #[arg(long, env = "LYANNA_JOB_COMPLETION_WAIT", default_value_t = 0.0)]
    pub job_completion_wait: f64,
    /// Seconds our in-progress keys live without a heartbeat (crash recovery time); 0 keeps
    /// arq's TTL (longest timeout + 10 s).
    #[arg(long, env = "LYANNA_HEARTBEAT_TTL", default_value_t = 60.0)]
    pub heartbeat_ttl: f64,
    /// This worker's identity; default: `{host name}/{lowest free slot}`.
    #[arg(long, env = "LYANNA_WORKER_ID")]
    pub worker_id: Option<String>,
    /// The health key (arq's health_check_key); default `{queue}:health-check`.
    #[arg(long, env = "LYANNA_HEALTH_CHECK_KEY")]
    pub health_check_key: Option<String>,
    /// arq's retry_jobs=False: a Retry (or a cancellation) fails the job.
    #[arg(long, env = "LYANNA_NO_RETRY_JOBS")]
    pub no_retry_jobs: bool,
    /// Queued ids looked at per poll (default max(max_jobs * 5, 100)).
    #[arg(long, env = "LYANNA_QUEUE_READ_LIMIT")]
    pub queue_read_limit: Option<i64>,
    /// Time zone for cron schedules (IANA name); default ARQ_TIMEZONE, TIMEZONE, else the
    /// system's current offset (as Python arq).
    #[arg(long, env = "LYANNA_TIMEZONE")]
    pub timezone: Option<String>,
    /// Admin HTTP address for /livez, /readyz, /metrics; "off" disables it.
    #[arg(long, env = "LYANNA_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Enqueue FUNCTION(ARG..., K=V...); prints the job id.
    Enqueue {
        function: String,
        /// Positional arguments, each parsed as JSON, else taken as a string.
        args: Vec<String>,
        /// Keyword argument K=V (V parsed as JSON, else a string); repeatable.
        #[arg(long = "kwarg", value_name = "K=V")]
        kwargs: Vec<String>,
        #[arg(long)]
        job_id: Option<String>,
        /// Seconds to defer the job by.
        #[arg(long, conflicts_with = "defer_until")]
        defer_by: Option<f64>,
        /// Start no earlier than TIME (RFC 3339, or Unix seconds).
        #[arg(long)]
        defer_until: Option<String>,
        /// Seconds after which the job is dropped if not started.
        #[arg(long)]
        expires: Option<f64>,
    },
    /// Print a job's status: deferred, queued, in_progress, complete or not_found.
    Status { id: String },
    /// Print a job's result as JSON; exit 1 if the job failed, 2 if there is no result.
    Result {
        id: String,
        /// Seconds to wait for the result.
        #[arg(long, default_value_t = 0.0)]
        wait: f64,
    },
    /// Abort a job; exit 0 if it ended aborted within --wait seconds.
    Abort {
        id: String,
        #[arg(long, default_value_t = 5.0)]
        wait: f64,
    },
    /// Counts of queued, deferred, in-progress jobs and stored results.
    Queue {
        #[arg(long)]
        json: bool,
    },
}

/// A setting that failed validation.
#[derive(Debug, thiserror::Error)]
#[error("invalid {flag} (env {env}): {problem}")]
pub struct ConfigError {
    pub flag: &'static str,
    pub env: &'static str,
    pub problem: String,
}

fn bad(flag: &'static str, env: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        flag,
        env,
        problem: problem.into(),
    }
}

fn seconds(
    v: f64,
    flag: &'static str,
    env: &'static str,
    allow_zero: bool,
) -> Result<Duration, ConfigError> {
    if !v.is_finite() || v < 0.0 || (!allow_zero && v == 0.0) {
        let need = if allow_zero {
            "zero or more seconds"
        } else {
            "more than zero seconds"
        };
        return Err(bad(flag, env, format!("{v} is not {need}")));
    }
    Duration::try_from_secs_f64(v).map_err(|e| bad(flag, env, e.to_string()))
}

/// Where the admin server listens.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpAddr {
    Off,
    At(std::net::SocketAddr),
}

impl Common {
    pub fn codec(&self) -> Result<Codec, ConfigError> {
        self.codec
            .parse()
            .map_err(|e: String| bad("--codec", "LYANNA_CODEC", e))
    }

    pub fn redis(&self) -> Result<RedisSettings, ConfigError> {
        self.redis_with_env(|k| std::env::var(k).ok())
    }

    /// [`Common::redis`] with the environment passed in (the blog's sentinel variables are
    /// read here, not by clap), so tests need not touch the process environment.
    pub fn redis_with_env(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<RedisSettings, ConfigError> {
        let url = &self.redis_url;
        if !(url.starts_with("redis://")
            || url.starts_with("rediss://")
            || url.starts_with("unix://"))
        {
            return Err(bad(
                "--redis-url",
                "REDIS_URL",
                format!(
                    "{} is not a redis://, rediss:// or unix:// URL",
                    crate::conn::mask_url(url)
                ),
            ));
        }
        redis::Client::open(url.as_str()).map_err(|e| {
            bad(
                "--redis-url",
                "REDIS_URL",
                format!("{}: {e}", crate::conn::mask_url(url)),
            )
        })?;
        let mut settings = RedisSettings::from_url(url.clone());
        settings.password = self.redis_password.clone();
        settings.sentinels = self.sentinels(&env)?;
        if !settings.sentinels.is_empty() && url.starts_with("unix://") {
            return Err(bad(
                "--redis-url",
                "REDIS_URL",
                "a unix:// URL cannot be used with sentinels",
            ));
        }
        if self.sentinel_master.is_empty() {
            return Err(bad(
                "--sentinel-master",
                "REDIS_SENTINEL_MASTER",
                "must not be empty",
            ));
        }
        settings.master_name = self.sentinel_master.clone();
        settings.sentinel_password = self.sentinel_password.clone();
        if let Some(path) = &self.redis_ca_file {
            crate::conn::read_ca_file(path)
                .map_err(|e| bad("--redis-ca-file", "REDIS_CA_FILE", e))?;
            settings.ca_file = Some(path.clone());
        }
        settings.connect_timeout = seconds(
            self.redis_connect_timeout,
            "--redis-connect-timeout",
            "REDIS_CONNECT_TIMEOUT",
            false,
        )?;
        settings.command_timeout = seconds(
            self.redis_command_timeout,
            "--redis-command-timeout",
            "REDIS_COMMAND_TIMEOUT",
            false,
        )?;
        Ok(settings)
    }

    /// `--sentinel`, else the blog's `REDIS_SENTINEL_SVC_HOST` with `REDIS_SENTINEL_SVC_PORT`
    /// (a port, or Kubernetes' own `tcp://ip:port` for a service of that name; its manifest's
    /// misspelt `REDIS_SENTINEL_SVC_POST` is accepted with a warning), else none.
    fn sentinels(
        &self,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<SentinelAddr>, ConfigError> {
        if let Some(list) = &self.sentinel {
            return parse_sentinels(list).map_err(|e| bad("--sentinel", "REDIS_SENTINEL", e));
        }
        let Some(host) = env("REDIS_SENTINEL_SVC_HOST").filter(|h| !h.trim().is_empty()) else {
            return Ok(Vec::new());
        };
        let (var, port) = match env("REDIS_SENTINEL_SVC_PORT") {
            Some(p) => ("REDIS_SENTINEL_SVC_PORT", Some(p)),
            None => match env("REDIS_SENTINEL_SVC_POST") {
                Some(p) => {
                    tracing::warn!(
                        "REDIS_SENTINEL_SVC_POST is a misspelling of REDIS_SENTINEL_SVC_PORT; \
                         using it"
                    );
                    ("REDIS_SENTINEL_SVC_POST", Some(p))
                }
                None => ("REDIS_SENTINEL_SVC_PORT", None),
            },
        };
        let port = match port.as_deref().map(str::trim) {
            None | Some("") => crate::conn::DEFAULT_SENTINEL_PORT,
            Some(p) => {
                let digits = p
                    .strip_prefix("tcp://")
                    .map_or(p, |a| a.rsplit_once(':').map_or(a, |(_, port)| port));
                match digits.parse::<u16>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(bad(var, var, format!("{p:?} is not a port"))),
                }
            }
        };
        let host = host.trim();
        let item = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        parse_sentinels(&item)
            .map_err(|e| bad("REDIS_SENTINEL_SVC_HOST", "REDIS_SENTINEL_SVC_HOST", e))
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

impl WorkerFlags {
    /// Resolves the worker settings; `queue` and `codec` come from the common flags.
    pub fn settings(&self, common: &Common) -> Result<WorkerSettings, ConfigError> {
        if self.max_jobs < 1 || self.max_jobs > 100_000 {
            return Err(bad(
                "--max-jobs",
                "LYANNA_MAX_JOBS",
                format!("{} is not between 1 and 100000", self.max_jobs),
            ));
        }
        if self.max_tries < 1 || self.max_tries > i64::from(u32::MAX) {
            return Err(bad(
                "--max-tries",
                "LYANNA_MAX_TRIES",
                format!("{} is not at least 1", self.max_tries),
            ));
        }
        if common.queue.is_empty() {
            return Err(bad("--queue", "LYANNA_QUEUE", "must not be empty"));
        }
        let max_jobs = self.max_jobs as usize;
        let queue_read_limit = match self.queue_read_limit {
            None => WorkerSettings::default_read_limit(max_jobs),
            Some(n) if n >= 1 => n as usize,
            Some(n) => {
                return Err(bad(
                    "--queue-read-limit",
                    "LYANNA_QUEUE_READ_LIMIT",
                    format!("{n} is not at least 1"),
                ))
            }
        };
        let heartbeat = seconds(
            self.heartbeat_ttl,
            "--heartbeat-ttl",
            "LYANNA_HEARTBEAT_TTL",
            true,
        )?;
        if !heartbeat.is_zero() && heartbeat < Duration::from_secs(3) {
            return Err(bad(
                "--heartbeat-ttl",
                "LYANNA_HEARTBEAT_TTL",
                "must be 0 (off) or at least 3 seconds",
            ));
        }
        Ok(WorkerSettings {
            queue_name: common.queue.clone(),
            codec: common.codec()?,
            max_jobs,
            job_timeout: seconds(
                self.job_timeout,
                "--job-timeout",
                "LYANNA_JOB_TIMEOUT",
                false,
            )?,
            poll_delay: seconds(self.poll_delay, "--poll-delay", "LYANNA_POLL_DELAY", false)?,
            queue_read_limit,
            keep_result: seconds(
                self.keep_result,
                "--keep-result",
                "LYANNA_KEEP_RESULT",
                true,
            )?,
            keep_result_forever: self.keep_result_forever,
            max_tries: self.max_tries as u32,
            health_check_interval: seconds(
                self.health_check_interval,
                "--health-check-interval",
                "LYANNA_HEALTH_CHECK_INTERVAL",
                false,
            )?,
            allow_abort_jobs: self.allow_abort_jobs,
            burst: self.burst,
            max_burst_jobs: self.max_burst_jobs,
            job_completion_wait: seconds(
                self.job_completion_wait,
                "--job-completion-wait",
                "LYANNA_JOB_COMPLETION_WAIT",
                true,
            )?,
            heartbeat_ttl: (!heartbeat.is_zero()).then_some(heartbeat),
            timezone: self.timezone()?,
            worker_id: match self.worker_id.as_deref() {
                Some(id) if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c == '|') => {
                    return Err(bad(
                        "--worker-id",
                        "LYANNA_WORKER_ID",
                        "must be non-empty, without whitespace or '|'",
                    ))
                }
                other => other.map(str::to_string),
            },
            health_check_key: self.health_check_key.clone(),
            retry_jobs: !self.no_retry_jobs,
            max_job_memory: WorkerSettings::default().max_job_memory,
        })
    }

    fn timezone(&self) -> Result<CronTz, ConfigError> {
        let named = self
            .timezone
            .clone()
            .map(|v| (v, "--timezone", "LYANNA_TIMEZONE"))
            .or_else(|| {
                std::env::var("ARQ_TIMEZONE")
                    .ok()
                    .map(|v| (v, "ARQ_TIMEZONE", "ARQ_TIMEZONE"))
            })
            .or_else(|| {
                std::env::var("TIMEZONE")
                    .ok()
                    .map(|v| (v, "TIMEZONE", "TIMEZONE"))
            })
            .filter(|(v, _, _)| !v.is_empty());
        match named {
            None => Ok(CronTz::local_fixed()),
            Some((name, flag, env)) => CronTz::parse(&name)
                .ok_or_else(|| bad(flag, env, format!("{name:?} is not a known IANA time zone"))),
        }
    }

    pub fn http_addr(&self) -> Result<HttpAddr, ConfigError> {
        if self.http_addr == "off" {
            return Ok(HttpAddr::Off);
        }
        self.http_addr.parse().map(HttpAddr::At).map_err(|_| {
            bad(
                "--http-addr",
                "LYANNA_HTTP_ADDR",
                format!("{:?} is not host:port or off", self.http_addr),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let mut v = vec!["lyanna-worker"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap()
    }

    #[test]
    fn defaults_match_arq() {
        let cli = parse(&["--settings", "Diagnostics"]);
        let s = cli.worker.settings(&cli.common).unwrap();
        assert_eq!(s.max_jobs, 10);
        assert_eq!(s.queue_read_limit, 100);
        assert_eq!(s.job_timeout, Duration::from_secs(300));
        assert_eq!(s.keep_result, Duration::from_secs(3600));
        assert_eq!(s.max_tries, 5);
        assert_eq!(s.queue_name, "arq:queue");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cli = parse(&["--max-jobs", "0"]);
        let e = cli.worker.settings(&cli.common).unwrap_err();
        assert_eq!(e.flag, "--max-jobs");
        assert!(e.to_string().contains("LYANNA_MAX_JOBS"));
        let cli = parse(&["--codec", "yaml"]);
        assert_eq!(
            cli.worker.settings(&cli.common).unwrap_err().flag,
            "--codec"
        );
        let cli = parse(&["--poll-delay=-1"]);
        assert_eq!(
            cli.worker.settings(&cli.common).unwrap_err().flag,
            "--poll-delay"
        );
        let cli = parse(&["--redis-url", "http://x"]);
        assert_eq!(cli.common.redis().unwrap_err().flag, "--redis-url");
        let cli = parse(&["--timezone", "Mars/Olympus"]);
        assert_eq!(
            cli.worker.settings(&cli.common).unwrap_err().flag,
            "--timezone"
        );
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn redis_settings_from_flags() {
        let cli = parse(&[
            "--redis-url",
            "redis://app:urlpw@h:6380/3",
            "--redis-password",
            "flagpw",
            "--sentinel",
            "s1:26379,s2:26380",
            "--sentinel-master",
            "blog",
            "--sentinel-password",
            "sentpw",
            "--redis-connect-timeout",
            "1.5",
            "--redis-command-timeout",
            "2",
        ]);
        let r = cli.common.redis_with_env(no_env).unwrap();
        assert_eq!(r.password.as_ref().map(|p| p.expose()), Some("flagpw"));
        assert_eq!(r.sentinels.len(), 2);
        assert_eq!(r.sentinels[1].port, 26380);
        assert_eq!(r.master_name, "blog");
        assert_eq!(r.connect_timeout, Duration::from_millis(1500));
        assert_eq!(r.command_timeout, Duration::from_secs(2));
        let shown = format!("{:?} {:?} {}", cli, r, r.display());
        for pw in ["urlpw", "flagpw", "sentpw"] {
            assert!(!shown.contains(pw), "{pw} leaked: {shown}");
        }
        let plain = parse(&[]).common.redis_with_env(no_env).unwrap();
        assert!(plain.sentinels.is_empty());
        assert_eq!(plain.master_name, "mymaster");
    }

    #[test]
    fn blog_sentinel_environment() {
        let cli = parse(&[]);
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let r = cli
            .common
            .redis_with_env(env(&[("REDIS_SENTINEL_SVC_HOST", "sentinel")]))
            .unwrap();
        assert_eq!(r.sentinels[0].to_string(), "sentinel:26379");
        let r = cli
            .common
            .redis_with_env(env(&[
                ("REDIS_SENTINEL_SVC_HOST", "sentinel"),
                ("REDIS_SENTINEL_SVC_POST", "26400"),
            ]))
            .unwrap();
        assert_eq!(r.sentinels[0].port, 26400);
        let r = cli
            .common
            .redis_with_env(env(&[
                ("REDIS_SENTINEL_SVC_HOST", "10.0.0.7"),
                ("REDIS_SENTINEL_SVC_PORT", "tcp://10.0.0.7:26390"),
            ]))
            .unwrap();
        assert_eq!(r.sentinels[0].to_string(), "10.0.0.7:26390");
        let e = cli
            .common
            .redis_with_env(env(&[
                ("REDIS_SENTINEL_SVC_HOST", "sentinel"),
                ("REDIS_SENTINEL_SVC_PORT", "http"),
            ]))
            .unwrap_err();
        assert!(e.to_string().contains("REDIS_SENTINEL_SVC_PORT"), "{e}");
        // An explicit --sentinel wins over the blog's variables.
        let cli = parse(&["--sentinel", "a:1"]);
        let r = cli
            .common
            .redis_with_env(env(&[("REDIS_SENTINEL_SVC_HOST", "sentinel")]))
            .unwrap();
        assert_eq!(r.sentinels[0].to_string(), "a:1");
    }

    #[test]
    fn bad_redis_settings_name_flag_and_env() {
        let cases: &[(&[&str], &str, &str)] = &[
            (
                &["--sentinel", "h:notaport"],
                "--sentinel",
                "REDIS_SENTINEL",
            ),
            (&["--sentinel", ""], "--sentinel", "REDIS_SENTINEL"),
            (
                &["--sentinel-master", ""],
                "--sentinel-master",
                "REDIS_SENTINEL_MASTER",
            ),
            (
                &["--redis-ca-file", "/nonexistent/ca.pem"],
                "--redis-ca-file",
                "REDIS_CA_FILE",
            ),
            (
                &["--redis-connect-timeout", "0"],
                "--redis-connect-timeout",
                "REDIS_CONNECT_TIMEOUT",
            ),
            (
                &["--redis-command-timeout=-1"],
                "--redis-command-timeout",
                "REDIS_COMMAND_TIMEOUT",
            ),
            (
                &["--redis-url", "unix:///tmp/r.sock", "--sentinel", "h"],
                "--redis-url",
                "REDIS_URL",
            ),
        ];
        for (args, flag, env) in cases {
            let e = parse(args).common.redis_with_env(no_env).unwrap_err();
            assert_eq!(e.flag, *flag, "{args:?}");
            assert!(e.to_string().contains(env), "{e}");
        }
    }
}
