//! The frame of every page: navigation, the login state, flash messages, `<main id="page">`.

use crate::ui::auth::Caller;
use maud::{html, Markup, DOCTYPE};

/// What the frame needs to know about the request.
pub struct Chrome<'a> {
    pub caller: &'a Caller,
    /// A token is configured (actions possible once logged in).
    pub actions_enabled: bool,
    pub flash: Option<&'a str>,
}

impl Chrome<'_> {
    /// The CSRF token to put in forms, when the caller may act through forms.
    pub fn csrf(&self) -> Option<&str> {
        match self.caller {
            Caller::Session { csrf } => Some(csrf),
            _ => None,
        }
    }
}

pub fn page(chrome: &Chrome, name: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · lyanna-worker" }
                link rel="stylesheet" href="/ui/static/style.css";
            }
            body {
                header {
                    nav {
                        a.brand href="/ui" { "lyanna-worker" }
                        a href="/ui" { "Overview" }
                        a href="/ui/jobs" { "Jobs" }
                        a href="/ui/cron" { "Cron" }
                    }
                    div.session {
                        @if let Some(csrf) = chrome.csrf() {
                            form id="logout" method="post" action="/ui/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Log out" }
                            }
                        } @else if chrome.actions_enabled {
                            a id="login-link" href="/ui/login" { "Log in" }
                        } @else {
                            span.readonly title="start the worker with --admin-token to enable actions" { "read-only" }
                        }
                    }
                }
                div id="flash" {
                    @if let Some(f) = chrome.flash { p { (f) } }
                }
                main id="page" data-page=(name) {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}
