//! The Kubernetes manifests of `k8s/` as YAML values, for the checks of `tests/ops_manifests.rs`.

use serde_yaml::Value;
use std::path::PathBuf;

pub fn k8s_dir() -> PathBuf {
    crate::common::project_root().join("k8s")
}

/// Every document of every `k8s/*.yaml` (the Secret template included), with its file name.
pub fn all() -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(k8s_dir())
        .expect("k8s/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).expect("read manifest");
        // Documents are separated by `---` lines (no other YAML stream syntax is used here).
        let mut doc = String::new();
        for line in text.lines().chain(std::iter::once("---")) {
            if line.trim_end() == "---" {
                let v: Value = serde_yaml::from_str(&doc).unwrap_or_else(|e| panic!("{name}: {e}"));
                if !v.is_null() {
                    docs.push((name.clone(), v));
                }
                doc.clear();
            } else {
                doc.push_str(line);
                doc.push('\n');
            }
        }
    }
    docs
}

/// The object of `kind` called `name`.
pub fn object(docs: &[(String, Value)], kind: &str, name: &str) -> Value {
    docs.iter()
        .map(|(_, v)| v)
        .find(|v| v["kind"] == kind && v["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in k8s/"))
        .clone()
}

/// Workload objects with a pod template.
pub fn workloads(docs: &[(String, Value)]) -> Vec<Value> {
    docs.iter()
        .map(|(_, v)| v.clone())
        .filter(|v| {
            matches!(
                v["kind"].as_str(),
                Some("DaemonSet" | "StatefulSet" | "Deployment")
            )
        })
        .collect()
}

pub fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

pub fn seq(v: &Value) -> Vec<Value> {
    v.as_sequence().cloned().unwrap_or_default()
}

/// The keys of a ConfigMap's `data` or a Secret's `stringData`/`data`.
pub fn keys(obj: &Value) -> Vec<String> {
    ["data", "stringData"]
        .iter()
        .filter_map(|f| obj[*f].as_mapping())
        .flat_map(|m| m.keys().map(|k| str_of(k).to_string()))
        .collect()
}
