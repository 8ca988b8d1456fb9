//! One job: every field arq keeps, its keys' TTLs, and the action forms that apply.

use super::layout::{page, Chrome};
use crate::client::JobStatus;
use crate::dashboard::display::{exception, keywords, positional, repr, time, ttl, PAGE_REPR};
use crate::dashboard::ids::{display, encode_query, encode_segment};
use crate::dashboard::JobDetail;
use maud::{html, Markup};

fn field(name: &str, value: Option<String>) -> Markup {
    html! {
        @if let Some(v) = value {
            dt { (name.replace('_', " ")) }
            dd data-field=(name) { (v) }
        }
    }
}

/// One action's form, posting to `/ui/job/{id}/{action}`.
fn action(
    id: &[u8],
    queue: &str,
    default_queue: &str,
    name: &str,
    label: &str,
    csrf: &str,
) -> Markup {
    let mut url = format!("/ui/job/{}/{name}", encode_segment(id));
    if queue != default_queue {
        url.push_str(&format!("?queue={}", encode_query(queue)));
    }
    html! {
        form id=(name) method="post" action=(url) {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { (label) }
        }
    }
}

pub fn render(chrome: &Chrome, j: &JobDetail, default_queue: &str) -> Markup {
    let job = j.job.as_ref().and_then(|r| r.as_ref().ok());
    let result = j.result.as_ref().and_then(|r| r.as_ref().ok());
    let function = result
        .map(|r| r.function.clone())
        .or_else(|| job.map(|j| j.function.clone()));
    let args = result.map(|r| &r.args).or_else(|| job.map(|j| &j.args));
    let exc = result.and_then(exception);
    let failed = result.is_some_and(|r| !r.success);
    let abortable = matches!(
        j.status,
        JobStatus::Queued | JobStatus::Deferred | JobStatus::InProgress
    );
    let title = format!("Job {}", display(&j.id));
    let body = html! {
        dl id="job" data-job-id=(display(&j.id)) {
            (field("id", Some(display(&j.id))))
            (field("queue", Some(j.queue.clone())))
            (field("status", Some(j.status.as_str().to_string())))
            (field("function", function))
            (field("args", args.map(|a| positional(a, PAGE_REPR))))
            (field("kwargs", args.map(|a| keywords(a, PAGE_REPR))))
            (field("tries", j.tries().map(|t| t.to_string())))
            (field("enqueued", result.map(|r| r.enqueue_time_ms).or(job.map(|j| j.enqueue_time_ms)).map(time)))
            (field("due", j.score.map(|s| time(s as i64))))
            (field("started", result.map(|r| time(r.start_ms))))
            (field("finished", result.map(|r| time(r.finish_ms))))
            (field("success", result.map(|r| r.success.to_string())))
            (field("result", result.filter(|r| r.success).map(|r| repr(&r.result, PAGE_REPR))))
            (field("exception_class", exc.as_ref().map(|e| e.0.clone())))
            (field("exception_message", exc.as_ref().map(|e| e.1.clone())))
            (field("abort_requested", j.abort_requested_ms.map(time)))
            (field("ttl_job", ttl(j.ttl_job_ms)))
            (field("ttl_in_progress", ttl(j.ttl_in_progress_ms)))
            (field("ttl_result", ttl(j.ttl_result_ms)))
            @if let Some(Err(e)) = &j.job { (field("job_problem", Some(e.clone()))) }
            @if let Some(Err(e)) = &j.result { (field("result_problem", Some(e.clone()))) }
        }
        @if let Some(csrf) = chrome.csrf() {
            div.actions {
                @if abortable { (action(&j.id, &j.queue, default_queue, "abort", "Abort", csrf)) }
                @if failed { (action(&j.id, &j.queue, default_queue, "retry", "Retry (new id)", csrf)) }
                @if result.is_some() || j.result.is_some() { (action(&j.id, &j.queue, default_queue, "delete", "Delete result", csrf)) }
            }
        }
        @if j.status == JobStatus::NotFound && j.job.is_none() {
            p.note { "Nothing is stored under this id (never enqueued, or its result expired)." }
        }
    };
    page(chrome, "job", &title, body)
}
