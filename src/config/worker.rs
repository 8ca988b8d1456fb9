//! The worker's flags (arq's `WorkerSettings`) -> [`WorkerSettings`], and where the admin
//! server listens.

use super::common::Common;
use super::errors::{bad, ConfigError};
use super::values::{byte_size, name_without_spaces, seconds};
use crate::protocol::cron::CronTz;
use crate::worker::WorkerSettings;
use clap::Args as ClapArgs;
use std::time::Duration;

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
    /// arq's TTL (longest timeout + 10 s). The default rides out a Sentinel failover
    /// (down-after 30 s) without another worker re-running the jobs.
    #[arg(long, env = "LYANNA_HEARTBEAT_TTL", default_value_t = 60.0)]
    pub heartbeat_ttl: f64,
    /// This worker's name in logs and Redis (default: derived from the host or pod name).
    #[arg(long, env = "LYANNA_WORKER_ID")]
    pub worker_id: Option<String>,
    /// Key of the health-check string (default arq's `{queue}:health-check`); `--check`
    /// reads it too.
    #[arg(long, env = "LYANNA_HEALTH_CHECK_KEY")]
    pub health_check_key: Option<String>,
    /// A job that raises Retry or is cancelled at shutdown fails instead of being retried
    /// (arq's retry_jobs=False).
    #[arg(long, env = "LYANNA_NO_RETRY_JOBS")]
    pub no_retry_jobs: bool,
    /// Never claim jobs ahead of free slots: a claim goes out only for slots free now, as
    /// Python arq claims (by default, while the recent jobs each took under 5 ms and no
    /// claimed payload reached 64 KiB, a claim may take up to max_jobs more jobs, which wait
    /// for a slot: see BENCHMARKS.md).
    #[arg(long, env = "LYANNA_NO_CLAIM_AHEAD")]
    pub no_claim_ahead: bool,
    /// Hard cap of a job's decoded payload: bytes, or with a K, M or G suffix (binary:
    /// 1K = 1024).
    #[arg(long, env = "LYANNA_MAX_JOB_MEMORY", default_value = "256M")]
    pub max_job_memory: String,
    /// Queued ids looked at per poll (default max(max_jobs * 5, 100)).
    #[arg(long, env = "LYANNA_QUEUE_READ_LIMIT")]
    pub queue_read_limit: Option<i64>,
    /// Time zone for cron schedules (IANA name or +HH:MM), arq's `timezone` setting; default
    /// the system's offset at start (as Python arq; ARQ_TIMEZONE and TIMEZONE do not apply).
    #[arg(long, env = "LYANNA_TIMEZONE")]
    pub timezone: Option<String>,
    /// Seconds a readiness PING may take before /readyz turns 503 (Redis gone silent).
    #[arg(long, env = "LYANNA_READY_TIMEOUT", default_value_t = 1.5)]
    pub ready_timeout: f64,
    /// Admin HTTP address for /livez, /readyz, /metrics; "off" disables it.
    #[arg(long, env = "LYANNA_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: String,
}

/// Where the admin server listens.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpAddr {
    Off,
    At(std::net::SocketAddr),
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
            timezone: self.cron_timezone(crate::protocol::now_ms())?,
            worker_id: match &self.worker_id {
                None => None,
                Some(id) => Some(name_without_spaces(id, "--worker-id", "LYANNA_WORKER_ID")?),
            },
            health_check_key: self.explicit_health_check_key()?,
            retry_jobs: !self.no_retry_jobs,
            claim_ahead: !self.no_claim_ahead,
            max_job_memory: byte_size(
                &self.max_job_memory,
                "--max-job-memory",
                "LYANNA_MAX_JOB_MEMORY",
            )?,
        })
    }

    fn explicit_health_check_key(&self) -> Result<Option<String>, ConfigError> {
        match self.health_check_key.as_deref() {
            None => Ok(None),
            Some("") => Err(bad(
                "--health-check-key",
                "LYANNA_HEALTH_CHECK_KEY",
                "must not be empty",
            )),
            Some(k) => Ok(Some(k.to_string())),
        }
    }

    /// The key `--check` reads and the worker writes: `--health-check-key`, else arq's
    /// `{queue}:health-check`.
    pub fn health_check_key(&self, queue: &str) -> Result<String, ConfigError> {
        Ok(self
            .explicit_health_check_key()?
            .unwrap_or_else(|| crate::protocol::keys::health(queue)))
    }

    /// The zone cron schedules are computed in, as arq 0.28 chooses it: the worker's
    /// `timezone` setting (here `--timezone`), else the system's local offset at start
    /// (`datetime.now().astimezone().tzinfo`: `TZ`, else /etc/localtime; a fixed offset, so
    /// it does not follow a later DST change). arq's `ARQ_TIMEZONE` / `TIMEZONE` variables
    /// only change how `ms_to_datetime` shows times (and only with pytz installed), never
    /// cron: they are ignored here too. `start_ms`: when the worker starts.
    pub fn cron_timezone(&self, start_ms: i64) -> Result<CronTz, ConfigError> {
        match self.timezone.as_deref() {
            None | Some("") => Ok(CronTz::local_fixed_at(start_ms)),
            Some(name) => CronTz::parse(name).ok_or_else(|| {
                bad(
                    "--timezone",
                    "LYANNA_TIMEZONE",
                    format!("{name:?} is not a known IANA time zone or a +HH:MM offset"),
                )
            }),
        }
    }

    /// How long a readiness PING may take (`--ready-timeout`).
    pub fn ready_timeout(&self) -> Result<Duration, ConfigError> {
        seconds(
            self.ready_timeout,
            "--ready-timeout",
            "LYANNA_READY_TIMEOUT",
            false,
        )
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
    use crate::config::parse_for_test as parse;
    use std::time::Duration;

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

    #[test]
    fn new_worker_settings() {
        let cli = parse(&["--settings", "Diagnostics"]);
        let s = cli.worker.settings(&cli.common).unwrap();
        assert_eq!(s.heartbeat_ttl, Some(Duration::from_secs(60)));
        assert_eq!(s.worker_id, None);
        assert_eq!(s.health_check_key, None);
        assert_eq!(s.health_key(), "arq:queue:health-check");
        assert!(s.retry_jobs);
        assert_eq!(
            s.max_job_memory,
            crate::worker::settings::DEFAULT_MAX_JOB_MEMORY
        );
        assert_eq!(
            cli.worker.ready_timeout().unwrap(),
            crate::conn::DEFAULT_READY_TIMEOUT
        );
        let cli = parse(&[
            "--worker-id",
            "pod-a-7",
            "--health-check-key",
            "blog:hc",
            "--no-retry-jobs",
            "--max-job-memory",
            "64M",
            "--heartbeat-ttl",
            "0",
        ]);
        let s = cli.worker.settings(&cli.common).unwrap();
        assert_eq!(s.worker_id.as_deref(), Some("pod-a-7"));
        assert_eq!(s.health_key(), "blog:hc");
        assert_eq!(cli.worker.health_check_key("q").unwrap(), "blog:hc");
        assert!(!s.retry_jobs);
        assert_eq!(s.max_job_memory, 64 << 20);
        assert_eq!(s.heartbeat_ttl, None);
        assert_eq!(
            parse(&[]).worker.health_check_key("q").unwrap(),
            "q:health-check"
        );
    }

    #[test]
    fn bad_new_settings_name_flag_and_env() {
        let cases: &[(&[&str], &str, &str)] = &[
            (&["--worker-id", "a b"], "--worker-id", "LYANNA_WORKER_ID"),
            (
                &["--ready-timeout", "0"],
                "--ready-timeout",
                "LYANNA_READY_TIMEOUT",
            ),
            (&["--worker-id="], "--worker-id", "LYANNA_WORKER_ID"),
            (
                &["--health-check-key="],
                "--health-check-key",
                "LYANNA_HEALTH_CHECK_KEY",
            ),
            (
                &["--max-job-memory", "lots"],
                "--max-job-memory",
                "LYANNA_MAX_JOB_MEMORY",
            ),
            (
                &["--max-job-memory", "0"],
                "--max-job-memory",
                "LYANNA_MAX_JOB_MEMORY",
            ),
        ];
        for (args, flag, env) in cases {
            let cli = parse(args);
            let e = cli
                .worker
                .settings(&cli.common)
                .and(cli.worker.ready_timeout().map(drop))
                .unwrap_err();
            assert_eq!(e.flag, *flag, "{args:?}");
            assert!(e.to_string().contains(env), "{e}");
        }
    }
}
