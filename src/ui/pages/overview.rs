//! The overview: queues, throughput, workers.

use super::layout::{page, Chrome};
use crate::dashboard::display::time;
use crate::dashboard::ids::encode_query;
use crate::dashboard::Overview;
use maud::{html, Markup};

/// Bar chart height, px.
const CHART_H: u64 = 60;

pub fn render(chrome: &Chrome, o: &Overview) -> Markup {
    let (ok, failed) = o.throughput.totals();
    let peak = o
        .throughput
        .minutes
        .iter()
        .map(|(_, a, b)| a + b)
        .max()
        .unwrap_or(0)
        .max(1);
    let bar_w = 12u64;
    let body = html! {
        section id="queues-section" {
            h2 { "Queues" }
            table id="queues" {
                thead { tr {
                    th { "queue" } th { "queued" } th { "deferred" } th { "in progress" }
                    th { "results ok" } th { "results failed" } th { "oldest due (s)" }
                } }
                tbody {
                    @for q in &o.queues {
                        tr data-queue=(q.name) {
                            th scope="row" { a href={ "/ui/jobs?queue=" (encode_query(&q.name)) } { (q.name) } }
                            td data-field="queued" { (q.queued) }
                            td data-field="deferred" { (q.deferred) }
                            td data-field="in_progress" { (q.in_progress) }
                            td data-field="results_ok" { (q.results_ok) }
                            td data-field="results_failed" { (q.results_failed) }
                            td data-field="oldest_due_age" { (q.oldest_due_age_s) }
                        }
                    }
                }
            }
            p.note {
                (o.results_total) " results stored on this database (arq's result keys are not per queue; each names its queue)."
                @if o.results_not_indexed > 0 { " " (o.results_not_indexed) " of them are not counted (too many)." }
                @let undecodable: u64 = o.queues.iter().map(|q| q.results_undecodable).sum();
                @if undecodable > 0 { " " (undecodable) " are over 1 MiB or do not decode with this worker's codec (not counted as ok or failed)." }
            }
        }
        section id="throughput" {
            h2 { "Throughput, whole fleet" }
            p {
                "Last " (o.throughput.minutes.len()) " minutes: "
                span data-field="ok" { (ok) } " succeeded, "
                span data-field="failed" { (failed) } " failed "
                "(from the stored results' finish times)."
            }
            svg width=(bar_w * o.throughput.minutes.len() as u64) height=(CHART_H) role="img" aria-label="jobs finished per minute" {
                @for (i, (_, a, b)) in o.throughput.minutes.iter().enumerate() {
                    @let h_ok = a * CHART_H / peak;
                    @let h_failed = b * CHART_H / peak;
                    rect class="ok" x=(i as u64 * bar_w) y=(CHART_H - h_ok - h_failed) width=(bar_w - 2) height=(h_ok) {}
                    rect class="failed" x=(i as u64 * bar_w) y=(CHART_H - h_failed) width=(bar_w - 2) height=(h_failed) {}
                }
            }
            table id="throughput-minutes" {
                thead { tr { th { "minute" } th { "ok" } th { "failed" } } }
                tbody {
                    @for (start, a, b) in o.throughput.minutes.iter().rev() {
                        tr { td { (time(*start)) } td data-field="ok" { (a) } td data-field="failed" { (b) } }
                    }
                }
            }
        }
        section id="workers-section" {
            h2 { "Workers" }
            table id="workers" {
                thead { tr {
                    th { "worker" } th { "queue" } th { "kind" } th { "health" } th { "complete" }
                    th { "failed" } th { "retried" } th { "ongoing" } th { "queued" } th { "key expires (s)" }
                } }
                tbody {
                    @for w in &o.workers {
                        tr data-worker=(w.id) {
                            th scope="row" { (w.id) }
                            td data-field="queue" { (w.queue) }
                            td data-field="kind" { (w.kind.as_str()) }
                            td data-field="health" { code { (w.health) } }
                            @if let Some(c) = &w.counts {
                                td data-field="j_complete" { (c.complete) }
                                td data-field="j_failed" { (c.failed) }
                                td data-field="j_retried" { (c.retried) }
                                td data-field="j_ongoing" { (c.ongoing) }
                                td data-field="queued" { (c.queued) }
                            } @else {
                                td colspan="5" { "unparsed" }
                            }
                            td data-field="ttl" { @if let Some(t) = w.ttl_s { (t) } }
                        }
                    }
                }
            }
            @if o.workers.is_empty() { p.note { "No health key found: no worker is running, or none has written its health yet." } }
        }
        p.note { "Read at " (time(o.now_ms)) "." }
    };
    page(chrome, "overview", "Overview", body)
}
