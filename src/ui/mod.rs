//! The web dashboard, served by the admin server under `/ui`; its routes and the elements
//! the browser tests look for are listed in `docs/dashboard.md`. Server-rendered HTML (maud), one embedded stylesheet, no script. Read-only unless an admin
//! token is configured; see [`auth`]. Every response carries a CSP that forbids inline script
//! and style, framing and form posts elsewhere.
//!
//! - `routes.rs`: the GET pages; `actions.rs`: the POSTs (login, logout, abort, retry,
//!   delete).
//! - [`auth`]: token, sessions, CSRF. `params.rs`: query and form decoding. `pages/`: the
//!   templates.
//! - `guard.rs`: what every request passes first: the Host check of [`hosts`] (against DNS
//!   rebinding) and, for bearer tokens, the wrong-token limit of [`limit`] (the login form
//!   uses it too).

mod actions;
pub mod auth;
mod guard;
pub mod hosts;
pub mod limit;
mod pages;
mod params;
mod routes;

use crate::dashboard::{CronView, Dashboard};
use auth::Auth;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hosts::AllowedHosts;
use limit::LoginLimiter;
use std::sync::Arc;

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const STYLE: &str = include_str!("static/style.css");

struct Inner {
    dash: Dashboard,
    auth: Auth,
    cron: CronView,
    hosts: AllowedHosts,
    limiter: LoginLimiter,
}

/// The dashboard's state: the read model, the token and sessions, the cron jobs shown, the
/// Host names answered and the wrong-token counts.
#[derive(Clone)]
pub struct Ui(Arc<Inner>);

impl Ui {
    pub fn new(dash: Dashboard, auth: Auth, cron: CronView, hosts: AllowedHosts) -> Self {
        Ui(Arc::new(Inner {
            dash,
            auth,
            cron,
            hosts,
            limiter: LoginLimiter::new(),
        }))
    }
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found\n")
}

/// The `/ui` routes, with their state, guards and headers. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`: the wrong-token limit counts per
/// client address.
pub fn router(ui: Ui) -> Router {
    Router::new()
        .route("/ui", get(routes::overview))
        .route("/ui/", get(routes::overview))
        .route("/ui/jobs", get(routes::jobs))
        .route(
            "/ui/job/{*rest}",
            get(routes::job).post(actions::job_action),
        )
        .route("/ui/cron", get(routes::cron))
        .route("/ui/login", get(routes::login).post(actions::login))
        .route("/ui/logout", post(actions::logout))
        .route("/ui/static/style.css", get(style))
        .route("/ui/{*rest}", get(not_found))
        .layer(from_fn_with_state(ui.clone(), guard::limit_bearer))
        // Outside the bearer limit: a refused Host never counts as a guess.
        .layer(from_fn_with_state(ui.clone(), guard::check_host))
        .with_state(ui)
        // Outermost, so the guards' refusals carry the headers too.
        .layer(axum::middleware::map_response(security_headers))
}
