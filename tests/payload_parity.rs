//! Payloads web apps send every day, through real workers: Python arq's `enqueue_job`
//! (pickle) -> our worker's `echo` -> Python's `job.result()` compares equal to what was sent;
//! and the same payload set run by a Python arq worker gives equal results and success flags
//! (the stdlib types, shared references `[row] * 5000` and `['x' * 1_000_000] * 100`, a 100k-key
//! dict, a 1M-item list, a failing task and an argument no worker can load).

mod common;

use common::*;
use std::time::{Duration, Instant};

fn collect(queue: &str, out: &std::path::Path) -> serde_json::Value {
    let text = run_python(
        "payload_parity.py",
        &["collect", queue, out.to_str().unwrap()],
        &[],
    );
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn echo_parity_with_python_worker() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.pickle");
    let theirs = dir.path().join("python.pickle");

    let queue = unique_queue("parity-rs");
    let mut w = WorkerProcess::start(&queue, &[]);
    let started = Instant::now();
    let summary = collect(&queue, &ours);
    let ours_took = started.elapsed();
    w.terminate(Duration::from_secs(10));
    let cases = summary["cases"].as_u64().unwrap();
    assert!(cases >= 22, "{summary}");
    assert_eq!(summary["unequal"], serde_json::json!([]), "{summary}");
    assert_eq!(
        summary["failed"],
        serde_json::json!(["fails", "not_importable"]),
        "{summary}"
    );
    assert_eq!(
        summary["echo_equal"].as_u64().unwrap(),
        cases - 2,
        "{summary}"
    );

    let queue = unique_queue("parity-py");
    let mut py = PythonWorker::start(&queue, &[]);
    let started = Instant::now();
    let py_summary = collect(&queue, &theirs);
    let py_took = started.elapsed();
    py.stop();
    assert_eq!(py_summary["unequal"], serde_json::json!([]), "{py_summary}");

    let cmp = run_python(
        "payload_parity.py",
        &["compare", ours.to_str().unwrap(), theirs.to_str().unwrap()],
        &[],
    );
    let cmp: serde_json::Value = serde_json::from_str(cmp.trim()).unwrap();
    assert_eq!(cmp["mismatches"], serde_json::json!([]), "{cmp}");
    eprintln!(
        "payload parity: {cases} cases equal between workers (ours {ours_took:?}, python {py_took:?})"
    );
}
