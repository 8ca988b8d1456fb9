//! What every `/ui` request passes before its route: its Host must be one the dashboard
//! answers to (see [`hosts`](super::hosts); 421, or 400 when missing or malformed), and a
//! bearer token counts against the client's wrong-token budget (see [`limit`](super::limit);
//! 429 once it is used up). The refusals are plain text that never repeats the request.

use super::hosts::HostVerdict;
use super::limit::retry_after_secs;
use super::{auth, Ui};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The Host a request names: the absolute-form target's authority if any (RFC 9112 3.2.2:
/// it wins over the header), else the `Host` header.
fn host_of(req: &Request) -> Option<&str> {
    match req.uri().authority() {
        Some(a) => Some(a.as_str()),
        None => req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok()),
    }
}

/// 429 with `Retry-After`; `body` says what to do.
pub(super) fn too_many(left: Duration, mut res: Response) -> Response {
    *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(left)),
    );
    res
}

pub(super) async fn check_host(State(ui): State<Ui>, req: Request, next: Next) -> Response {
    let value = host_of(&req);
    match ui.0.hosts.check(value) {
        HostVerdict::Allowed => next.run(req).await,
        HostVerdict::NotAllowed => {
            // Debug-escaped and cut short: the log line cannot be forged or flooded by it.
            let host: String = value.unwrap_or("").chars().take(100).collect();
            tracing::warn!(
                host = ?host,
                "dashboard: refused a request for a Host not in --ui-allowed-hosts"
            );
            (
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected request: the dashboard does not answer to this Host; \
                 see --ui-allowed-hosts\n",
            )
                .into_response()
        }
        HostVerdict::Malformed => (
            StatusCode::BAD_REQUEST,
            "bad request: missing or malformed Host header\n",
        )
            .into_response(),
    }
}

/// A wrong bearer token is a guess like a wrong login: counted per client. A right one is not.
pub(super) async fn limit_bearer(
    State(ui): State<Ui>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let given = auth::bearer(req.headers()).filter(|_| ui.0.auth.enabled());
    if let Some(given) = given {
        if let Err(left) = ui.0.limiter.attempt(peer.ip(), Instant::now()) {
            tracing::warn!(client = %peer.ip(), "dashboard: too many wrong tokens");
            let body = "too many wrong tokens from your address; try again later\n";
            return too_many(left, body.into_response());
        }
        if ui.0.auth.token_matches(given) {
            ui.0.limiter.succeeded(peer.ip());
        }
    }
    next.run(req).await
}
