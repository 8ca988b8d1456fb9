//! The common flags and the blog's sentinel variables -> [`RedisSettings`], validated.

use super::common::Common;
use super::errors::{bad, ConfigError};
use super::values::seconds;
use crate::conn::{parse_sentinels, RedisSettings, SentinelAddr};

impl Common {
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
        // Never echo a URL that does not parse: it may be a password in the wrong place.
        crate::conn::check_url_shape(url).map_err(|e| bad("--redis-url", "REDIS_URL", e))?;
        redis::Client::open(url.as_str()).map_err(|e| {
            bad(
                "--redis-url",
                "REDIS_URL",
                format!(
                    "{}: {}",
                    crate::conn::mask_url(url),
                    crate::conn::scrub(&e.to_string(), url)
                ),
            )
        })?;
        let mut settings = RedisSettings::from_url(url.clone());
        settings.password = self.redis_password.clone();
        settings.sentinels = self.sentinels(&env)?;
        if !settings.sentinels.is_empty()
            && (url.starts_with("unix://") || url.starts_with("redis+unix://"))
        {
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
}

#[cfg(test)]
mod tests {
    use crate::config::parse_for_test as parse;
    use std::time::Duration;

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

    #[test]
    fn malformed_urls_are_not_echoed() {
        for url in [
            "redis:/:PWa1@h",
            ":PWa1@h",
            "redis://:S3/cretPWa1@h",
            "redis://h:PWa1/0",
            "http://:PWa1@h",
        ] {
            let cli = parse(&["--redis-url", url]);
            let e = cli.common.redis_with_env(no_env).unwrap_err().to_string();
            assert!(e.contains("--redis-url") && e.contains("REDIS_URL"), "{e}");
            assert!(!e.contains("PWa1") && !e.contains("cret"), "{url}: {e}");
        }
    }
}
