//! Decode and encode of a typical job payload and a typical result, pickle vs msgpack vs JSON.
//!
//! The bytes are the real Python arq's (`tests/vectors/*.json`): the job is the blog's
//! `mention_users(12, 'hi @alice and @bob', 4242)`, the result `echo(1, 2, user='bob')`'s.
//! JSON has no vectors (arq has no JSON serializer of its own): its bytes are our encoding of
//! the value the pickle vector decodes to.
//!
//! `big/*`: the pickle decoder on dict-, list- and string-heavy payloads (100k-key dict, 1M
//! ints, 100k strings of 100 chars), in MB/s. The bench writes those bytes to
//! `target/codec-bench/` and then runs Python's `pickle.loads` on the same files
//! (`benches/python/pickle_loads.py`, with `$PYTHON`, else the test venv, else `python3`), so
//! both numbers are printed side by side.
//!
//! Run: `cargo bench --bench codecs`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lyanna_worker::codec::{Codec, Globals};
use lyanna_worker::Value;
use std::hint::black_box;
use std::path::Path;

const JOB: &str = "job_mention_users";
const RESULT: &str = "result_ok_args";

/// The bytes of vector `name` in `tests/vectors/{file}`.
fn vector(file: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("read vectors");
    let all: Vec<serde_json::Value> = serde_json::from_str(&text).expect("vectors are JSON");
    let hex = all
        .iter()
        .find(|v| v["name"] == name)
        .and_then(|v| v["hex"].as_str())
        .unwrap_or_else(|| panic!("no vector {name} in {file}"));
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// (codec, bytes) of one payload in each codec.
fn payloads(name: &str) -> Vec<(Codec, Vec<u8>)> {
    let pickle = vector("pickle.json", name);
    let value = Codec::Pickle
        .decode(&pickle, Globals::Refuse)
        .expect("pickle vector decodes");
    let json = Codec::Json.encode(&value).expect("JSON can carry it");
    vec![
        (Codec::Pickle, pickle),
        (Codec::Msgpack, vector("msgpack.json", name)),
        (Codec::Json, json),
    ]
}

fn bench_payload(c: &mut Criterion, what: &str, name: &str, globals: Globals) {
    let mut group = c.benchmark_group(what);
    for (codec, bytes) in payloads(name) {
        let value: Value = codec.decode(&bytes, globals).expect("decodes");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("decode/{}", codec.name()), |b| {
            b.iter(|| codec.decode(black_box(&bytes), globals).expect("decodes"))
        });
        group.bench_function(format!("encode/{}", codec.name()), |b| {
            b.iter(|| codec.encode(black_box(&value)).expect("encodes"))
        });
    }
    group.finish();
}

fn big_payloads() -> Vec<(&'static str, Value)> {
    vec![
        (
            "dict_100k",
            Value::Dict(
                (0..100_000)
                    .map(|i| (Value::str(format!("key-{i}")), Value::Int(i)))
                    .collect(),
            ),
        ),
        (
            "list_1m_ints",
            Value::List((0..1_000_000).map(Value::Int).collect()),
        ),
        (
            "strings_100k",
            Value::List(
                (0..100_000)
                    .map(|i| Value::str(format!("{i:0>100}")))
                    .collect(),
            ),
        ),
    ]
}

fn python() -> String {
    if let Ok(p) = std::env::var("PYTHON") {
        return p;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyvenv/bin/python");
    if venv.exists() {
        return venv.display().to_string();
    }
    "python3".to_string()
}

fn big(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/codec-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let mut files = Vec::new();
    let mut group = c.benchmark_group("big");
    group.sample_size(10);
    for (name, value) in big_payloads() {
        let bytes = Codec::Pickle.encode(&value).expect("encodes");
        let path = dir.join(format!("{name}.pickle"));
        std::fs::write(&path, &bytes).expect("write payload");
        files.push(path.display().to_string());
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                Codec::Pickle
                    .decode(black_box(&bytes), Globals::Refuse)
                    .expect("decodes")
            })
        });
    }
    group.finish();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/pickle_loads.py");
    match std::process::Command::new(python())
        .arg(script)
        .args(&files)
        .output()
    {
        Ok(out) if out.status.success() => print!("{}", String::from_utf8_lossy(&out.stdout)),
        Ok(out) => eprintln!(
            "pickle_loads.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("no python to compare with: {e}"),
    }
}

fn codecs(c: &mut Criterion) {
    bench_payload(c, "job", JOB, Globals::Refuse);
    bench_payload(c, "result", RESULT, Globals::Opaque);
    big(c);
}

criterion_group!(benches, codecs);
criterion_main!(benches);
