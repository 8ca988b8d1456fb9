//! Sending mail over SMTP with lettre (tokio, rustls; no OpenSSL): implicit TLS on 465 (what
//! the Python original always used), STARTTLS otherwise, or none for local test sinks. The
//! transport keeps a small connection pool and is built on first use (its pool spawns a task).
//!
//! A mail is one MIME part, with the headers a mail client and a spam filter expect:
//! `MIME-Version: 1.0` (RFC 2045; lettre adds it only to MIME bodies, not to `body()`),
//! `Content-Type: text/html; charset=utf-8`, `Content-Transfer-Encoding: base64` (what the
//! Python original's `MIMEText` chose; the template's Chinese makes it the natural encoding,
//! and the blank line lettre's SMTP client adds after the body stays outside the decoded
//! HTML, which quoted-printable would take in), the Subject as RFC 2047 encoded words, `Date`,
//! and a `Message-ID` under the sender's domain (not the pod's host name).
//!
//! Errors are sorted for the caller: a recipient the server refuses for good (5.5.x) will not
//! be accepted on a retry either; everything else (cannot connect, TLS, authentication, 4xx,
//! timeouts) may pass later and is worth a retry.

use super::config::{ConfigError, MailConfig, MailTls};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::response::Category;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::OnceLock;
use std::time::Duration;

/// For each SMTP command; a stuck server then counts as unreachable.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server refused this recipient or message for good: skip it, do not retry.
    #[error("refused by the mail server: {0}")]
    Refused(String),
    /// The address in the database is not one: skip it.
    #[error("bad recipient address {0:?}")]
    BadAddress(String),
    /// Anything that may pass later.
    #[error("mail server unavailable: {0}")]
    Unavailable(String),
}

/// Checks what start-up can: the sender address and the extra root certificates.
pub fn check_settings(m: &MailConfig) -> Result<(), ConfigError> {
    m.username.parse::<Mailbox>().map_err(|e| ConfigError {
        var: "MAIL_USERNAME",
        problem: format!(
            "{:?} is not a mail address (it is the sender): {e}",
            m.username
        ),
    })?;
    tls_parameters(m)?;
    Ok(())
}

fn tls_parameters(m: &MailConfig) -> Result<TlsParameters, ConfigError> {
    let mut b = TlsParameters::builder(m.server.clone());
    if let Some(pem) = &m.ca_pem {
        let cert = Certificate::from_pem(pem).map_err(|e| ConfigError {
            var: "MAIL_CA_FILE",
            problem: format!("not a PEM certificate: {e}"),
        })?;
        b = b.add_root_certificate(cert);
    }
    b.build_rustls().map_err(|e| ConfigError {
        var: "MAIL_SERVER",
        problem: format!("TLS settings: {e}"),
    })
}

pub struct Mailer {
    config: MailConfig,
    transport: OnceLock<Result<AsyncSmtpTransport<Tokio1Executor>, String>>,
}

impl Mailer {
    pub fn new(config: MailConfig) -> Self {
        Mailer {
            config,
            transport: OnceLock::new(),
        }
    }

    /// The original's `CAN_SEND`: server, username and password all set.
    pub fn enabled(&self) -> bool {
        self.config.enabled()
    }

    /// `server:port (tls)`, for logs.
    pub fn describe(&self) -> String {
        format!(
            "{}:{} ({:?})",
            self.config.server, self.config.port, self.config.tls
        )
    }

    fn transport(&self) -> Result<&AsyncSmtpTransport<Tokio1Executor>, SendError> {
        self.transport
            .get_or_init(|| {
                let m = &self.config;
                let tls = match m.tls {
                    MailTls::Off => Tls::None,
                    MailTls::Implicit => {
                        Tls::Wrapper(tls_parameters(m).map_err(|e| e.to_string())?)
                    }
                    MailTls::StartTls => {
                        Tls::Required(tls_parameters(m).map_err(|e| e.to_string())?)
                    }
                };
                Ok(
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(m.server.as_str())
                        .port(m.port)
                        .tls(tls)
                        .credentials(Credentials::new(
                            m.username.clone(),
                            m.password.expose().to_string(),
                        ))
                        .timeout(Some(SMTP_TIMEOUT))
                        .pool_config(
                            PoolConfig::new()
                                .max_size(4)
                                .idle_timeout(Duration::from_secs(30)),
                        )
                        .build(),
                )
            })
            .as_ref()
            .map_err(|e| SendError::Unavailable(e.clone()))
    }

    /// Sends one HTML mail from `MAIL_USERNAME` to `to`.
    pub async fn send(&self, to: &str, subject: &str, html: String) -> Result<(), SendError> {
        let to_box: Mailbox = to
            .parse()
            .map_err(|_| SendError::BadAddress(to.to_string()))?;
        let from: Mailbox = self
            .config
            .username
            .parse()
            .map_err(|e| SendError::Unavailable(format!("sender address: {e}")))?;
        let msg = compose(from, to_box, subject, html)
            .map_err(|e| SendError::BadAddress(format!("{to}: {e}")))?;
        match self.transport()?.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) if refused_for_good(&e) => Err(SendError::Refused(e.to_string())),
            Err(e) => Err(SendError::Unavailable(e.to_string())),
        }
    }
}

/// One HTML mail, headers as the module doc lists them; `Date` is now.
pub fn compose(
    from: Mailbox,
    to: Mailbox,
    subject: &str,
    html: String,
) -> Result<Message, lettre::error::Error> {
    let message_id = format!(
        "<{}@{}>",
        uuid::Uuid::new_v4().simple(),
        from.email.domain()
    );
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(message_id))
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .header(ContentTransferEncoding::Base64)
                .body(html),
        )
}

/// 5.5.x: mailbox unavailable, not allowed, exceeded storage, name not allowed, transaction
/// refused. Authentication (5.3.5) and syntax (5.0.x) failures are the sender's setup, which an
/// operator can fix before the retries run out.
fn refused_for_good(e: &lettre::transport::smtp::Error) -> bool {
    e.is_permanent()
        && e.status()
            .is_some_and(|c| c.category == Category::MailSystem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_of(msg: &Message) -> Vec<(String, String)> {
        let text = String::from_utf8(msg.formatted()).expect("a mail is ASCII");
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        // Unfold (RFC 5322 2.2.3) before splitting names from values.
        head.replace("\r\n ", " ")
            .split("\r\n")
            .filter_map(|l| l.split_once(": "))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_mail_carries_every_header_a_client_expects() {
        let from: Mailbox = "blog@example.com".parse().unwrap();
        let to: Mailbox = "alice@example.org".parse().unwrap();
        let msg = compose(
            from,
            to,
            "有人在 标题 的评论中提到了你!",
            "<p>你好</p>\n".into(),
        )
        .expect("compose");
        let h = headers_of(&msg);
        let get = |name: &str| {
            h.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no {name} header in {h:?}"))
        };
        assert_eq!(get("MIME-Version"), "1.0");
        assert_eq!(get("Content-Type"), "text/html; charset=utf-8");
        assert_eq!(get("Content-Transfer-Encoding"), "base64");
        assert!(get("Subject").starts_with("=?utf-8?b?"), "{h:?}");
        assert!(get("Message-ID").starts_with('<'), "{h:?}");
        assert!(get("Message-ID").ends_with("@example.com>"), "{h:?}");
        assert!(get("Date").ends_with("+0000"), "{h:?}");
        assert_eq!(get("From"), "blog@example.com");
        assert_eq!(get("To"), "alice@example.org");
        let again = compose(
            "blog@example.com".parse().unwrap(),
            "alice@example.org".parse().unwrap(),
            "s",
            String::new(),
        )
        .expect("compose");
        let id = |m: &Message| headers_of(m).into_iter().find(|(n, _)| n == "Message-ID");
        assert_ne!(id(&msg), id(&again), "each mail its own Message-ID");
    }
}
