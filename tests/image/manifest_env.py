"""The container's command line and environment exactly as the DaemonSet gives them, for
tests/image/run-as-daemonset.

    python manifest_env.py K8S_DIR OUT_DIR KEY=VALUE...

Reads the DaemonSet (lyanna-arq.yaml), the ConfigMap it names in envFrom (lyanna-cfg.yaml) and
the Secret template (secrets.example.yaml). The Secret is made as an operator makes it from the
template: every key of the template, each CHANGE_ME replaced by a fresh password. KEY=VALUE
arguments then point the settings that name hosts at the local stack (the only overrides; a
KEY that the manifests do not set is refused, so a renamed setting cannot be papered over,
except MAIL_TLS, which the sink needs).

Writes OUT_DIR/env (NAME=VALUE lines, for buildah run --env), OUT_DIR/args (one argument a
line, the container's args) and OUT_DIR/secret.json (the Secret's values, for the stack).
"""
import json
import pathlib
import secrets
import sys

import yaml


def docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def main(argv):
    k8s, out = pathlib.Path(argv[1]), pathlib.Path(argv[2])
    overrides = dict(a.split("=", 1) for a in argv[3:])
    (ds,) = [d for d in docs(k8s / "lyanna-arq.yaml") if d["kind"] == "DaemonSet"]
    (container,) = ds["spec"]["template"]["spec"]["containers"]
    configmaps = {d["metadata"]["name"]: d for d in docs(k8s / "lyanna-cfg.yaml") if d["kind"] == "ConfigMap"}
    templates = {d["metadata"]["name"]: d for d in docs(k8s / "secrets.example.yaml") if d["kind"] == "Secret"}
    made = {
        name: {k: (v.replace("CHANGE_ME", secrets.token_hex(12)) if "CHANGE_ME" in v else v)
               for k, v in t["stringData"].items()}
        for name, t in templates.items()
    }
    env = {}
    for source in container.get("envFrom", []):
        env.update({k: str(v) for k, v in configmaps[source["configMapRef"]["name"]]["data"].items()})
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = made[ref["name"]][ref["key"]]
    for k, v in overrides.items():
        if k not in env and k != "MAIL_TLS":
            sys.exit(f"manifest_env: {k} is not set by the DaemonSet; nothing to point at the stack")
        env[k] = v.replace("{DB_PASSWORD}", db_password(made))
    (out / "env").write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))
    (out / "args").write_text("".join(f"{a}\n" for a in container["args"]))
    (out / "secret.json").write_text(json.dumps({"env": env, "secrets": made}))
    return 0


def db_password(made):
    # mysql://lyanna:PASSWORD@host:port/db: the password the Secret's DB_URL carries.
    url = made["lyanna-secrets"]["DB_URL"]
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
