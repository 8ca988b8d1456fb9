//! The blog task set's checks that need no running worker: bad settings stop the binary with
//! exit code 64 naming the variable, and mention parsing agrees with the Python original's
//! regex, run by Python on the same contents.

mod common;

use common::python;

#[test]
fn bad_settings_exit_64_naming_the_variable() {
    for (var, value) in [
        ("PERMALINK_TYPE", "uuid"),
        ("DB_URL", "postgres://nope"),
        ("MEMCACHED_HOST", "cache:notaport"),
        ("MAIL_TLS", "sometimes"),
    ] {
        let out = std::process::Command::new(common::worker_bin())
            .args(["--settings", "WorkerSettings", "--http-addr", "off"])
            .env(var, value)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run lyanna-worker");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{var}={value}: {stderr}");
        assert!(stderr.contains(var), "{var}={value}: {stderr}");
    }
}

/// The name parsing against the original's regex, run by Python on the same contents.
#[test]
fn mention_parsing_matches_the_python_original() {
    use lyanna_tasks::blog::mention_text::{find_mentions, mentioned_names};
    let contents = [
        "@alice @bob.smith! and @carol-x, @d_e.f. end",
        "mail me at me@example.com or @@dave",
        "中文 @张三 @li李四，@josé_x @Zoë. @ñandú",
        "@a\u{301}b @x² @xⅧ @x٣ @x‿y @x½ @_no @-no @9lives",
        "@me @me @you @ME trailing @",
        "tabs\t@t1\n@t2\r\n@t3",
        "",
    ];
    let stdin: String = contents
        .iter()
        .map(|c| serde_json::to_string(c).unwrap() + "\n")
        .collect();
    let mut child = std::process::Command::new(python())
        .arg(common::project_root().join("tests/python/blog_client.py"))
        .args(["names", "me"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), contents.len());
    for (content, py) in contents.iter().zip(lines) {
        let py_all: Vec<String> = serde_json::from_value(py["findall"].clone()).unwrap();
        assert_eq!(find_mentions(content), py_all, "{content:?}");
        let mut ours = mentioned_names(content, "me");
        ours.sort();
        let py_names: Vec<String> = serde_json::from_value(py["names"].clone()).unwrap();
        assert_eq!(ours, py_names, "{content:?}");
    }
}
