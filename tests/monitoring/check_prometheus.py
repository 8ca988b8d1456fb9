"""Queries a real Prometheus that scraped a worker which ran a known set of jobs (tests/monitoring/run)
and checks the metrics, the loaded alert rules and every dashboard panel.

    python check_prometheus.py PROM_URL EXPECT_JSON DASHBOARD_JSON RULES_YML

EXPECT_JSON: {"completed": {fn: n}, "failed": {fn: n}, "retried": {fn: n}, "durations": {fn: n}, "queue_depth": n,
"slots": n, "cron": name}; the oldest due job's age, leases lost and finish errors must read 0 once the jobs ran. Each check waits (up to 30 s) for the next scrapes to show the expected value.
Prints one line per check and "monitoring: N passed, N failed"; exits 1 on a failure.
"""
import json
import re
import sys
import time
import urllib.parse
import urllib.request

import yaml

PROM = ""
results = {"passed": 0, "failed": 0}


def query(expr):
    url = f"{PROM}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def scalar(expr):
    res = query(expr)
    return float(res[0]["value"][1]) if len(res) == 1 else None


def report(ok, what):
    results["passed" if ok else "failed"] += 1
    print(f"{'ok' if ok else 'FAILED'}: {what}", flush=True)


def expect(expr, want, timeout=30.0):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = scalar(expr)
        if got is not None and abs(got - want) < 1e-9:
            break
        time.sleep(0.5)
    report(got is not None and abs(got - want) < 1e-9, f"{expr} = {got} (want {want})")


def main(argv):
    global PROM
    PROM = argv[1].rstrip("/")
    exp = json.loads(argv[2])
    dashboard = json.load(open(argv[3]))
    rules = yaml.safe_load(open(argv[4]))
    job = 'job="lyanna-arq"'

    expect(f"sum(up{{{job}}})", 1)
    for fn, n in exp["completed"].items():
        expect(f'sum(lyanna_worker_jobs_completed_total{{{job}, function="{fn}"}})', n)
    for fn, n in exp["failed"].items():
        expect(f'sum(lyanna_worker_jobs_failed_total{{{job}, function="{fn}"}})', n)
    for fn, n in exp["retried"].items():
        expect(f'sum(lyanna_worker_jobs_retried_total{{{job}, function="{fn}"}})', n)
    started = sum(sum(exp[k].values()) for k in ("completed", "failed", "retried"))
    # Cron jobs (function "cron:NAME") start on their own schedule: not counted here.
    expect(f'sum(lyanna_worker_jobs_started_total{{{job}, function!~"cron:.*"}})', started)
    for fn, n in exp["durations"].items():
        h = f'lyanna_worker_job_duration_seconds_bucket{{{job}, function="{fn}"'
        expect(f'sum(lyanna_worker_job_duration_seconds_count{{{job}, function="{fn}"}})', n)
        expect(f'sum({h}, le="+Inf"}})', n)
        # The jobs slept 50 ms: none in the buckets below that, all within 5 s.
        expect(f'sum({h}, le="0.025"}})', 0)
        expect(f'sum({h}, le="5.0"}})', n)
        total = scalar(f'sum(lyanna_worker_job_duration_seconds_sum{{{job}, function="{fn}"}})')
        report(total is not None and 0.05 * n <= total < 5 * n, f"duration sum of {fn}: {total} s for {n} jobs of 50 ms")
    expect(f"sum(lyanna_worker_queue_depth{{{job}}})", exp["queue_depth"])
    expect(f"sum(lyanna_worker_jobs_in_progress{{{job}}})", 0)
    expect(f"sum(lyanna_worker_slots{{{job}}})", exp["slots"])
    # Only deferred jobs and the cron's next tick are left: none due, so no age.
    expect(f"max(lyanna_worker_oldest_due_job_age_seconds{{{job}}})", 0)
    expect(f"sum(lyanna_worker_leases_lost_total{{{job}}})", 0)
    expect(f"sum(lyanna_worker_finish_errors_total{{{job}}})", 0)
    cron = scalar(f'sum(lyanna_worker_cron_enqueued_total{{{job}, name="{exp["cron"]}"}})')
    report(cron is not None and cron >= 1, f'cron_enqueued_total{{name="{exp["cron"]}"}} = {cron}')

    # Every lyanna_worker_* name the rules and the dashboard use is one the worker exports
    # (a misspelt name would evaluate to nothing, silently).
    with urllib.request.urlopen(f"{PROM}/api/v1/label/__name__/values", timeout=10) as r:
        exported = set(json.load(r)["data"])
    used = set(re.findall(r"lyanna_worker_\w+", json.dumps(rules) + json.dumps(dashboard)))
    report(used <= exported, f"metric names used by rules and dashboard, all exported: {sorted(used - exported) or 'yes'}")

    # The alert rules, as Prometheus itself loaded them: all there, all evaluating without error.
    with urllib.request.urlopen(f"{PROM}/api/v1/rules?type=alert", timeout=10) as r:
        groups = json.load(r)["data"]["groups"]
    loaded = {rule["name"]: rule for g in groups for rule in g["rules"]}
    wanted = [rule["alert"] for g in rules["groups"] for rule in g["rules"]]
    report(sorted(loaded) == sorted(wanted), f"alert rules loaded: {sorted(loaded)}")
    for name in wanted:
        rule = loaded.get(name, {})
        report(rule.get("health") == "ok" and rule.get("lastError", "") == "",
               f"rule {name}: health {rule.get('health')} {rule.get('lastError', '')}")
    firing = [n for n, r in loaded.items() if r.get("state") == "firing"]
    report(not firing, f"no alert firing on a healthy worker (firing: {firing})")

    # rate() and increase() need two samples of a series in their window: wait for a few
    # scrapes after the jobs' counters first appeared (the checks above can pass at the first).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        n = scalar(f'min(count_over_time(lyanna_worker_jobs_failed_total{{{job}}}[1m]))')
        if n is not None and n >= 5:
            break
        time.sleep(0.5)
    # Every panel's queries: each parses and returns data now that the jobs ran. Grafana
    # replaces $__rate_interval (at least 4 scrape intervals); the test scrapes every second.
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", "1m")
            try:
                res = query(expr)
                report(len(res) > 0, f"panel {panel['title']!r} {target['refId']}: {len(res)} series")
            except Exception as e:  # a PromQL parse error comes back as HTTP 400
                report(False, f"panel {panel['title']!r} {target['refId']}: {expr}: {e}")

    print(f"monitoring: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
