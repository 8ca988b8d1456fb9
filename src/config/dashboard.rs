//! The dashboard's flags: whether `/ui` is served, the admin token that enables its actions
//! (a [`Secret`]: masked in `Debug`, scrubbed from the log and exit messages), and the Host
//! names it answers to besides loopback and IP literals.

use super::errors::{bad, ConfigError};
use crate::conn::Secret;
use crate::ui::hosts::AllowedHosts;
use clap::Args as ClapArgs;

#[derive(ClapArgs, Debug)]
pub struct DashboardFlags {
    /// The web dashboard under /ui on the admin server: on or off.
    #[arg(long = "ui", env = "LYANNA_UI", default_value = "on")]
    pub ui: String,
    /// Token that enables the dashboard's actions (abort, retry, delete); without it the
    /// dashboard is read-only. Give it through the environment (a Kubernetes Secret), not
    /// the command line, which other users of the host can read.
    #[arg(long, env = "LYANNA_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,
    /// Host names the dashboard answers to besides localhost and IP literals (any port), for
    /// reaching it by a Service or DNS name; other Hosts get 421 (against DNS rebinding).
    /// Comma list of NAME, .DOMAIN (it and its subdomains) or * (any Host).
    #[arg(
        long = "ui-allowed-hosts",
        env = "LYANNA_UI_ALLOWED_HOSTS",
        value_name = "HOST,..."
    )]
    pub ui_allowed_hosts: Option<String>,
}

impl DashboardFlags {
    pub fn enabled(&self) -> Result<bool, ConfigError> {
        match self.ui.as_str() {
            "on" => Ok(true),
            "off" => Ok(false),
            other => Err(bad(
                "--ui",
                "LYANNA_UI",
                format!("{other:?} is not on or off"),
            )),
        }
    }

    /// The token, if one is set; an empty one is refused (it would open the actions to all).
    pub fn token(&self) -> Result<Option<Secret>, ConfigError> {
        match &self.admin_token {
            Some(t) if t.expose().trim().is_empty() => Err(bad(
                "--admin-token",
                "LYANNA_ADMIN_TOKEN",
                "must not be empty",
            )),
            Some(t) => Ok(Some(Secret::new(t.expose().trim()))),
            None => Ok(None),
        }
    }

    pub fn allowed_hosts(&self) -> Result<AllowedHosts, ConfigError> {
        AllowedHosts::parse(self.ui_allowed_hosts.as_deref().unwrap_or(""))
            .map_err(|e| bad("--ui-allowed-hosts", "LYANNA_UI_ALLOWED_HOSTS", e))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse_for_test as parse;

    #[test]
    fn ui_flags() {
        let cli = parse(&["--settings", "Diagnostics"]);
        assert!(cli.dashboard.enabled().unwrap());
        assert!(cli.dashboard.token().unwrap().is_none());
        let cli = parse(&["--ui", "off", "--admin-token", " tok "]);
        assert!(!cli.dashboard.enabled().unwrap());
        assert_eq!(cli.dashboard.token().unwrap().unwrap().expose(), "tok");
        assert!(format!("{cli:?}").contains("***") && !format!("{cli:?}").contains("tok\""));
        assert!(parse(&["--ui", "maybe"]).dashboard.enabled().is_err());
        assert!(parse(&["--admin-token", " "]).dashboard.token().is_err());
        let hosts = parse(&["--ui-allowed-hosts", "lyanna-arq,.example.com"])
            .dashboard
            .allowed_hosts()
            .unwrap();
        assert_eq!(
            hosts.check(Some("a.example.com:8080")),
            crate::ui::hosts::HostVerdict::Allowed
        );
        let e = parse(&["--ui-allowed-hosts", "http://x"])
            .dashboard
            .allowed_hosts()
            .unwrap_err();
        assert_eq!(
            (e.flag, e.env),
            ("--ui-allowed-hosts", "LYANNA_UI_ALLOWED_HOSTS")
        );
    }
}
