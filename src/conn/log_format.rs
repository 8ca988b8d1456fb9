//! The text log line, without colours: what `tracing_subscriber`'s default format writes, byte
//! for byte, at a fraction of its cost. Every job writes two lines, and the default format
//! spent most of its time in `core::fmt` machinery: the timestamp built from six padded
//! integers, the level padded, and each message escaped one `write_char` at a time. Here the
//! timestamp is written digit by digit into a buffer, the level comes from a table, and the
//! message is escaped one chunk at a time, with a scan of its bytes deciding whether a chunk
//! needs escaping at all (almost none do). [`PlainFields`] writes span fields the same way.
//!
//! The escaping is the default format's: ESC, BEL, BS, FF and DEL become `\x1b`-style escapes
//! and C1 controls `\u{9b}`-style ones, so a job argument cannot drive the terminal of whoever
//! reads the log. Field values other than the message are written with `Debug`, which escapes
//! control characters itself. A terminal (colours on) keeps the default format.

use super::job_tag::JobTag;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// `tracing_subscriber::fmt::format::Full` without ANSI colours, cheaper (see the module doc).
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainFormat;

impl<S, N> FormatEvent<S, N> for PlainFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // A `log` record (from a library using the `log` crate) carries its real target in
        // fields; the default format shows that one too.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => writer.write_str(Timestamp::at(d.as_secs(), d.subsec_micros()).as_str())?,
            Err(_) => writer.write_str("<unknown time>")?,
        }
        writer.write_str(level_column(meta.level()))?;
        // A job's tag stands where its span would, before any span of the job's own code.
        let mut any = JobTag::write_current(&mut writer, |w, id| Escaping(w).write_str(id))?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                any = true;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        write!(writer, "{{{fields}}}")?;
                    }
                }
                writer.write_char(':')?;
            }
        }
        if any {
            writer.write_char(' ')?;
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        let mut fields = Fields {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// Span fields as `DefaultFields` writes them (`job_id=… try=1 function="noop"`), through the
/// same visitor as an event's fields: each job's span is formatted when it is made and again
/// when its function is recorded.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainFields;

impl<'w> FormatFields<'w> for PlainFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = Fields {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

/// The level as the default format shows it: right-aligned in five columns, then a space.
fn level_column(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE ",
        Level::DEBUG => "DEBUG ",
        Level::INFO => " INFO ",
        Level::WARN => " WARN ",
        Level::ERROR => "ERROR ",
    }
}

/// `2026-12-02T06:54:07.989127Z ` (UTC, microseconds, a space after), as `SystemTime` of
/// `tracing_subscriber` writes it.
struct Timestamp([u8; 28]);

impl Timestamp {
    fn at(secs: u64, micros: u32) -> Timestamp {
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        let mut b = *b"0000-00-00T00:00:00.000000Z ";
        digits(&mut b[0..4], y.clamp(0, 9999) as u64);
        digits(&mut b[5..7], u64::from(m));
        digits(&mut b[8..10], u64::from(d));
        digits(&mut b[11..13], rem / 3600);
        digits(&mut b[14..16], rem / 60 % 60);
        digits(&mut b[17..19], rem % 60);
        digits(&mut b[20..26], u64::from(micros));
        Timestamp(b)
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are ever written into the buffer.
        std::str::from_utf8(&self.0).unwrap_or("<unknown time> ")
    }
}

/// Writes `n` into `out` as decimal, zero-padded to its length (the highest digits are
/// dropped if `n` does not fit, which the callers' ranges rule out).
fn digits(out: &mut [u8], mut n: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day): Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch's era start.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The event's fields as the default format writes them: the message as it reads, the others
/// `name=Debug`, separated by spaces; `log.*` fields (already shown as the target) skipped.
struct Fields<'a, 'w> {
    out: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn field(&mut self, field: &Field, message: fmt::Arguments<'_>, other: &dyn fmt::Debug) {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        if !std::mem::take(&mut self.first) {
            self.result = self.out.write_char(' ');
        }
        self.result = self.result.and_then(|()| match name {
            "message" => Escaping(&mut *self.out).write_fmt(message),
            name => write!(
                self.out,
                "{}={:?}",
                name.strip_prefix("r#").unwrap_or(name),
                other
            ),
        });
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, format_args!("{value}"), &value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // An error is escaped as a message is, whatever its field's name.
        let shown = Escaped(value);
        let Some(source) = value.source() else {
            self.field(field, format_args!("{shown}"), &format_args!("{shown}"));
            return;
        };
        let shown = format_args!("{shown} {}.sources={}", field.name(), Sources(source));
        self.field(field, shown, &shown);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, format_args!("{value:?}"), value);
    }
}

/// A value's `Display`, escaped.
struct Escaped<'a>(&'a dyn fmt::Display);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(Escaping(f), "{}", self.0)
    }
}

/// An error's chain of sources, `[first, second]`.
struct Sources<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('[')?;
        let mut next = Some(self.0);
        let mut first = true;
        while let Some(e) = next {
            if !std::mem::take(&mut first) {
                f.write_str(", ")?;
            }
            write!(f, "{}", Escaped(e))?;
            next = e.source();
        }
        f.write_char(']')
    }
}

/// Passes text through, escaping the characters that drive a terminal (see the module doc).
struct Escaping<W>(W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Any C0 control (the four escaped ones among them), DEL, or 0xC2, which leads the
        // UTF-8 encoding of every C1 control (U+0080..U+009F) and of other characters too:
        // a chunk that has one is looked at character by character. The scan has no early
        // exit so that it runs on whole vectors of bytes.
        let suspect = s
            .bytes()
            .fold(false, |any, b| any | (b < 0x20) | (b == 0x7f) | (b == 0xc2));
        if !suspect {
            return self.0.write_str(s);
        }
        for ch in s.chars() {
            match ch {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", ch as u32)?,
                ch => self.0.write_char(ch)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_the_default_format_writes_them() {
        let cases = [
            (0, 0, "1970-01-01T00:00:00.000000Z "),
            (951_782_400, 5, "2000-02-29T00:00:00.000005Z "),
            (1_796_193_247, 989_127, "2026-12-02T06:34:07.989127Z "),
            (4_102_444_799, 999_999, "2099-12-31T23:59:59.999999Z "),
        ];
        for (secs, micros, want) in cases {
            assert_eq!(Timestamp::at(secs, micros).as_str(), want, "{secs}");
        }
    }

    #[test]
    fn escaping_matches_the_default_format() {
        let mut out = String::new();
        write!(Escaping(&mut out), "a\x1b[31mb\x07c\u{9b}d é\u{a0}\n.").unwrap();
        assert_eq!(out, "a\\x1b[31mb\\x07c\\u{9b}d é\u{a0}\n.");
        out.clear();
        write!(Escaping(&mut out), "plain → text").unwrap();
        assert_eq!(out, "plain → text");
    }

    /// Lines captured from a subscriber, the timestamp cut off (it differs between runs).
    fn lines_of<F, N>(format: F, fields: N, tagged: bool) -> Vec<String>
    where
        F: FormatEvent<tracing_subscriber::Registry, N> + Send + Sync + 'static,
        N: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let capture = Capture::default();
        let sink = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(Level::TRACE)
            .with_writer(move || sink.clone())
            .fmt_fields(fields)
            .event_format(format)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("no span");
            let in_job = || {
                tracing::info!("{:6}s → {}:{}({})", 1.5, "a1b2", "noop", "'x\x1b[2J'");
                in_inner_span();
            };
            if tagged {
                JobTag::new("a1b2".into(), 2).sync_scope(|| {
                    tracing::info!("function not known yet");
                    JobTag::record_function("noop");
                    in_job();
                });
            } else {
                let job = tracing::info_span!(
                    "job",
                    job_id = %"a1b2",
                    function = tracing::field::Empty,
                    r#try = 2
                );
                let _in = job.enter();
                tracing::info!("function not known yet");
                job.record("function", "noop");
                in_job();
            }
        });
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| l[27..].to_string()).collect()
    }

    /// Lines logged in a span of a job's own code.
    fn in_inner_span() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("outer \x1b failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        {
            let inner = tracing::debug_span!("inner", path = %"/a b", n = 3_u64, ok = false);
            let _inner = inner.enter();
            tracing::warn!(worker_id = %"vm/0", released = 3, name = "quoted \"x\"", "took over");
            tracing::error!(
                error = &Outer(std::io::Error::other("inner \x07 cause"))
                    as &(dyn std::error::Error + 'static),
                "finish failed"
            );
            tracing::trace!(r#type = "t", ok = true, "trace \u{9b} line");
            tracing::error!(bare = 1.25);
        }
    }

    /// The sample events through tracing-subscriber's own default format, with a real span.
    fn default_lines() -> Vec<String> {
        lines_of(
            tracing_subscriber::fmt::format::Format::default(),
            tracing_subscriber::fmt::format::DefaultFields::new(),
            false,
        )
    }

    #[test]
    fn lines_match_the_default_format() {
        let plain = lines_of(PlainFormat, PlainFields, false);
        let default = default_lines();
        assert_eq!(plain.len(), 7, "{plain:#?}");
        assert_eq!(plain, default);
    }

    #[test]
    fn a_job_tag_reads_as_its_span() {
        let tagged = lines_of(PlainFormat, PlainFields, true);
        let spanned = default_lines();
        assert_eq!(tagged, spanned);
        assert!(
            tagged[1].starts_with("  INFO job{job_id=a1b2 try=2}: "),
            "{tagged:#?}"
        );
        assert!(tagged[2].starts_with("  INFO job{job_id=a1b2 try=2 function=\"noop\"}: "));
        // Outside the scope, no tag.
        let mut out = String::new();
        assert!(!JobTag::write_current(&mut out, |w, id| w.write_str(id)).unwrap());
        assert!(out.is_empty());
    }

    #[test]
    fn a_tagged_id_is_escaped() {
        let mut out = String::new();
        let wrote = JobTag::new("a\x1b[2Jb".into(), 1)
            .sync_scope(|| JobTag::write_current(&mut out, |w, id| Escaping(w).write_str(id)));
        assert!(wrote.unwrap());
        assert_eq!(out, "job{job_id=a\\x1b[2Jb try=1}:");
    }
}
