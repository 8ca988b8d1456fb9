//! A child process of a test: started from a `Command`, its output in a log file of its own
//! when asked, signalled by name, waited for with a timeout, and killed (SIGKILL) and reaped
//! when dropped, also when the test panics (its log is printed then).

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Process {
    child: Child,
    /// A log file this process owns (removed on drop, printed when the test panics).
    log: Option<PathBuf>,
    label: String,
}

impl Process {
    /// Spawns `cmd` with the stdio it has; panics naming `label` when it cannot start.
    pub fn spawn(label: &str, cmd: &mut Command) -> Self {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {label}: {e}"));
        Process {
            child,
            log: None,
            label: label.to_string(),
        }
    }

    /// Spawns `cmd` with stdout discarded and stderr in a new file `{label}-{uid}.log`.
    pub fn spawn_logged(label: &str, cmd: &mut Command) -> Self {
        let (path, file) = new_log(label);
        cmd.stdout(Stdio::null()).stderr(file);
        Self::with_log(label, cmd, path)
    }

    /// Spawns `cmd` with stdout and stderr both in one new log file.
    pub fn spawn_logged_all(label: &str, cmd: &mut Command) -> Self {
        let (path, file) = new_log(label);
        let out = file.try_clone().expect("dup log file");
        cmd.stdout(out).stderr(file);
        Self::with_log(label, cmd, path)
    }

    fn with_log(label: &str, cmd: &mut Command, path: PathBuf) -> Self {
        let mut p = Self::spawn(label, cmd);
        p.log = Some(path);
        p
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log file (for processes started with `spawn_logged*`).
    pub fn log(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// Everything logged so far (lossy UTF-8; empty without a log).
    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Sends `sig` (a name: TERM, INT, KILL, STOP, CONT...) with `kill(1)`.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status();
    }

    /// Its exit status, when it has exited within `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` and waits up to `timeout` for the exit; kills it when it is still running.
    pub fn stop_with(&mut self, sig: &str, timeout: Duration) -> Option<ExitStatus> {
        self.signal(sig);
        let status = self.wait(timeout);
        if status.is_none() {
            self.kill();
        }
        status
    }

    /// SIGKILL, then reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `std::process::Child` underneath (`try_wait`, `id`...).
impl Deref for Process {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl DerefMut for Process {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        let Some(log) = &self.log else {
            return;
        };
        if std::thread::panicking() {
            eprintln!(
                "--- {} log {} ---\n{}",
                self.label,
                log.display(),
                self.log_text()
            );
        } else {
            let _ = std::fs::remove_file(log);
        }
    }
}

fn new_log(label: &str) -> (PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!("{label}-{}.log", crate::uid()));
    let file = std::fs::File::create(&path).expect("log file");
    (path, file)
}
