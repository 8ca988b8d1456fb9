# Markdown tables from the harness's results.json (issue 7's targets beside the numbers).
#   python report.py [target/bench/results.json]
import json
import sys


def fmt(x, digits=0):
    if x is None:
        return 'n/a'
    return f'{x:,.{digits}f}'


def us_per_job(cpu_s, n):
    return cpu_s * 1e6 / n


def main_table(res):
    rows = ['| measure | Python arq | lyanna-worker | ratio | target | met |',
            '|---|---:|---:|---:|---|---|']

    def row(measure, arq, ours, ratio, target, met):
        met_s = '' if met is None else ('yes' if met else '**no**')
        rows.append(f'| {measure} | {arq} | {ours} | {ratio} | {target} | {met_s} |')

    for m in (100, 10):
        a, o = res.get(f'drain_arq_{m}'), res.get(f'drain_ours_{m}')
        if not (a and o):
            continue
        ratio = o['jobs_per_s'] / a['jobs_per_s']
        row(f"drain {a['n']:,} no-op jobs, max_jobs={m} (jobs/s, start to exit)", fmt(a['jobs_per_s']),
            fmt(o['jobs_per_s']), f'{ratio:.1f}x faster', '>= 30x', ratio >= 30)
        if a.get('active_jobs_per_s') and o.get('active_jobs_per_s'):
            ratio = o['active_jobs_per_s'] / a['active_jobs_per_s']
            row(f'... first job start to last job finish (jobs/s)', fmt(a['active_jobs_per_s']),
                fmt(o['active_jobs_per_s']), f'{ratio:.1f}x faster', '>= 30x', ratio >= 30)
    la, lo = res.get('latency_arq'), res.get('latency_ours')
    if la and lo:
        for q, target in (('p50', 2), ('p99', 10)):
            ratio = la[q] / lo[q] if lo[q] > 0 else float('inf')
            row(f'enqueue -> start latency {q} (ms)', fmt(la[q], 1), fmt(lo[q], 2),
                f'{ratio:.1f}x shorter', f'<= {target} ms', lo[q] <= target)
    a, o = res.get('drain_arq_100'), res.get('drain_ours_100')
    if a and o:
        row(f"peak RSS draining {a['n']:,} jobs, max_jobs=100 (MB)", fmt(a['peak_rss_kb'] / 1024, 1),
            fmt(o['peak_rss_kb'] / 1024, 1), f"{a['peak_rss_kb'] / o['peak_rss_kb']:.1f}x less",
            '<= 15 MB', o['peak_rss_kb'] <= 15 * 1024)
    ia, io = res.get('idle_arq'), res.get('idle_ours')
    if ia and io:
        row('idle RSS after 3 s (MB)', fmt(ia['rss_kb'] / 1024, 1), fmt(io['rss_kb'] / 1024, 1),
            f"{ia['rss_kb'] / io['rss_kb']:.1f}x less", '<= 10 MB', io['rss_kb'] <= 10 * 1024)
    for m in (100, 10):
        a, o = res.get(f'drain_arq_{m}'), res.get(f'drain_ours_{m}')
        if not (a and o):
            continue
        row(f'Redis commands per job, max_jobs={m}', fmt(a['commands_per_job'], 1),
            fmt(o['commands_per_job'], 1), f"{a['commands_per_job'] / o['commands_per_job']:.1f}x fewer",
            'report; fewer is better', None)
        row(f'worker CPU per job, max_jobs={m} (us)', fmt(us_per_job(a['worker_cpu_s'], a['n'])),
            fmt(us_per_job(o['worker_cpu_s'], o['n'])),
            f"{a['worker_cpu_s'] / max(o['worker_cpu_s'], 1e-9):.0f}x less", 'report', None)
        row(f'redis-server CPU per job, max_jobs={m} (us)', fmt(us_per_job(a['redis_cpu_s'], a['n'])),
            fmt(us_per_job(o['redis_cpu_s'], o['n'])),
            f"{a['redis_cpu_s'] / max(o['redis_cpu_s'], 1e-9):.1f}x less", 'report', None)
        row(f'cores busy during the drain, max_jobs={m}: worker + redis / whole machine',
            cores(a), cores(o), '', 'report', None)
    return '\n'.join(rows)


def cores(r):
    busy = (r['worker_cpu_s'] + r['redis_cpu_s']) / r['wall_s']
    return f"{busy:.2f} / {r.get('machine_cores_busy', float('nan')):.2f}"


def scale_table(res):
    rows = ['| lyanna-worker, max_jobs=100 | jobs | jobs/s (runs) | first start to last finish, jobs/s '
            '| cmds/job | worker CPU us/job '
            '| redis CPU us/job | cores busy: worker + redis / whole machine | peak RSS MB |',
            '|---|---:|---:|---:|---:|---:|---:|---:|---:|']
    keys = [k for k in res if k.startswith('scale_procs_')] + [k for k in res if k.startswith('scale_queue_')]
    for k in keys:
        r = res[k]
        label = f"{r['procs']} process{'es' if r['procs'] > 1 else ''}" if k.startswith('scale_procs_') \
            else f"{r['n']:,} queued"
        runs = ', '.join(fmt(x) for x in r.get('runs_jobs_per_s', [r['jobs_per_s']]))
        rows.append(f"| {label} | {r['n']:,} | {fmt(r['jobs_per_s'])} ({runs}) | {fmt(r.get('active_jobs_per_s'))} "
                    f"| {r['commands_per_job']:.1f} "
                    f"| {fmt(us_per_job(r['worker_cpu_s'], r['n']))} | {fmt(us_per_job(r['redis_cpu_s'], r['n']))} "
                    f"| {cores(r)} | {r['peak_rss_kb'] / 1024:.1f} |")
    return '\n'.join(rows) if keys else ''


def commands_table(res):
    rows = ['| run | commands per job (INFO commandstats, incl. those inside Lua and MULTI) |', '|---|---|']
    for k in ('drain_arq_100', 'drain_ours_100', 'drain_arq_10', 'drain_ours_10'):
        r = res.get(k)
        if r:
            parts = ', '.join(f'{c} {v:g}' for c, v in r['commands'].items() if v >= 0.005)
            rows.append(f"| {r['worker']} max_jobs={r['max_jobs']} | {parts} |")
    return '\n'.join(rows)


def tables(res):
    m = res['machine']
    head = (f"{m['nproc']} cores ({m['cpu_model']}), {m['mem_gib']} GiB, Redis {m['redis']}, {m['rustc']}, "
            f"{m['python']}, arq {m['arq']}; commit {m.get('commit')}; load average {m['load_avg_start']} at start, "
            f"{m.get('load_avg_end')} at end")
    parts = [head, '', main_table(res), '', scale_table(res), '', commands_table(res)]
    return '\n'.join(parts)


if __name__ == '__main__':
    path = sys.argv[1] if len(sys.argv) > 1 else 'target/bench/results.json'
    with open(path) as f:
        print(tables(json.load(f)))
