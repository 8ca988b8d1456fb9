//! The dashboard's flags: whether `/ui` is served, and the admin token that enables its
//! actions (a [`Secret`]: masked in `Debug`, scrubbed from the log and exit messages).

use super::errors::{bad, ConfigError};
use crate::conn::Secret;
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
    }
}
