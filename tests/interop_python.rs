//! Compatibility with the real Python arq (from the project's venv), both directions.

mod common;

use common::*;
use std::time::Duration;

/// Python `enqueue_job` (pickle, then msgpack) -> our worker -> Python `job.result()`, for every
/// Diagnostics function, with arguments of every supported type.
#[test]
fn python_producer_our_worker_pickle_and_msgpack() {
    for codec in ["pickle", "msgpack"] {
        let queue = unique_queue(&format!("py2rs-{codec}"));
        let _w = WorkerProcess::start(&queue, &["--codec", codec]);
        let out = run_python(
            "interop.py",
            &["roundtrip", &queue, codec],
            &[("TEST_CODEC", codec)],
        );
        let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert!(summary["checked"].as_u64().unwrap() >= 20, "{codec}: {out}");
    }
}

/// Our `enqueue` -> the Python arq worker -> our `result`, with pickle and with msgpack.
#[test]
fn our_producer_python_worker_our_result() {
    for codec in ["pickle", "msgpack"] {
        let queue = unique_queue(&format!("rs2py-{codec}"));
        let mut py = PythonWorker::start(&queue, &[("BENCH_SERIALIZER", codec)]);
        let url = redis_url();
        let base = [
            "--redis-url",
            url.as_str(),
            "--queue",
            queue.as_str(),
            "--codec",
            codec,
        ];
        let enqueue = |args: &[&str]| {
            let mut a = vec!["enqueue"];
            a.extend_from_slice(args);
            a.extend_from_slice(&base);
            let out = cli(&a);
            assert!(
                out.status.success(),
                "enqueue failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let echo = enqueue(&[
            "echo",
            "1",
            "\"two\"",
            "[3, 4]",
            "héllo",
            "--kwarg",
            "k={\"v\": null}",
        ]);
        let fail = enqueue(&["fail", "kaboom"]);
        let result = |id: &str| {
            let mut a = vec!["result", id, "--wait", "20"];
            a.extend_from_slice(&base);
            cli(&a)
        };
        let out = result(&echo);
        assert!(
            out.status.success(),
            "{codec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["success"], true);
        assert_eq!(
            r["result"]["args"],
            serde_json::json!([1, "two", [3, 4], "héllo"])
        );
        assert_eq!(r["result"]["kwargs"], serde_json::json!({"k": {"v": null}}));
        assert_eq!(r["tries"], 1);
        assert_eq!(r["function"], "echo");
        let out = result(&fail);
        assert_eq!(out.status.code(), Some(1), "a failed job exits 1");
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["success"], false);
        if codec == "pickle" {
            assert_eq!(r["result"]["type"], "builtins.RuntimeError");
            assert_eq!(r["result"]["args"], serde_json::json!(["kaboom"]));
        } else {
            // A Python worker cannot msgpack an exception and stores this string instead.
            assert_eq!(r["result"], "unable to serialize result");
        }
        py.stop();
    }
}

/// Python `job.abort()` of a running and of a deferred job on our worker returns True.
#[test]
fn python_abort_running_and_deferred() {
    let queue = unique_queue("abort");
    let _w = WorkerProcess::start(&queue, &["--allow-abort-jobs"]);
    let out = run_python("interop.py", &["abort", &queue], &[]);
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(r["running"], true, "{out}");
    assert_eq!(r["deferred"], true, "{out}");
}

/// A result our worker wrote for a failure before the function ran is raised by Python as the
/// same exception class a Python worker would store.
#[test]
fn python_reads_early_failures() {
    let queue = unique_queue("early");
    let _w = WorkerProcess::start(&queue, &[]);
    let ids = run_python(
        "interop.py",
        &["enqueue", &queue, "1", "no_such_function"],
        &[],
    );
    let id = ids.trim();
    let out = run_python("interop.py", &["read_result", &queue, id], &[]);
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(r["type"], "arq.worker.JobExecutionFailed", "{out}");
    assert_eq!(r["message"], "function 'no_such_function' not found");
    std::thread::sleep(Duration::from_millis(10));
}
