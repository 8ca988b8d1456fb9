//! The one masking rule for connection strings, used wherever one can be printed (logs at any
//! level, errors, exit messages, the CLI): [`mask_url`] for display, [`check_url_shape`] for a
//! start-up error that says which part of a bad URL is wrong without echoing it.
//!
//! The rule: everything before the last `@` after `scheme://` is userinfo and shown as
//! `user:***` (a password may hold `/`, `?`, `#` or `@`, so no earlier delimiter is trusted);
//! every query parameter's value is `***` unless its name is a known harmless one (`db`,
//! `protocol`, ...); a fragment is `#***`; a string without `scheme://` is not shown at all.

/// Query parameters whose values are shown (none of them can hold a credential).
const SHOWN_PARAMS: &[&str] = &["db", "protocol", "insecure", "user", "username", "timeout"];

/// What stands for a connection string too malformed to show any of.
pub const UNSHOWN_URL: &str = "<URL not shown: no scheme://>";

/// The URL with every credential replaced by `***`: userinfo passwords (or a lone
/// username-as-token), secret query parameters (`?pass=`, `?password=`, ...) and fragments.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = split_scheme(url) else {
        return UNSHOWN_URL.to_string();
    };
    let (userinfo, tail) = match rest.rfind('@') {
        Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
        None => (None, rest),
    };
    let mut out = format!("{scheme}://");
    if let Some(userinfo) = userinfo {
        // A `?` or `#` before the `@` means the "user" may be a query: show nothing of it.
        match userinfo.split_once(':') {
            Some((user, _)) if !user.contains(['/', '?', '#']) => {
                out.push_str(user);
                out.push_str(":***@");
            }
            _ => out.push_str("***@"),
        }
    }
    let (tail, fragment) = match tail.split_once('#') {
        Some((t, _)) => (t, true),
        None => (tail, false),
    };
    match tail.split_once('?') {
        Some((hostpath, query)) => {
            out.push_str(hostpath);
            out.push('?');
            out.push_str(&mask_query(query));
        }
        None => out.push_str(tail),
    }
    if fragment {
        out.push_str("#***");
    }
    out
}

/// `scheme` and what follows `scheme://`, when the scheme is letters, digits, `+`, `-`, `.`.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let ok = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then_some((scheme, rest))
}

fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if SHOWN_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                format!("{k}={v}")
            }
            Some((k, _)) => format!("{k}=***"),
            // A bare word may be a secret pasted in the wrong place.
            None if SHOWN_PARAMS.contains(&pair.to_ascii_lowercase().as_str()) => pair.to_string(),
            None if pair.is_empty() => String::new(),
            None => "***".to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Why a Redis URL cannot be used, naming the wrong part and never echoing the URL (it may be
/// a password pasted in the wrong place). `Ok` for a URL of the accepted shape.
pub fn check_url_shape(url: &str) -> Result<(), String> {
    const SCHEMES: &str = "redis://, rediss:// or unix://";
    let Some((scheme, rest)) = split_scheme(url) else {
        let lead: String = url
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .collect();
        let after = &url[lead.len()..];
        return Err(if lead.is_empty() {
            format!("does not start with a scheme ({SCHEMES})")
        } else if after.starts_with(':') && !lead.contains('.') && lead.len() <= 10 {
            format!("the scheme {lead:?} is not followed by \"://\" (expected {SCHEMES})")
        } else {
            format!("does not start with {SCHEMES}")
        });
    };
    if !matches!(scheme, "redis" | "rediss" | "unix" | "redis+unix") {
        let shown: String = scheme.chars().take(10).collect();
        return Err(format!("the scheme {shown:?} is not one of {SCHEMES}"));
    }
    if scheme == "unix" || scheme == "redis+unix" {
        return Ok(());
    }
    let at = rest.rfind('@');
    let host_part = at.map_or(rest, |i| &rest[i + 1..]);
    if let Some(i) = at {
        let userinfo = &rest[..i];
        if userinfo.contains(['/', '?', '#']) {
            return Err(
                "the user or password holds '/', '?' or '#': percent-encode them (%2F, %3F, %23) \
                 or pass the password in --redis-password / REDIS_PASSWORD"
                    .to_string(),
            );
        }
    }
    let authority = host_part.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, after)) => (h, after.strip_prefix(':')),
            None => return Err("the host's '[' is not closed".to_string()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(
            "the host is missing (expected scheme://[user:password@]host[:port][/db])".to_string(),
        );
    }
    if let Some(p) = port {
        if p.parse::<u16>().is_err() {
            return Err("the port is not a number from 0 to 65535".to_string());
        }
    }
    let path = host_part[authority.len()..]
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    let db = path.trim_start_matches('/');
    if !db.is_empty() && db.parse::<i64>().is_err() {
        return Err("the database (the path after the host) is not a number".to_string());
    }
    Ok(())
}

/// The credentials in a URL as written (userinfo, its password, secret query values), for
/// scrubbing texts that did not come from [`mask_url`] (a library's error message).
pub fn secrets_of(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some((_, rest)) = split_scheme(url) else {
        out.push(url.to_string());
        return out;
    };
    let tail = match rest.rfind('@') {
        Some(i) => {
            let userinfo = &rest[..i];
            out.push(userinfo.to_string());
            if let Some((_, pw)) = userinfo.split_once(':') {
                out.push(pw.to_string());
            }
            &rest[i + 1..]
        }
        None => rest,
    };
    if let Some((_, query)) = tail.split('#').next().unwrap_or_default().split_once('?') {
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some((k, v)) if !SHOWN_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                    out.push(v.to_string())
                }
                Some(_) => {}
                None => out.push(pair.to_string()),
            }
        }
    }
    if let Some((_, fragment)) = tail.split_once('#') {
        out.push(fragment.to_string());
    }
    out.retain(|s| !s.is_empty());
    // Longest first, so a password inside its userinfo is not half replaced.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// `text` (a message we did not format, e.g. clap's for a mistyped command line) with every
/// word that looks like a connection string masked: words holding `://` by [`mask_url`],
/// other words holding `@` (a malformed URL) by `***`. Words split at whitespace and quotes.
pub fn mask_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.contains("://") {
            out.push_str(&mask_url(word));
        } else if word.contains('@') {
            out.push_str("***");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, '\'' | '"' | '`') {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// `text` with every credential of `url` replaced by `***`.
pub fn scrub(text: &str, url: &str) -> String {
    secrets_of(url).iter().fold(text.to_string(), |t, secret| {
        t.replace(secret.as_str(), "***")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_passwords() {
        assert_eq!(
            mask_url("redis://:s3cret@h:6379/2"),
            "redis://:***@h:6379/2"
        );
        assert_eq!(mask_url("rediss://app:pw@h/0"), "rediss://app:***@h/0");
        assert_eq!(mask_url("redis://token@h"), "redis://***@h");
        assert_eq!(mask_url("redis://h:6379"), "redis://h:6379");
        assert_eq!(mask_url("redis://:S3/cretPW@h"), "redis://:***@h");
        assert_eq!(mask_url("redis://u:a@b@h/1"), "redis://u:***@h/1");
        assert_eq!(
            mask_url("unix:///x.sock?pass=PW"),
            "unix:///x.sock?pass=***"
        );
        assert_eq!(
            mask_url("unix:///x.sock?db=2&user=app&password=PW&PW2"),
            "unix:///x.sock?db=2&user=app&password=***&***"
        );
        assert_eq!(mask_url("redis://h/0#PW"), "redis://h/0#***");
        assert_eq!(mask_url("redis://h/0?x=1?PW@h2"), "redis://***@h2");
    }

    #[test]
    fn malformed_urls_are_never_shown() {
        for url in ["redis:/:PW@h", ":PW@h", "PW", "redis:PW@h", "//:PW@h"] {
            assert_eq!(mask_url(url), UNSHOWN_URL, "{url}");
            let e = check_url_shape(url).unwrap_err();
            assert!(!e.contains("PW"), "{url}: {e}");
        }
        let e = check_url_shape("redis:/:PW@h").unwrap_err();
        assert!(e.contains("\"redis\" is not followed by \"://\""), "{e}");
        let e = check_url_shape("redis://:S3/cretPW@h").unwrap_err();
        assert!(e.contains("'/'") && !e.contains("cret"), "{e}");
        let e = check_url_shape("redis://h:PW/0").unwrap_err();
        assert!(e.contains("port") && !e.contains("PW"), "{e}");
        let e = check_url_shape("http://x").unwrap_err();
        assert!(e.contains("\"http\""), "{e}");
        let e = check_url_shape("redis://h/zero").unwrap_err();
        assert!(e.contains("database"), "{e}");
    }

    #[test]
    fn scrubs_library_messages() {
        let url = "unix:///x.sock?db=1&pass=PW1";
        assert_eq!(
            scrub("bad x.sock?db=1&pass=PW1", url),
            "bad x.sock?db=1&pass=***"
        );
        assert_eq!(scrub("at :S3/cretPW@h", "redis://:S3/cretPW@h"), "at ***@h");
        assert_eq!(scrub("x :PW@h", ":PW@h"), "x ***");
    }

    #[test]
    fn masks_urls_inside_other_messages() {
        assert_eq!(
            mask_urls_in("error: unrecognized subcommand 'redis://:PW@h:1/0'\n"),
            "error: unrecognized subcommand 'redis://:***@h:1/0'\n"
        );
        assert_eq!(
            mask_urls_in("bad ':PW@h' and redis:/:PW@h"),
            "bad '***' and ***"
        );
        assert_eq!(mask_urls_in("plain text"), "plain text");
    }

    #[test]
    fn good_urls_pass() {
        for url in [
            "redis://localhost:6379",
            "redis://:pw@h:1/99",
            "rediss://app:p%2Fw@h/0",
            "redis://[::1]:6379/0",
            "unix:///tmp/r.sock?pass=x",
            "redis://h",
        ] {
            assert_eq!(check_url_shape(url), Ok(()), "{url}");
        }
    }
}
