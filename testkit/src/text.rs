//! Reading logs.

use std::path::Path;

/// `s` without ANSI colour codes (the text log colours field names: `job_id=` is split).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (a letter).
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Lines of `log` (colour codes ignored) that contain every one of `needles`.
pub fn count_lines_with(log: &str, needles: &[&str]) -> usize {
    strip_ansi(log)
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}

/// Lines of `log` (colour codes ignored) that contain `needle`.
pub fn count_lines(log: &str, needle: &str) -> usize {
    count_lines_with(log, &[needle])
}

/// The last `lines` lines of the file at `path` (empty when it cannot be read).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
