//! Who may act: the admin token (`--admin-token`, from a Secret) given once at the login form
//! (then a session cookie, HttpOnly, SameSite=Strict, with a CSRF token per session for every
//! form), or on each request as `Authorization: Bearer TOKEN` (not an ambient credential, so
//! no CSRF token is needed). Without a token every action is refused. Sessions live in memory:
//! a restart logs everyone out. Every comparison of a secret is constant-time.

use crate::conn::Secret;
use axum::http::HeaderMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "lyanna_ui";
/// How long a session lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most (the oldest goes first).
const MAX_SESSIONS: usize = 64;

struct Session {
    id: String,
    csrf: String,
    expires: Instant,
}

/// The token and the sessions it opened.
pub struct Auth {
    token: Option<Secret>,
    sessions: Mutex<Vec<Session>>,
}

/// What a request carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// Nothing valid: read only.
    Anonymous,
    /// A session (its CSRF token is put in every form).
    Session { csrf: String },
    /// The bearer header with the right token.
    Bearer,
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token of an `Authorization: Bearer TOKEN` header, if the request has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The value of cookie `name` in a request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Auth {
    pub fn new(token: Option<Secret>) -> Self {
        Auth {
            token,
            sessions: Mutex::new(Vec::new()),
        }
    }

    /// Whether actions are possible at all.
    pub fn enabled(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `given` is the token (constant-time); false when none is configured.
    pub fn token_matches(&self, given: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| ct_eq(t.expose(), given))
    }

    /// Opens a session for the right token: `(session id, csrf)`.
    pub fn login(&self, given: &str) -> Option<String> {
        if !self.token_matches(given) {
            return None;
        }
        let id = random_hex();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        sessions.retain(|s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS {
            sessions.remove(0);
        }
        sessions.push(Session {
            id: id.clone(),
            csrf: random_hex(),
            expires: now + SESSION_TTL,
        });
        Some(id)
    }

    /// Ends the request's session, if any.
    pub fn logout(&self, headers: &HeaderMap) {
        if let Some(sid) = cookie(headers, COOKIE) {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            sessions.retain(|s| !ct_eq(&s.id, sid));
        }
    }

    /// Who is asking. Every session is compared (constant-time), not looked up by value.
    pub fn caller(&self, headers: &HeaderMap) -> Caller {
        if self.token.is_none() {
            return Caller::Anonymous;
        }
        if let Some(given) = bearer(headers) {
            return if self.token_matches(given) {
                Caller::Bearer
            } else {
                Caller::Anonymous
            };
        }
        let Some(sid) = cookie(headers, COOKIE) else {
            return Caller::Anonymous;
        };
        let now = Instant::now();
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let mut found = None;
        for s in sessions.iter() {
            if ct_eq(&s.id, sid) && s.expires > now {
                found = Some(s.csrf.clone());
            }
        }
        found.map_or(Caller::Anonymous, |csrf| Caller::Session { csrf })
    }

    /// Whether a state-changing request may proceed: a bearer, or a session whose CSRF token
    /// the form carries.
    pub fn may_act(&self, caller: &Caller, form_csrf: Option<&str>) -> bool {
        match caller {
            Caller::Bearer => true,
            Caller::Session { csrf } => form_csrf.is_some_and(|f| ct_eq(csrf, f)),
            Caller::Anonymous => false,
        }
    }

    /// The `Set-Cookie` value for a new session.
    pub fn cookie_for(session: &str) -> String {
        format!(
            "{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age={}",
            SESSION_TTL.as_secs()
        )
    }

    pub fn clear_cookie() -> String {
        format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_str(v).unwrap(),
        );
        h
    }

    #[test]
    fn sessions_and_csrf() {
        let a = Auth::new(Some(Secret::new("tok-123456")));
        assert!(a.login("wrong").is_none());
        let sid = a.login("tok-123456").unwrap();
        let h = with_cookie(&format!("other=1; {COOKIE}={sid}"));
        let Caller::Session { csrf } = a.caller(&h) else {
            panic!("no session")
        };
        assert!(a.may_act(&a.caller(&h), Some(&csrf)));
        assert!(!a.may_act(&a.caller(&h), Some("nope")));
        assert!(!a.may_act(&a.caller(&h), None));
        assert_eq!(
            a.caller(&with_cookie(&format!("{COOKIE}=x{sid}"))),
            Caller::Anonymous
        );
        a.logout(&h);
        assert_eq!(a.caller(&h), Caller::Anonymous);
        let mut b = HeaderMap::new();
        b.insert(
            "authorization",
            HeaderValue::from_static("Bearer tok-123456"),
        );
        assert_eq!(a.caller(&b), Caller::Bearer);
        b.insert(
            "authorization",
            HeaderValue::from_static("Bearer tok-12345"),
        );
        assert_eq!(a.caller(&b), Caller::Anonymous);
        let none = Auth::new(None);
        assert!(none.login("").is_none());
        assert_eq!(none.caller(&b), Caller::Anonymous);
    }
}
