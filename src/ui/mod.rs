//! The web dashboard, served by the admin server under `/ui`; its routes and the elements
//! the browser tests look for are listed in `docs/dashboard.md`. Server-rendered HTML (maud), one embedded stylesheet, no script. Read-only unless an admin
//! token is configured; see [`auth`]. Every response carries a CSP that forbids inline script
//! and style, framing and form posts elsewhere.
//!
//! - `routes.rs`: the GET pages; `actions.rs`: the POSTs (login, logout, abort, retry,
//!   delete).
//! - [`auth`]: token, sessions, CSRF. `params.rs`: query and form decoding. `pages/`: the
//!   templates.

mod actions;
pub mod auth;
mod pages;
mod params;
mod routes;

use crate::dashboard::{CronView, Dashboard};
use auth::Auth;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const STYLE: &str = include_str!("static/style.css");

struct Inner {
    dash: Dashboard,
    auth: Auth,
    cron: CronView,
}

/// The dashboard's state: the read model, the token and sessions, the cron jobs shown.
#[derive(Clone)]
pub struct Ui(Arc<Inner>);

impl Ui {
    pub fn new(dash: Dashboard, auth: Auth, cron: CronView) -> Self {
        Ui(Arc::new(Inner { dash, auth, cron }))
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

/// The `/ui` routes, with their state and headers.
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
        .with_state(ui)
        .layer(axum::middleware::map_response(security_headers))
}
