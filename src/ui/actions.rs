//! The POSTs. Each checks the caller first (a bearer, or a session with the form's CSRF token)
//! and touches Redis only then: without the token, or with a wrong CSRF token, the answer is
//! 403 and nothing is written. Then 404 for an unknown job, 409 when the action does not
//! apply, 303 to the job's page when done.

use super::auth::{Auth, Caller};
use super::guard::too_many;
use super::limit::retry_after_secs;
use super::pages;
use super::params::{non_empty, parse};
use super::routes::{html, query, queue_of, unavailable};
use super::Ui;
use crate::dashboard::ids::{decode_segment, encode_query, encode_segment};
use crate::dashboard::ActionError;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use std::net::SocketAddr;
use std::time::Instant;

fn forbidden(why: &'static str) -> Response {
    (StatusCode::FORBIDDEN, format!("forbidden: {why}\n")).into_response()
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The login form. Each try is counted against the client's wrong-token budget before the
/// token is compared (see `limit.rs`); once it is used up, 429 whatever the token.
pub async fn login(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !ui.0.auth.enabled() {
        return forbidden("no admin token is configured; the dashboard is read-only");
    }
    if let Err(left) = ui.0.limiter.attempt(peer.ip(), Instant::now()) {
        tracing::warn!(client = %peer.ip(), "dashboard: too many wrong tokens");
        let flash = format!(
            "Too many wrong tokens: try again in {} s.",
            retry_after_secs(left)
        );
        let page = html(
            &ui,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&flash),
            pages::login::render,
        );
        return too_many(left, page);
    }
    let form = parse(&body);
    match ui.0.auth.login(non_empty(&form, "token").unwrap_or("")) {
        Some(session) => {
            ui.0.limiter.succeeded(peer.ip());
            let mut r = see_other("/ui?done=login");
            if let Ok(v) = Auth::cookie_for(&session).parse() {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        None => {
            tracing::warn!("dashboard: login with a wrong token");
            html(
                &ui,
                &headers,
                StatusCode::FORBIDDEN,
                Some("Wrong token."),
                pages::login::render,
            )
        }
    }
}

pub async fn logout(State(ui): State<Ui>, headers: HeaderMap, body: Bytes) -> Response {
    let form = parse(&body);
    let caller = ui.0.auth.caller(&headers);
    if !matches!(caller, Caller::Session { .. })
        || !ui.0.auth.may_act(&caller, non_empty(&form, "csrf"))
    {
        return forbidden("no session, or a wrong CSRF token");
    }
    ui.0.auth.logout(&headers);
    let mut r = see_other("/ui?done=logout");
    if let Ok(v) = Auth::clear_cookie().parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /ui/job/{id}/{abort|retry|delete}`.
pub async fn job_action(
    State(ui): State<Ui>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let Some((seg, action)) = uri
        .path()
        .strip_prefix("/ui/job/")
        .and_then(|rest| rest.rsplit_once('/'))
        .filter(|(seg, _)| !seg.contains('/'))
    else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    if !matches!(action, "abort" | "retry" | "delete") {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    if !ui.0.auth.enabled() {
        return forbidden("no admin token is configured; the dashboard is read-only");
    }
    let form = parse(&body);
    let caller = ui.0.auth.caller(&headers);
    if !ui.0.auth.may_act(&caller, non_empty(&form, "csrf")) {
        return forbidden("log in (or send Authorization: Bearer) and submit the page's form");
    }
    let id = decode_segment(seg);
    let q = query(&uri);
    let queue = queue_of(&ui, &q);
    let dash = &ui.0.dash;
    let done = match action {
        "abort" => dash.abort(&queue, &id).await.map(|()| id.clone()),
        "retry" => {
            let same = non_empty(&q, "same_id").or(non_empty(&form, "same_id")) == Some("1");
            dash.retry(&queue, &id, same).await.map(String::into_bytes)
        }
        _ => dash.delete_result(&queue, &id).await.map(|()| id.clone()),
    };
    match done {
        Ok(target) => {
            let mut to = format!("/ui/job/{}?done={action}", encode_segment(&target));
            if queue != dash.queue() {
                to.push_str(&format!("&queue={}", encode_query(&queue)));
            }
            tracing::info!(action, job_id = %String::from_utf8_lossy(&id), "dashboard action");
            see_other(&to)
        }
        Err(ActionError::NotFound) => {
            (StatusCode::NOT_FOUND, "no job with this id\n").into_response()
        }
        Err(ActionError::NotApplicable(why)) => {
            (StatusCode::CONFLICT, format!("{why}\n")).into_response()
        }
        Err(ActionError::Client(e)) => unavailable(&ui, &headers, &e),
    }
}
