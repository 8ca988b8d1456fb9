//! The login form: the admin token, once, for a session cookie.

use super::layout::{page, Chrome};
use maud::{html, Markup};

pub fn render(chrome: &Chrome) -> Markup {
    let body = html! {
        @if !chrome.actions_enabled {
            p.note { "No admin token is configured (--admin-token / LYANNA_ADMIN_TOKEN): the dashboard is read-only and logging in is refused." }
        }
        form id="login" method="post" action="/ui/login" {
            label for="token" { "Admin token" }
            input id="token" name="token" type="password" autocomplete="current-password" required;
            button type="submit" { "Log in" }
        }
    };
    page(chrome, "login", "Log in", body)
}
