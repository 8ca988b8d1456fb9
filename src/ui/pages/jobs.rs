//! The jobs listing: filters, the search box, the table, the next page link.

use super::layout::{page, Chrome};
use crate::dashboard::display::time;
use crate::dashboard::ids::{display, encode_query, encode_segment};
use crate::dashboard::{JobPage, JobQuery, State};
use maud::{html, Markup};

const STATES: [State; 5] = [
    State::All,
    State::Queued,
    State::Deferred,
    State::InProgress,
    State::Complete,
];

/// The link to the same listing from `cursor`.
fn link(q: &JobQuery, default_queue: &str, cursor: u64) -> String {
    let mut url = format!("/ui/jobs?state={}", q.state.as_str());
    if q.queue != default_queue {
        url.push_str(&format!("&queue={}", encode_query(&q.queue)));
    }
    if let Some(f) = &q.function {
        url.push_str(&format!("&function={}", encode_query(f)));
    }
    if let Some(s) = q.success {
        url.push_str(&format!("&success={s}"));
    }
    url.push_str(&format!("&limit={}&cursor={cursor}", q.limit));
    url
}

pub fn job_url(id: &[u8], queue: &str, default_queue: &str) -> String {
    if queue == default_queue {
        format!("/ui/job/{}", encode_segment(id))
    } else {
        format!(
            "/ui/job/{}?queue={}",
            encode_segment(id),
            encode_query(queue)
        )
    }
}

fn opt_time(ms: Option<i64>) -> String {
    ms.map(time).unwrap_or_default()
}

pub fn render(chrome: &Chrome, q: &JobQuery, default_queue: &str, p: &JobPage) -> Markup {
    let body = html! {
        form id="search" method="get" action="/ui/jobs" {
            @if q.queue != default_queue { input type="hidden" name="queue" value=(q.queue); }
            label for="q" { "Job id" }
            input id="q" name="q" type="search" placeholder="exact job id";
            button type="submit" { "Find" }
        }
        form id="filter" method="get" action="/ui/jobs" {
            @if q.queue != default_queue { input type="hidden" name="queue" value=(q.queue); }
            label for="state" { "State" }
            select id="state" name="state" {
                @for s in STATES {
                    option value=(s.as_str()) selected[s == q.state] { (s.as_str()) }
                }
            }
            label for="function" { "Function" }
            input id="function" name="function" value=(q.function.clone().unwrap_or_default());
            label for="success" { "Success" }
            select id="success" name="success" {
                option value="" selected[q.success.is_none()] { "any" }
                option value="true" selected[q.success == Some(true)] { "true" }
                option value="false" selected[q.success == Some(false)] { "false" }
            }
            button type="submit" { "Filter" }
        }
        p.note {
            "Queue " code { (q.queue) } ", " (q.state.as_str()) ": " span id="total" { (p.total) } " in all"
            @if q.function.is_some() || q.success.is_some() { " (before filters)" }
            "."
        }
        table id="jobs" {
            thead { tr {
                th { "id" } th { "function" } th { "args" } th { "enqueued" } th { "due" }
                th { "tries" } th { "status" } th { "success" }
            } }
            tbody {
                @for r in &p.rows {
                    tr data-job-id=(display(&r.id)) {
                        td data-field="id" { a href=(job_url(&r.id, &q.queue, default_queue)) { (display(&r.id)) } }
                        td data-field="function" { (r.function) }
                        td data-field="args" {
                            @if let Some(problem) = &r.problem { em { (problem) } } @else { code { (r.args) } }
                        }
                        td data-field="enqueued" { (opt_time(r.enqueued_ms)) }
                        td data-field="due" { (opt_time(r.due_ms)) }
                        td data-field="tries" { @if let Some(t) = r.tries { (t) } }
                        td data-field="status" { (r.status.as_str()) }
                        td data-field="success" { @if let Some(s) = r.success { (s) } }
                    }
                }
            }
        }
        @if p.rows.is_empty() { p.note { "No jobs." } }
        @if let Some(next) = p.next_cursor {
            p { a id="next-page" href=(link(q, default_queue, next)) { "Next page" } }
        }
    };
    page(chrome, "jobs", "Jobs", body)
}
