//! The `lyanna-worker` binary: parse, set up logging, turn signals into the shutdown token,
//! run the command.
#![forbid(unsafe_code)]

use clap::Parser;
use lyanna_worker::commands;
use lyanna_worker::config::{Cli, EXIT_USAGE};
use lyanna_worker::conn::{
    flush_log, mask_urls_in, redact, PlainFields, PlainFormat, RedactingStderr,
};
use tokio_util::sync::CancellationToken;

fn init_logging(json: bool, level: &str, secrets: Vec<String>) {
    // RUST_LOG, when set to something, overrides --log-level.
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty() && tracing_subscriber::EnvFilter::try_new(v).is_ok())
        .unwrap_or_else(|| level.to_string());
    // Colours only for a terminal: in a file or a pipe they are bytes nobody reads.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    macro_rules! install {
        ($builder:expr) => {{
            let builder = $builder
                .with_ansi(ansi)
                .with_writer(RedactingStderr::new(secrets));
            if json {
                builder
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .init();
            } else if ansi {
                builder.init();
            } else {
                // The same line as the default format, cheaper: every job writes two. Jobs
                // are tagged instead of run in spans (see `JobTag`).
                lyanna_worker::conn::JobTag::enable();
                builder
                    .fmt_fields(PlainFields)
                    .event_format(PlainFormat)
                    .init();
            }
        }};
    }
    // A bare level (the usual case) is a plain level filter. An EnvFilter takes a lock and a
    // map lookup each time a span is entered or left, and every job's task enters its span
    // at each poll; it is only needed for per-target directives.
    match directives
        .trim()
        .parse::<tracing_subscriber::filter::LevelFilter>()
    {
        Ok(max) => install!(tracing_subscriber::fmt().with_max_level(max)),
        Err(_) => install!(tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(&directives))),
    }
}

/// SIGTERM or SIGINT: cancel `token` (graceful drain). A second signal exits at once; the
/// jobs still running are recovered by other workers when their in-progress keys expire.
async fn signals(token: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::info!("shutdown requested; draining (signal again to exit at once)");
    token.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::warn!("second signal: exiting now");
    flush_log();
    std::process::exit(1);
}

/// The admin token as given, before clap has parsed it (for clap's own error messages).
fn raw_admin_tokens() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    let mut out: Vec<String> = std::env::var("LYANNA_ADMIN_TOKEN").into_iter().collect();
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--admin-token=") {
            out.push(v.to_string());
        } else if a == "--admin-token" {
            out.extend(args.get(i + 1).cloned());
        }
    }
    out.retain(|s| !s.trim().is_empty());
    out
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // clap echoes what it could not place, which may be a URL with its password, or
            // the admin token.
            let text = mask_urls_in(&e.render().to_string());
            let clean = redact(text.as_bytes(), &raw_admin_tokens());
            eprint!("{}", String::from_utf8_lossy(&clean));
            std::process::exit(EXIT_USAGE);
        }
        Err(e) => {
            let _ = e.print();
            std::process::exit(0);
        }
    };
    let (json, level) = match cli
        .common
        .json_logs()
        .and_then(|j| Ok((j, cli.common.log_level()?)))
    {
        Ok(j) => j,
        Err(e) => {
            eprintln!("lyanna-worker: {e}");
            std::process::exit(EXIT_USAGE);
        }
    };
    let secrets = cli.secrets();
    // Exit messages pass the same scrub as the log.
    let say = {
        let secrets = secrets.clone();
        move |msg: String| {
            // After the log's last lines, not among them.
            flush_log();
            let clean = redact(msg.as_bytes(), &secrets);
            eprintln!("lyanna-worker: {}", String::from_utf8_lossy(&clean));
        }
    };
    init_logging(json, level, secrets);
    // A panic's message goes straight to stderr: the log lines before it go first.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        flush_log();
        default_hook(info);
    }));
    let threads = cli.common.runtime_threads;
    let mut builder = if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            flush_log();
            eprintln!("lyanna-worker: cannot start the runtime: {e}");
            std::process::exit(70);
        }
    };
    let code = rt.block_on(async {
        let token = CancellationToken::new();
        tokio::spawn(signals(token.clone()));
        match commands::run(cli, token).await {
            Err(e) => {
                say(e.to_string());
                EXIT_USAGE
            }
            Ok(Ok(code)) => code,
            Ok(Err(e)) => {
                say(format!("{e:#}"));
                1
            }
        }
    });
    flush_log();
    std::process::exit(code);
}
