//! The cron jobs of the running task set.

use super::layout::{page, Chrome};
use crate::dashboard::display::time;
use crate::dashboard::CronRow;
use maud::{html, Markup};

pub fn render(chrome: &Chrome, rows: &[CronRow], zone: &str) -> Markup {
    let body = html! {
        p.note { "Times in UTC; schedules are evaluated in " code { (zone) } "." }
        table id="cron" {
            thead { tr { th { "name" } th { "schedule" } th { "next run" } th { "last run" } th { "last result" } } }
            tbody {
                @for r in rows {
                    tr data-cron=(r.name) {
                        th scope="row" { (r.name) }
                        td data-field="schedule" { code { (r.schedule) } }
                        td data-field="next_run" { (r.next_run_ms.map(time).unwrap_or_default()) }
                        td data-field="last_run" { (r.last_run_ms.map(time).unwrap_or_default()) }
                        td data-field="last_result" { (r.last_result) }
                    }
                }
            }
        }
        @if rows.is_empty() { p.note { "This worker's task set has no cron jobs." } }
    };
    page(chrome, "cron", "Cron", body)
}
