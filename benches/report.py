# Markdown tables from the harness's results.json (issues 7 and 16: targets beside the numbers).
#   python report.py [target/bench/results.json]
import json
import sys


def fmt(x, digits=0):
    if x is None:
        return 'n/a'
    return f'{x:,.{digits}f}'


def median_runs(r):
    """`median (run, run, run)` of a repeated drain (the median run is the row's)."""
    runs = ', '.join(fmt(x) for x in r.get('runs_jobs_per_s', [r['jobs_per_s']]))
    return f"{fmt(r['jobs_per_s'])} ({runs})"


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
        ratio_s = f'{ratio:.1f}x faster'
        if 'paired_ratio' in a:
            # The paired figure decides, as for the peers: each pair's two drains ran a second
            # apart, not minutes.
            ratio = a['paired_ratio']
            each = ', '.join(f'{x:.1f}x' for x in a['paired_ratios'])
            ratio_s += f'; paired runs {ratio:.1f}x ({each})'
        row(f"drain {a['n']:,} no-op jobs, max_jobs={m} (jobs/s, start to exit; median (runs))",
            median_runs(a), median_runs(o), ratio_s, '>= 50x', ratio >= 50)
        if a.get('active_jobs_per_s') and o.get('active_jobs_per_s'):
            ratio = o['active_jobs_per_s'] / a['active_jobs_per_s']
            row(f'... first job start to last job finish (jobs/s)', fmt(a['active_jobs_per_s']),
                fmt(o['active_jobs_per_s']), f'{ratio:.1f}x faster', 'report', None)
    la, lo = res.get('latency_arq'), res.get('latency_ours')
    if la and lo:
        for q, target in (('p50', 2), ('p99', 2)):
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
            fmt(o['commands_per_job'], 2), f"{a['commands_per_job'] / o['commands_per_job']:.1f}x fewer",
            '<= 7', o['commands_per_job'] <= 7)
        row(f'worker CPU per job, max_jobs={m} (us)', fmt(us_per_job(a['worker_cpu_s'], a['n'])),
            fmt(us_per_job(o['worker_cpu_s'], o['n'])),
            f"{a['worker_cpu_s'] / max(o['worker_cpu_s'], 1e-9):.0f}x less", 'report', None)
        row(f'redis-server CPU per job, max_jobs={m} (us)', fmt(us_per_job(a['redis_cpu_s'], a['n'])),
            fmt(us_per_job(o['redis_cpu_s'], o['n'])),
            f"{a['redis_cpu_s'] / max(o['redis_cpu_s'], 1e-9):.1f}x less", 'report', None)
        row(f'cores busy during the drain, max_jobs={m}: worker + redis / whole machine',
            cores(a), cores(o), '', 'report', None)
    return '\n'.join(rows) if len(rows) > 2 else ''


def floor_table(res):
    rows = ['| max_jobs | run | jobs/s (median; runs) | ours as % of the best floor | ours as % of this floor, '
            'paired runs (median; each) | cmds/job | worker CPU us/job | redis CPU us/job | peak RSS MB |',
            '|---:|---|---:|---:|---|---:|---:|---:|---:|']
    any_row = False
    for m in (100, 10):
        floors = [res[k] for k in (f'floor_{m}_lanes_1', f'floor_{m}_lanes_2') if k in res]
        ours = res.get(f'drain_ours_{m}')
        if not floors:
            continue
        any_row = True
        best = max(f['jobs_per_s'] for f in floors)
        # The goal is judged on the paired runs (each of our drains a second before the floor's)
        # against the floor that beats ours by more, when the run paired them.
        paired = [f['paired_pct'] for f in floors if 'paired_pct' in f]
        for r in floors + ([ours] if ours else []):
            pct = f"{100 * r['jobs_per_s'] / best:.0f} %"
            label = r.get('label', r['worker']) if r['worker'] == 'floor' else 'lyanna-worker (goal >= 70 %)'
            if r['worker'] == 'floor':
                pair = (f"{r['paired_pct']} % ({', '.join(f'{p} %' for p in r['paired_pcts'])}); ours: "
                        + ', '.join(fmt(x) for x in r['paired_ours_jobs_per_s']) + ' jobs/s'
                        if 'paired_pct' in r else '')
            else:
                pair = (f"{min(paired)} % of the faster floor: {'met' if min(paired) >= 70 else '**not met**'}"
                        if paired else '')
            rows.append(f"| {m} | {label} | {median_runs(r)} | {pct} | {pair} | {r['commands_per_job']:.2f} "
                        f"| {fmt(us_per_job(r['worker_cpu_s'], r['n']), 1)} | {fmt(us_per_job(r['redis_cpu_s'], r['n']), 1)} "
                        f"| {r['peak_rss_kb'] / 1024:.1f} |")
    return '\n'.join(rows) if any_row else ''


def variants_table(res):
    base = res.get('drain_ours_100')
    keys = [k for k in res if k.startswith('variant_')]
    if not keys:
        return ''
    rows = ['| lyanna-worker, max_jobs=100, flags | jobs/s (median; runs) | vs default | first start to last finish, jobs/s '
            '| worker CPU us/job | redis CPU us/job | cores busy: worker + redis / whole machine | peak RSS MB |',
            '|---|---:|---:|---:|---:|---:|---:|---:|']
    for r in ([base] if base else []) + [res[k] for k in keys]:
        vs = f"{r['jobs_per_s'] / base['jobs_per_s']:.2f}x" if base else ''
        label = ' '.join(r.get('extra') or []) or 'defaults (--runtime-threads 2 --log-level info)'
        rows.append(f"| {label} | {median_runs(r)} | {vs} | {fmt(r.get('active_jobs_per_s'))} "
                    f"| {fmt(us_per_job(r['worker_cpu_s'], r['n']), 1)} | {fmt(us_per_job(r['redis_cpu_s'], r['n']), 1)} "
                    f"| {cores(r)} | {r['peak_rss_kb'] / 1024:.1f} |")
    return '\n'.join(rows)


def keys_note(r):
    """The key count over a loaded run, and the powers of two it crossed (each one a table
    Redis grew and rehashed while the probes ran)."""
    if 'keys_before' not in r:
        return ''
    # Tables of up to 4,096 slots grow in no time: only the larger ones are named.
    crossed = [c for c in r.get('crossed_powers_of_two') or [] if c >= 1 << 12]
    return (f"; keys {fmt(r['keys_before'])} -> {fmt(r['keys_after'])}"
            + (f" ({fmt(r['steady_fill'])} of them the harness's)" if r.get('steady_fill') else '')
            + (f", crossing {', '.join('2^%d' % (c.bit_length() - 1) for c in crossed)}" if crossed
               else ', within one power of two'))


def latency_table(res):
    rows = ['| enqueue -> start latency (ms), 200 probe jobs 20 ms apart | p50 | p99 | max '
            '| the probe\'s enqueue_job alone: p50 / p99 | start after it returned: p50 / p99 '
            '| background load | target p99 |',
            '|---|---:|---:|---:|---:|---:|---|---|']
    any_row = False
    for k, label, target in (('latency_arq', 'Python arq, idle', ''), ('latency_ours', 'lyanna-worker, idle', '<= 2 ms'),
                             ('latency_ours_loaded', 'lyanna-worker, draining a background load, from an empty Redis', '<= 5 ms'),
                             ('latency_ours_loaded_steady', 'lyanna-worker, draining the same load, steady key count', '<= 5 ms')):
        r = res.get(k)
        if not r:
            continue
        any_row = True
        load = (f"{fmt(r['load_rate'])} jobs/s asked"
                + (f" (half of a drain just before: {fmt(r['peak_jobs_per_s'])} jobs/s)" if r.get('peak_jobs_per_s') else '')
                + f", {fmt(r.get('load_achieved'))} reached, max_jobs={r.get('max_jobs')}, "
                f"{fmt(r.get('queued_at_end'))} queued at the last probe"
                + (f", producer CPU {fmt(r['load_cpu_s'], 2)} s" if 'load_cpu_s' in r else '')
                + keys_note(r)
                if r.get('load_rate') else 'none')
        met = ''
        if target:
            lim = 2 if '2' in target else 5
            met = f"{target}: {'yes' if r['p99'] <= lim else '**no**'}"
        split = [f"{fmt(r[f'{part}_p50'], 2)} / {fmt(r[f'{part}_p99'], 2)}"
                 if r.get(f'{part}_p99') is not None else 'n/a' for part in ('enqueue', 'after_enqueue')]
        rows.append(f"| {label} | {fmt(r['p50'], 2)} | {fmt(r['p99'], 2)} | {fmt(r['max'], 2)} | {split[0]} | {split[1]} "
                    f"| {load} | {met} |")
    return '\n'.join(rows) if any_row else ''


def peers_table(res):
    ps = res.get('peers')
    if not ps:
        return ''
    ours = res.get('drain_ours_100')
    ours10 = res.get('drain_ours_10')
    rows = ['| peer | concurrency knob | jobs/s (median; runs) | ours / peer | ours / peer, paired runs (median; each) '
            '| cmds/job | peer CPU us/job | redis CPU us/job | peak RSS MB |', '|---|---|---:|---:|---:|---:|---:|---:|---:|']
    for o, label in ((ours, 'lyanna-worker, --max-jobs 100'), (ours10, 'lyanna-worker, --max-jobs 10')):
        if o:
            rows.append(f"| {label} | max_jobs (async tasks) | {median_runs(o)} | | | {o['commands_per_job']:.2f} "
                        f"| {fmt(us_per_job(o['worker_cpu_s'], o['n']))} | {fmt(us_per_job(o['redis_cpu_s'], o['n']))} "
                        f"| {o['peak_rss_kb'] / 1024:.1f} |")
    for p in ps:
        if p.get('error'):
            rows.append(f"| {p['peer']} | {p['knob']} | not run: {p['error']} | | | | | | |")
            continue
        # Compared with our run at the nearer concurrency.
        o = ours10 if p['concurrency'] <= 10 and ours10 else ours
        ratio = f"{o['jobs_per_s'] / p['jobs_per_s']:.1f}x (vs max_jobs={o['max_jobs']})" if o else ''
        rows.append(f"| {p['peer']} | {p['knob']} | {median_runs(p)} | {ratio} | {paired(p)} | {p['commands_per_job']:.2f} "
                    f"| {fmt(us_per_job(p['worker_cpu_s'], p['n']))} | {fmt(us_per_job(p['redis_cpu_s'], p['n']))} "
                    f"| {p['peak_rss_kb'] / 1024:.1f} |")
    done = [p for p in ps if not p.get('error')]
    if done and ours:
        fastest = max(done, key=lambda p: p['jobs_per_s'])
        r = ours['jobs_per_s'] / fastest['jobs_per_s']
        line = (f"\nFastest peer: {fastest['peer']} ({fmt(fastest['jobs_per_s'])} jobs/s); ours at max_jobs=100 "
                f"is {r:.1f}x it")
        if 'paired_ratio' in fastest:
            # The paired figure decides: its two drains ran a second apart, not minutes.
            r = fastest['paired_ratio']
            line += f", {r:.1f}x in runs paired with it (max_jobs={fastest['paired_max_jobs']})"
        rows.append(f"{line} (goal >= 3x: {'met' if r >= 3 else '**not met**'}).")
    return '\n'.join(rows)


def paired(p):
    """`2.9x (2.7x, 2.9x, 3.1x); ours at max_jobs=100: 31,000, ... jobs/s` from a peer's
    paired runs (see harness.peer): the median ratio, each ratio, and our drains beside them."""
    if 'paired_ratio' not in p:
        return ''
    each = ', '.join(f'{x:.1f}x' for x in p['paired_ratios'])
    ours = ', '.join(fmt(x) for x in p['paired_ours_jobs_per_s'])
    return f"{p['paired_ratio']:.1f}x ({each}); ours at max_jobs={p['paired_max_jobs']}: {ours} jobs/s"


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
        rows.append(f"| {label} | {r['n']:,} | {median_runs(r)} | {fmt(r.get('active_jobs_per_s'))} "
                    f"| {r['commands_per_job']:.1f} "
                    f"| {fmt(us_per_job(r['worker_cpu_s'], r['n']))} | {fmt(us_per_job(r['redis_cpu_s'], r['n']))} "
                    f"| {cores(r)} | {r['peak_rss_kb'] / 1024:.1f} |")
    return '\n'.join(rows) if keys else ''


def commands_table(res):
    rows = ['| run | commands per job (INFO commandstats, incl. those inside Lua and MULTI) |', '|---|---|']
    for k in ('drain_arq_100', 'drain_ours_100', 'floor_100_lanes_1', 'drain_arq_10', 'drain_ours_10', 'floor_10_lanes_1'):
        r = res.get(k)
        if r:
            parts = ', '.join(f'{c} {v:g}' for c, v in r['commands'].items() if v >= 0.005)
            rows.append(f"| {r.get('label', r['worker'])} max_jobs={r['max_jobs']} | {parts} |")
    return '\n'.join(rows)


def runs_of(res):
    """Every measured drain in the results (peers included)."""
    out = [v for v in res.values() if isinstance(v, dict) and 'wall_s' in v]
    return out + [p for p in res.get('peers') or [] if 'wall_s' in p]


def tables(res):
    m = res['machine']
    head = (f"{m['nproc']} cores ({m['cpu_model']}), {m['mem_gib']} GiB, Redis {m['redis']}, {m['rustc']}, "
            f"{m['python']}, arq {m['arq']}; commit {m.get('commit')}; load average {m['load_avg_start']} at start, "
            f"{m.get('load_avg_end')} at end")
    stolen = [r['machine_cores_stolen'] for r in runs_of(res) if 'machine_cores_stolen' in r]
    if stolen:
        head += (f"; CPU steal the kernel reported during the drains (time the hypervisor gave these cores to others): "
                 f"mean {sum(stolen) / len(stolen):.3f} cores, most {max(stolen):.3f}")
    parts = [head, '', main_table(res), '', floor_table(res), '', variants_table(res), '',
             latency_table(res), '', peers_table(res), '', scale_table(res), '', commands_table(res)]
    return '\n'.join(p for p in parts if p is not None)


if __name__ == '__main__':
    path = sys.argv[1] if len(sys.argv) > 1 else 'target/bench/results.json'
    with open(path) as f:
        print(tables(json.load(f)))
