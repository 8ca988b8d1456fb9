//! The dashboard's commands on the command line, on the same code as the pages
//! (`crate::dashboard`): `jobs` lists, `retry` enqueues a failed job again, `delete` deletes
//! a result. Exit codes: 0 done; 1 the action does not apply (the dashboard's 409); 2 no such
//! job (404); 64 a bad flag value.

use super::Exit;
use crate::codec::Codec;
use crate::config::Command;
use crate::conn::Redis;
use crate::dashboard::display::time;
use crate::dashboard::{ids, ActionError, Dashboard, JobQuery, State};
use serde_json::json;

/// Runs `cmd` if it is one of the dashboard's; `None` otherwise.
pub(super) async fn run(
    redis: &Redis,
    queue: &str,
    codec: Codec,
    cmd: &Command,
) -> Option<anyhow::Result<Exit>> {
    let dash = Dashboard::new(redis.clone(), queue, codec);
    Some(match cmd {
        Command::Jobs {
            state,
            function,
            success,
            limit,
            cursor,
            json,
        } => {
            let Some(state) = State::parse(state) else {
                eprintln!(
                    "lyanna-worker: --state {state:?} is not all, queued, deferred, in_progress or complete"
                );
                return Some(Ok(crate::config::EXIT_USAGE));
            };
            let q = JobQuery {
                queue: queue.to_string(),
                state,
                function: function.clone(),
                success: *success,
                cursor: *cursor,
                limit: *limit,
            };
            list(&dash, &q, *json).await
        }
        Command::Retry { id, same_id } => {
            action(dash.retry(queue, id.as_bytes(), *same_id).await.map(|new| {
                println!("{new}");
            }))
        }
        Command::Delete { id } => {
            action(dash.delete_result(queue, id.as_bytes()).await.map(|()| {
                println!("deleted");
            }))
        }
        _ => return None,
    })
}

fn action(r: Result<(), ActionError>) -> anyhow::Result<Exit> {
    match r {
        Ok(()) => Ok(0),
        Err(ActionError::NotFound) => {
            eprintln!("no job with this id");
            Ok(2)
        }
        Err(ActionError::NotApplicable(why)) => {
            eprintln!("{why}");
            Ok(1)
        }
        Err(ActionError::Client(e)) => Err(e.into()),
    }
}

async fn list(dash: &Dashboard, q: &JobQuery, json: bool) -> anyhow::Result<Exit> {
    use std::io::Write;
    let page = dash.jobs(q).await?;
    // A closed pipe (`| head`) ends the listing quietly.
    let mut out = std::io::stdout().lock();
    for r in &page.rows {
        let id = ids::display(&r.id);
        if json {
            let line = json!({
                "id": id,
                "status": r.status.as_str(),
                "function": r.function,
                "args": r.args,
                "enqueue_time_ms": r.enqueued_ms,
                "due_ms": r.due_ms,
                "tries": r.tries,
                "success": r.success,
                "finish_time_ms": r.finished_ms,
                "problem": r.problem,
            });
            if writeln!(out, "{line}").is_err() {
                return Ok(0);
            }
        } else {
            let when = r.finished_ms.or(r.due_ms).map(time).unwrap_or_default();
            let args = r.problem.clone().unwrap_or_else(|| r.args.clone());
            let outcome = match r.success {
                Some(true) => " ok",
                Some(false) => " failed",
                None => "",
            };
            let status = r.status.as_str();
            if writeln!(
                out,
                "{id}\t{status}{outcome}\t{when}\t{}({args})",
                r.function
            )
            .is_err()
            {
                return Ok(0);
            }
        }
    }
    if !json {
        match page.next_cursor {
            Some(c) => eprintln!(
                "{} of {} shown; next page: --cursor {c}",
                page.rows.len(),
                page.total
            ),
            None => eprintln!("{} of {} shown", page.rows.len(), page.total),
        }
    }
    Ok(0)
}
