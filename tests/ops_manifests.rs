//! The deployment files agree with the binary: the DaemonSet probes the admin server's real
//! paths on its real port, every environment variable it sets is one the binary or the blog's
//! task set reads, the Services its settings name exist, every pod meets the restricted Pod
//! Security Standard, the grace period covers the drain, and the Dockerfile builds and runs
//! what the workspace holds. (Schema validation is `scripts/check-deploy`'s job.)

mod common;
mod ops_support;

use clap::CommandFactory;
use lyanna_worker::admin::{LIVEZ, METRICS, READYZ};
use lyanna_worker::config::Cli;
use ops_support::manifests::{self, keys, object, seq, str_of};
use ops_support::{poll_until, status};
use serde_yaml::Value;
use std::collections::BTreeSet;
use std::time::Duration;

fn worker_container(docs: &[(String, Value)]) -> Value {
    let ds = object(docs, "DaemonSet", "lyanna-arq");
    seq(&ds["spec"]["template"]["spec"]["containers"])
        .into_iter()
        .find(|c| c["name"] == "worker")
        .expect("container worker")
}

/// The value following `flag` in the container's args.
fn arg_value(container: &Value, flag: &str) -> Option<String> {
    let args: Vec<String> = seq(&container["args"])
        .iter()
        .map(|a| str_of(a).to_string())
        .collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {addr}"))
}

/// The admin port: the container port named `admin`.
fn admin_port(container: &Value) -> u16 {
    let p = seq(&container["ports"])
        .into_iter()
        .find(|p| p["name"] == "admin")
        .expect("port admin");
    p["containerPort"].as_u64().expect("containerPort") as u16
}

/// A probe's port, resolving a port name to the container's port.
fn probe_port(container: &Value, probe: &Value) -> u16 {
    match &probe["httpGet"]["port"] {
        Value::Number(n) => n.as_u64().unwrap() as u16,
        Value::String(name) => {
            assert_eq!(name, "admin", "probe on an unknown port name");
            admin_port(container)
        }
        other => panic!("bad probe port {other:?}"),
    }
}

#[test]
fn daemonset_probes_the_admin_servers_paths_and_port() {
    let docs = manifests::all();
    let c = worker_container(&docs);
    let default_addr = Cli::command()
        .get_arguments()
        .find(|a| a.get_id() == "http_addr")
        .and_then(|a| {
            a.get_default_values()
                .first()
                .map(|v| v.to_string_lossy().to_string())
        })
        .expect("--http-addr default");
    let flag_addr = arg_value(&c, "--http-addr").unwrap_or(default_addr.clone());
    let port = admin_port(&c);
    assert_eq!(
        port_of(&default_addr),
        port,
        "admin port differs from --http-addr's default"
    );
    assert_eq!(
        port_of(&flag_addr),
        port,
        "--http-addr differs from the container port"
    );
    assert!(
        flag_addr.starts_with("0.0.0.0:"),
        "kubelet cannot reach {flag_addr}"
    );

    let live = &c["livenessProbe"];
    let ready = &c["readinessProbe"];
    assert_eq!(str_of(&live["httpGet"]["path"]), LIVEZ);
    assert_eq!(str_of(&ready["httpGet"]["path"]), READYZ);
    assert_eq!(probe_port(&c, live), port);
    assert_eq!(probe_port(&c, ready), port);

    let ds = object(&docs, "DaemonSet", "lyanna-arq");
    let ann = &ds["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(str_of(&ann["prometheus.io/scrape"]), "true");
    assert_eq!(str_of(&ann["prometheus.io/port"]), port.to_string());
    assert_eq!(str_of(&ann["prometheus.io/path"]), METRICS);

    assert_eq!(arg_value(&c, "--log-format").as_deref(), Some("json"));
    let settings = arg_value(&c, "--settings").expect("--settings");
    assert_eq!(settings, "WorkerSettings");
    assert!(
        lyanna_tasks::SETTINGS_NAMES.contains(&settings.as_str()),
        "unknown task set {settings}"
    );

    // The paths answer on the real binary (Diagnostics: no database needed).
    let queue = common::unique_queue("manifest-probes");
    let url = common::redis_url();
    let (mut w, local) = common::worker_at_with_admin(
        &url,
        &queue,
        &[
            "--poll-delay",
            "0.5", // the default
        ],
    );
    for path in [
        str_of(&live["httpGet"]["path"]),
        str_of(&ready["httpGet"]["path"]),
        str_of(&ann["prometheus.io/path"]),
    ] {
        assert!(
            poll_until(Duration::from_secs(10), || status(local, path) == 200),
            "{path} not 200"
        );
    }
    assert_eq!(w.terminate(Duration::from_secs(10)), Some(0));
}

/// Names some code of the binary or the task set reads from the environment.
fn binary_help() -> String {
    let out = common::cli(&["--help"]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Whether `"NAME"` appears as a string literal in the task set's sources.
fn task_set_reads(name: &str) -> bool {
    fn walk(dir: &std::path::Path, needle: &str) -> bool {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, needle)
                } else {
                    p.extension().is_some_and(|x| x == "rs")
                        && std::fs::read_to_string(&p).is_ok_and(|t| t.contains(needle))
                }
            })
    }
    walk(
        &common::project_root().join("tasks/src"),
        &format!("\"{name}\""),
    )
}

#[test]
fn every_env_var_the_daemonset_sets_is_read_by_the_binary_or_the_task_set() {
    let docs = manifests::all();
    let c = worker_container(&docs);
    let mut names = BTreeSet::new();
    for e in seq(&c["env"]) {
        names.insert(str_of(&e["name"]).to_string());
        let from = &e["valueFrom"];
        for (kind, r) in [
            ("Secret", &from["secretKeyRef"]),
            ("ConfigMap", &from["configMapKeyRef"]),
        ] {
            if !r.is_null() {
                let obj = object(&docs, kind, str_of(&r["name"]));
                let key = str_of(&r["key"]).to_string();
                assert!(
                    keys(&obj).contains(&key),
                    "{kind} {} has no key {key}",
                    str_of(&r["name"])
                );
            }
        }
    }
    for src in seq(&c["envFrom"]) {
        for (kind, r) in [
            ("ConfigMap", &src["configMapRef"]),
            ("Secret", &src["secretRef"]),
        ] {
            if !r.is_null() {
                names.extend(keys(&object(&docs, kind, str_of(&r["name"]))));
            }
        }
    }
    assert!(names.len() > 10, "too few names found: {names:?}");

    let help = binary_help();
    let mut unread = Vec::new();
    for name in &names {
        let read = if name.starts_with("LYANNA_") || name.starts_with("REDIS_") {
            help.contains(name.as_str())
        } else {
            task_set_reads(name)
        };
        if !read {
            unread.push(name.clone());
        }
    }
    assert!(unread.is_empty(), "set but read by nothing: {unread:?}");

    // Secrets stay out of the ConfigMap.
    let cfg = object(&docs, "ConfigMap", "lyanna-cfg");
    for k in keys(&cfg) {
        assert!(
            !k.contains("PASSWORD") && k != "DB_URL" && k != "REDIS_URL",
            "{k} belongs in a Secret"
        );
    }
    // The Secret template holds placeholders only.
    for (file, v) in &docs {
        if v["kind"] == "Secret" {
            assert_eq!(
                file, "secrets.example.yaml",
                "a Secret outside the template"
            );
            for (k, val) in v["stringData"].as_mapping().expect("stringData") {
                assert!(
                    str_of(val).contains("CHANGE_ME"),
                    "{} is not a placeholder",
                    str_of(k)
                );
            }
        }
    }
}

#[test]
fn services_the_worker_settings_name_exist() {
    let docs = manifests::all();
    let cfg = object(&docs, "ConfigMap", "lyanna-cfg")["data"].clone();
    let service_port = |name: &str| -> Vec<u64> {
        let svc = object(&docs, "Service", name);
        seq(&svc["spec"]["ports"])
            .iter()
            .map(|p| p["port"].as_u64().unwrap())
            .collect()
    };
    let sentinel = str_of(&cfg["REDIS_SENTINEL_SVC_HOST"]);
    let sentinel_port: u64 = str_of(&cfg["REDIS_SENTINEL_SVC_PORT"]).parse().unwrap();
    assert!(service_port(sentinel).contains(&sentinel_port));
    let master = str_of(&cfg["REDIS_SENTINEL_MASTER"]);
    assert_eq!(master, "mymaster");
    let scripts = object(&docs, "ConfigMap", "redis-scripts");
    assert!(str_of(&scripts["data"]["sentinel-start.sh"])
        .contains(&format!("sentinel monitor {master} ")));

    let memcached = str_of(&cfg["MEMCACHED_HOST"]);
    let svc = object(&docs, "Service", memcached);
    assert_eq!(
        svc["spec"]["clusterIP"], "None",
        "memcached must be headless: the worker clears every replica"
    );
    assert!(service_port(memcached).contains(&11211));
    assert_eq!(
        object(&docs, "StatefulSet", "memcached")["spec"]["replicas"],
        3
    );

    let secrets = object(&docs, "Secret", "lyanna-secrets");
    let db_url = str_of(&secrets["stringData"]["DB_URL"]);
    let host = db_url
        .split('@')
        .nth(1)
        .and_then(|r| r.split(':').next())
        .expect("DB_URL host");
    assert!(
        service_port(host).contains(&3306),
        "DB_URL points at no MariaDB service"
    );
}

#[test]
fn grace_period_covers_the_drain_and_rollouts_keep_a_worker_per_node() {
    let docs = manifests::all();
    let ds = object(&docs, "DaemonSet", "lyanna-arq");
    let grace = ds["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_f64()
        .unwrap();
    let cfg = object(&docs, "ConfigMap", "lyanna-cfg");
    let wait: f64 = str_of(&cfg["data"]["LYANNA_JOB_COMPLETION_WAIT"])
        .parse()
        .unwrap();
    assert!(wait > 0.0, "running jobs get no time to finish");
    assert!(
        grace >= wait + 10.0,
        "grace {grace}s leaves too little after a {wait}s wait"
    );
    let u = &ds["spec"]["updateStrategy"];
    assert_eq!(u["type"], "RollingUpdate");
    assert_eq!(u["rollingUpdate"]["maxUnavailable"], 0);
}

#[test]
fn every_pod_meets_the_restricted_pod_security_standard() {
    let docs = manifests::all();
    let ns = object(&docs, "Namespace", "lyanna");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let workloads = manifests::workloads(&docs);
    assert!(
        workloads.len() >= 6,
        "expected the worker, memcached, 2 MariaDB and 2 Redis sets"
    );
    for w in workloads {
        let name = str_of(&w["metadata"]["name"]).to_string();
        let pod = &w["spec"]["template"]["spec"];
        let psc = &pod["securityContext"];
        assert_eq!(psc["runAsNonRoot"], true, "{name}");
        assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault", "{name}");
        assert_ne!(psc["runAsUser"], 0, "{name}");
        assert_eq!(pod["automountServiceAccountToken"], false, "{name}");
        for v in seq(&pod["volumes"]) {
            assert!(v["hostPath"].is_null(), "{name}: hostPath volume");
        }
        for c in seq(&pod["containers"])
            .into_iter()
            .chain(seq(&pod["initContainers"]))
        {
            let cname = format!("{name}/{}", str_of(&c["name"]));
            let sc = &c["securityContext"];
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{cname}");
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{cname}");
            assert!(
                seq(&sc["capabilities"]["drop"]).contains(&Value::from("ALL")),
                "{cname}"
            );
            assert!(
                sc["privileged"].is_null() || sc["privileged"] == false,
                "{cname}"
            );
            let image = str_of(&c["image"]);
            assert!(
                image.contains(':') && !image.ends_with(":latest"),
                "{cname}: unpinned {image}"
            );
            assert!(
                !c["resources"]["requests"]["memory"].is_null(),
                "{cname}: no memory request"
            );
            assert!(
                !c["resources"]["limits"]["memory"].is_null(),
                "{cname}: no memory limit"
            );
            assert!(
                !c["readinessProbe"].is_null() && !c["livenessProbe"].is_null(),
                "{cname}: no probes"
            );
        }
    }
}

#[test]
fn kustomization_lists_every_manifest_but_the_secret_template() {
    let dir = manifests::k8s_dir();
    let k: Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap())
            .unwrap();
    assert_eq!(k["kind"], "Kustomization");
    assert_eq!(k["namespace"], "lyanna");
    let listed: BTreeSet<String> = seq(&k["resources"])
        .iter()
        .map(|r| str_of(r).to_string())
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|f| {
            f.ends_with(".yaml") && f != "kustomization.yaml" && f != "secrets.example.yaml"
        })
        .collect();
    assert_eq!(listed, files);
    assert!(
        !listed.contains("secrets.example.yaml"),
        "applying the template would overwrite real Secrets"
    );
}

#[test]
fn dockerfile_builds_and_runs_what_the_workspace_holds() {
    let root = common::project_root();
    let df = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let lines: Vec<&str> = df
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    // The base images are build arguments (scripts/image passes stand-ins where no registry
    // answers): each FROM read with the ARG defaults filled in.
    let mut args: Vec<(String, String)> = Vec::new();
    for l in &lines {
        if let Some((name, default)) = l.strip_prefix("ARG ").and_then(|a| a.split_once('=')) {
            let mut value = default.to_string();
            for (n, v) in &args {
                value = value.replace(&format!("${{{n}}}"), v);
            }
            args.push((name.to_string(), value));
        }
    }
    let froms: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .map(|l| {
            args.iter().fold(l.to_string(), |l, (n, v)| {
                l.replace(&format!("${{{n}}}"), v)
            })
        })
        .collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    assert!(froms[0].contains(" AS build"));
    assert!(
        froms[0].starts_with("FROM rust:") && froms[0].contains("-slim-bookworm"),
        "{}",
        froms[0]
    );
    assert_eq!(froms[1], "FROM gcr.io/distroless/cc-debian12:nonroot");
    assert!(df.contains("cargo build --release --locked"));
    assert!(lines.contains(&r#"ENTRYPOINT ["lyanna-worker"]"#));
    assert!(lines.contains(&r#"CMD ["--settings", "WorkerSettings"]"#));
    assert!(!df
        .to_uppercase()
        .lines()
        .any(|l| l.trim_start().starts_with("HEALTHCHECK")));
    let user = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "runs as root: {user}"
    );
    let expose = lines
        .iter()
        .find_map(|l| l.strip_prefix("EXPOSE "))
        .expect("EXPOSE");
    let docs = manifests::all();
    assert_eq!(
        expose.parse::<u16>().unwrap(),
        admin_port(&worker_container(&docs))
    );

    // Every workspace member's manifest is copied before the dependency build, and its
    // sources after it.
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members_line = cargo
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("members");
    let members: Vec<&str> = members_line.split('"').skip(1).step_by(2).collect();
    assert!(members.len() >= 3, "{members:?}");
    let body = lines.join("\n");
    let first_build = body.find("cargo build").unwrap();
    for m in members.iter().filter(|m| **m != ".") {
        let manifest = body
            .find(&format!("COPY {m}/Cargo.toml"))
            .unwrap_or_else(|| panic!("{m}/Cargo.toml not copied"));
        assert!(
            manifest < first_build,
            "{m}/Cargo.toml copied after the dependency build"
        );
        assert!(
            body.contains(&format!("COPY {m}/src")),
            "{m}/src not copied"
        );
    }
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l.trim() == "*"),
        ".dockerignore should start from nothing"
    );
}
