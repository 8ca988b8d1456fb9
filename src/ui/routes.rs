//! The GET pages: overview, jobs, job, cron, login.

use super::auth::Caller;
use super::pages::{self, Chrome};
use super::params::{non_empty, parse};
use super::Ui;
use crate::dashboard::ids::{decode_segment, encode_query, encode_segment};
use crate::dashboard::{JobQuery, State};
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::collections::HashMap;

/// Flash messages the redirects after an action name (never text from the request).
fn flash_for(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "login" => "Logged in.",
        "logout" => "Logged out.",
        "abort" => "Abort requested (the worker must run with --allow-abort-jobs).",
        "retry" => "Enqueued again.",
        "delete" => "Result deleted: the id is free.",
        _ => return None,
    })
}

pub(super) fn query(uri: &Uri) -> HashMap<String, String> {
    parse(uri.query().unwrap_or("").as_bytes())
}

/// Renders with the request's caller and flash.
pub(super) fn html(
    ui: &Ui,
    headers: &HeaderMap,
    status: StatusCode,
    flash: Option<&str>,
    f: impl FnOnce(&Chrome) -> maud::Markup,
) -> Response {
    let caller = ui.0.auth.caller(headers);
    let chrome = Chrome {
        caller: &caller,
        actions_enabled: ui.0.auth.enabled(),
        flash,
    };
    (status, Html(f(&chrome).into_string())).into_response()
}

/// Redis did not answer: the page says so (the details go to the log, which masks secrets).
pub(super) fn unavailable(ui: &Ui, headers: &HeaderMap, e: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "dashboard: Redis request failed");
    html(
        ui,
        headers,
        StatusCode::SERVICE_UNAVAILABLE,
        Some("Redis did not answer; see the worker's log."),
        |c| pages::layout::page(c, "error", "Unavailable", maud::html! {}),
    )
}

/// The queue a page is about: `?queue=`, else the worker's.
pub(super) fn queue_of(ui: &Ui, q: &HashMap<String, String>) -> String {
    non_empty(q, "queue")
        .unwrap_or(ui.0.dash.queue())
        .to_string()
}

pub async fn overview(AxState(ui): AxState<Ui>, headers: HeaderMap, uri: Uri) -> Response {
    let q = query(&uri);
    match ui.0.dash.overview().await {
        Ok(o) => html(
            &ui,
            &headers,
            StatusCode::OK,
            flash_for(non_empty(&q, "done")),
            |c| pages::overview::render(c, &o),
        ),
        Err(e) => unavailable(&ui, &headers, &e),
    }
}

pub async fn jobs(AxState(ui): AxState<Ui>, headers: HeaderMap, uri: Uri) -> Response {
    let q = query(&uri);
    let queue = queue_of(&ui, &q);
    if let Some(id) = non_empty(&q, "q") {
        let id = id.trim().as_bytes();
        match ui.0.dash.exists(&queue, id).await {
            Ok(true) => {
                let mut to = format!("/ui/job/{}", encode_segment(id));
                if queue != ui.0.dash.queue() {
                    to.push_str(&format!("?queue={}", encode_query(&queue)));
                }
                return Redirect::to(&to).into_response();
            }
            Ok(false) => {}
            Err(e) => return unavailable(&ui, &headers, &e),
        }
    }
    let state = non_empty(&q, "state").and_then(State::parse);
    let Some(state) = state.or(non_empty(&q, "state").is_none().then_some(State::All)) else {
        return (StatusCode::BAD_REQUEST, "unknown state\n").into_response();
    };
    let success = match non_empty(&q, "success") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return (StatusCode::BAD_REQUEST, "success is true or false\n").into_response(),
    };
    let jq = JobQuery {
        queue,
        state,
        function: non_empty(&q, "function").map(str::to_string),
        success,
        cursor: non_empty(&q, "cursor")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        limit: non_empty(&q, "limit")
            .and_then(|c| c.parse().ok())
            .unwrap_or(crate::dashboard::DEFAULT_LIMIT),
    };
    let flash = non_empty(&q, "q").map(|id| format!("No job with id {id:?}."));
    match ui.0.dash.jobs(&jq).await {
        Ok(page) => html(&ui, &headers, StatusCode::OK, flash.as_deref(), |c| {
            pages::jobs::render(c, &jq, ui.0.dash.queue(), &page)
        }),
        Err(e) => unavailable(&ui, &headers, &e),
    }
}

pub async fn job(AxState(ui): AxState<Ui>, headers: HeaderMap, uri: Uri) -> Response {
    let Some(seg) = uri
        .path()
        .strip_prefix("/ui/job/")
        .filter(|s| !s.contains('/'))
    else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let id = decode_segment(seg);
    let q = query(&uri);
    let queue = queue_of(&ui, &q);
    match ui.0.dash.job(&queue, &id).await {
        Ok(j) => {
            let status = if j.exists() {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            html(
                &ui,
                &headers,
                status,
                flash_for(non_empty(&q, "done")),
                |c| pages::job::render(c, &j, ui.0.dash.queue()),
            )
        }
        Err(e) => unavailable(&ui, &headers, &e),
    }
}

pub async fn cron(AxState(ui): AxState<Ui>, headers: HeaderMap) -> Response {
    match ui.0.dash.cron(&ui.0.cron).await {
        Ok(rows) => {
            let zone = format!("{:?}", ui.0.cron.tz);
            html(&ui, &headers, StatusCode::OK, None, |c| {
                pages::cron::render(c, &rows, &zone)
            })
        }
        Err(e) => unavailable(&ui, &headers, &e),
    }
}

pub async fn login(AxState(ui): AxState<Ui>, headers: HeaderMap) -> Response {
    if matches!(ui.0.auth.caller(&headers), Caller::Session { .. }) {
        return Redirect::to("/ui").into_response();
    }
    let mut r = html(&ui, &headers, StatusCode::OK, None, pages::login::render);
    r.headers_mut()
        .insert(header::VARY, header::HeaderValue::from_static("Cookie"));
    r
}
