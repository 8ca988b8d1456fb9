//! Config parsing: defaults, bad values named, lists, secrets.

use super::*;
use std::collections::HashMap;

fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn defaults_are_the_originals() {
    let c = cfg(&[]).unwrap();
    assert_eq!(c.db.get_host(), "localhost");
    assert_eq!(c.db.get_port(), 3306);
    assert_eq!(c.db.get_database(), Some("test"));
    assert_eq!(
        c.memcached,
        vec![McTarget {
            host: "127.0.0.1".into(),
            port: 11211
        }]
    );
    assert_eq!(c.blog_url, "https://example.com");
    assert_eq!(c.site_title, "My Blog");
    assert_eq!(c.permalink, Permalink::Slug);
    assert_eq!(c.mail.server, "smtp.qq.com");
    assert_eq!(c.mail.port, 465);
    assert_eq!(c.mail.tls, MailTls::Implicit);
    assert!(!c.mail.enabled());
    assert_eq!(c.key_prefix, "lyanna:");
    assert_eq!(c.flush_seconds, Some(vec![0]));
}

#[test]
fn bad_values_name_the_variable() {
    for (var, value) in [
        ("DB_URL", "postgres://x"),
        ("DB_URL", "mysql://a:b@host:notaport/db"),
        ("MEMCACHED_HOST", "a,,b"),
        ("MEMCACHED_HOST", "host:0"),
        ("MEMCACHED_HOST", "host:x"),
        ("BLOG_URL", "example.com"),
        ("PERMALINK_TYPE", "uuid"),
        ("MAIL_PORT", "70000"),
        ("MAIL_TLS", "maybe"),
        ("MAIL_CA_FILE", "/nonexistent/ca.pem"),
        ("LYANNA_FLUSH_CRON_SECONDS", "61"),
        ("LYANNA_RETRY_DELAY", "-1"),
    ] {
        let e = cfg(&[(var, value)]).unwrap_err();
        assert_eq!(e.var, var, "{var}={value}: {e}");
        assert!(e.to_string().contains(var));
    }
}

#[test]
fn mail_sender_must_be_an_address_when_mail_is_on() {
    let on = [
        ("MAIL_SERVER", "smtp.example.com"),
        ("MAIL_USERNAME", "not an address"),
        ("MAIL_PASSWORD", "pw"),
    ];
    assert_eq!(cfg(&on).unwrap_err().var, "MAIL_USERNAME");
    // Mail off: the username is not used, so it is not checked.
    assert!(cfg(&on[..2]).is_ok());
}

#[test]
fn memcached_lists_and_ports() {
    let c = cfg(&[("MEMCACHED_HOST", "mc-0:11212, mc-1 ,[::1]:5,mc-1")]).unwrap();
    let got: Vec<(String, u16)> = c.memcached.into_iter().map(|t| (t.host, t.port)).collect();
    assert_eq!(
        got,
        vec![
            ("mc-0".into(), 11212),
            ("mc-1".into(), 11211),
            ("::1".into(), 5)
        ]
    );
}

#[test]
fn tls_follows_the_port_unless_set() {
    assert_eq!(
        cfg(&[("MAIL_PORT", "587")]).unwrap().mail.tls,
        MailTls::StartTls
    );
    assert_eq!(
        cfg(&[("MAIL_PORT", "2525"), ("MAIL_TLS", "off")])
            .unwrap()
            .mail
            .tls,
        MailTls::Off
    );
}

#[test]
fn cron_seconds() {
    assert_eq!(
        cfg(&[("LYANNA_FLUSH_CRON_SECONDS", "*")])
            .unwrap()
            .flush_seconds,
        None
    );
    assert_eq!(
        cfg(&[("LYANNA_FLUSH_CRON_SECONDS", "0,30")])
            .unwrap()
            .flush_seconds,
        Some(vec![0, 30])
    );
}

#[test]
fn secrets_never_print() {
    let c = cfg(&[
        ("DB_URL", "mysql://u:hunter2@db:3306/blog"),
        ("MAIL_PASSWORD", "hunter3"),
    ])
    .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter"), "{shown}");
    assert_eq!(c.db_url_masked, "mysql://u:***@db:3306/blog");
    assert_eq!(
        mask_url("mysql://root:@localhost/x"),
        "mysql://root:@localhost/x"
    );
    assert_eq!(mask_url("mysql://a:b@c@h/x?p=@"), "mysql://a:***@h/x?p=@");
}
