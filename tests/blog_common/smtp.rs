//! The SMTP sink (`tests/python/blog_smtp_sink.py`, aiosmtpd) as a child process, and the
//! mails it stored.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use testkit::Process;

pub const USER: &str = "blog@example.com";
pub const PASSWORD: &str = "sink-password";

/// One stored mail: the header block as received, and what Python's `email` package (policy
/// `default`) decoded from it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// Header lines exactly as received, CRLF-separated, folding kept.
    pub raw_headers: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub mime_version: String,
    pub content_type: String,
    /// `None` when the Content-Type names no charset.
    pub charset: Option<String>,
    pub transfer_encoding: String,
    /// ISO 8601 with offset; empty when absent or not a date.
    pub date: String,
    pub message_id: String,
    /// Parser defects (`Header: DefectName` for a header's).
    pub defects: Vec<String>,
    pub body: String,
    pub auth_login: Option<String>,
    pub tls: bool,
}

pub struct SmtpSink {
    pub port: u16,
    /// Before `dir`: the sink is killed before its directory goes.
    process: Option<Process>,
    pub dir: tempfile::TempDir,
}

/// `off`, `implicit` or `starttls`.
pub struct SinkOptions<'a> {
    pub tls: &'a str,
    pub reject_once: &'a [&'a str],
}

impl Default for SinkOptions<'_> {
    fn default() -> Self {
        SinkOptions {
            tls: "off",
            reject_once: &[],
        }
    }
}

impl SmtpSink {
    /// Starts the sink on `port` (AUTH required as [`USER`] / [`PASSWORD`]).
    pub fn start(python: &Path, port: u16, opts: SinkOptions<'_>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = SmtpSink {
            port,
            dir,
            process: None,
        };
        s.spawn(python, opts);
        s
    }

    fn spawn(&mut self, python: &Path, opts: SinkOptions<'_>) {
        let script = super::repo_root().join("tests/python/blog_smtp_sink.py");
        let mut cmd = Command::new(python);
        cmd.arg(script)
            .args(["--port", &self.port.to_string()])
            .arg("--out")
            .arg(self.out())
            .args(["--tls", opts.tls])
            .arg("--cert-dir")
            .arg(self.dir.path())
            .args(["--user", USER, "--password", PASSWORD]);
        for r in opts.reject_once {
            cmd.args(["--reject-once", r]);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let process = self
            .process
            .insert(Process::spawn("the SMTP sink", &mut cmd));
        let mut line = String::new();
        let stdout = process.stdout.take().expect("sink stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read sink");
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("mails.jsonl")
    }

    /// The CA the worker must trust (`MAIL_CA_FILE`) when the sink speaks TLS.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn mails(&self) -> Vec<Mail> {
        let text = std::fs::read_to_string(self.out()).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("sink JSON line");
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                let list = |k: &str| -> Vec<String> {
                    v[k].as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                Mail {
                    mail_from: s("mail_from"),
                    rcpt_tos: list("rcpt_tos"),
                    raw_headers: s("raw_headers"),
                    from: s("from"),
                    to: s("to"),
                    subject: s("subject"),
                    mime_version: s("mime_version"),
                    content_type: s("content_type"),
                    charset: v["charset"].as_str().map(str::to_string),
                    transfer_encoding: s("transfer_encoding"),
                    date: s("date"),
                    message_id: s("message_id"),
                    defects: list("defects"),
                    body: s("body"),
                    auth_login: v["auth_login"].as_str().map(str::to_string),
                    tls: v["tls"].as_bool().unwrap_or(false),
                }
            })
            .collect()
    }

    /// Kills it (its drop does).
    pub fn stop(&mut self) {
        self.process = None;
    }
}
