# The side-by-side benchmark (issues 7 and 16): Python arq, lyanna-worker, the Redis floor
# (the worker's own scripts run by examples/redis_floor.rs) and, with --peers, other job queues,
# all on one private Redis.
# Started by scripts/bench (which builds the binary, makes the venv and starts the Redis);
# run it directly only against a Redis you own: it FLUSHALLs the Redis it is given.
#
# Every scenario: FLUSHALL, enqueue N no-op pickle jobs with the real Python client
# (python/enqueue.py), CONFIG RESETSTAT, start the worker(s) under /usr/bin/time, wait for
# them to exit (burst), then read wall time, peak RSS, worker and redis-server CPU and
# INFO commandstats. Prints markdown tables; writes every number to --out as JSON.
import argparse
import json
import os
import pickle
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import redis

import peers

HERE = os.path.dirname(os.path.abspath(__file__))
PY_DIR = os.path.join(HERE, 'python')
QUEUE = 'arq:queue'
HARNESS_COMMANDS = ('cmdstat_info', 'cmdstat_config|resetstat', 'cmdstat_flushall', 'cmdstat_ping',
                    'cmdstat_dbsize')
# arq's result TTL (keep_result, 1 h), for the keys of steady_keys.
RESULT_TTL_MS = 3_600_000
# KEYS none; ARGV[1] first number, ARGV[2] how many, ARGV[3] TTL (ms): keys the size of a
# no-op job's result.
STEADY_FILL = """
local first = tonumber(ARGV[1])
local value = string.rep('r', 100)
for i = first, first + tonumber(ARGV[2]) - 1 do
  redis.call('SET', 'bench:steady:' .. i, value, 'PX', ARGV[3])
end
return 0
"""
CLK_TCK = os.sysconf('SC_CLK_TCK')

CHILDREN = []  # every Popen we started; each leads its own process group


def spawn(cmd, env=None, cwd=None, log=None):
    out = open(log, 'ab') if log else subprocess.DEVNULL
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=out, start_new_session=True)
    CHILDREN.append(p)
    return p


def spawn_to(cmd, env, cwd, out_path, log):
    """Like spawn, stdout to out_path (the drivers' result line), stderr to the log."""
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=open(out_path, 'wb'), stderr=open(log, 'ab'),
                         start_new_session=True)
    CHILDREN.append(p)
    return p


def kill(p, grace=5.0):
    """SIGTERM the process group we started, then SIGKILL it after `grace` seconds."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        except ProcessLookupError:
            pass


def kill_all(*_):
    for p in CHILDREN:
        kill(p, grace=2.0)


def on_signal(signum, _frame):
    kill_all()
    sys.exit(128 + signum)


def load_avg():
    with open('/proc/loadavg') as f:
        return [float(x) for x in f.read().split()[:3]]


def proc_cpu_s(pid):
    """utime + stime of a process, seconds."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_ticks():
    """(busy, total, steal) clock ticks of all CPUs since boot, from /proc/stat. Steal is time
    the hypervisor gave this VM's CPUs to others (counted in busy): on a shared VM the same
    drain moves by a fifth or more between minutes, and steal says when that was the host."""
    with open('/proc/stat') as f:
        t = [int(x) for x in f.readline().split()[1:]]
    idle = t[3] + t[4]  # idle + iowait
    steal = t[7] if len(t) > 7 else 0
    return sum(t) - idle, sum(t), steal


def median_run(runs, key=lambda r: r['jobs_per_s']):
    """The median of repeated runs (the upper one of an even count), by jobs/s unless `key`
    says otherwise (None: the values themselves)."""
    return sorted(runs, key=key)[len(runs) // 2]


def with_runs(runs):
    """The median run, with every run's jobs/s beside it."""
    return dict(median_run(runs), runs_jobs_per_s=[r['jobs_per_s'] for r in runs])


def ratios_to(ours, runs):
    """Ours / theirs in each pair of drains, and the median of those."""
    ratios = [o['jobs_per_s'] / r['jobs_per_s'] for o, r in zip(ours, runs)]
    return dict(paired_ours_jobs_per_s=[o['jobs_per_s'] for o in ours],
                paired_ratios=[round(r, 2) for r in ratios],
                paired_ratio=round(median_run(ratios, key=None), 2))


def vm_kb(pid, name):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith(name + ':'):
                return int(line.split()[1])
    return None


class Bench:
    def __init__(self, a):
        self.a = a
        self.r = redis.Redis.from_url(a.redis_url)
        self.venv_bin = os.path.dirname(a.python)
        self.logs = os.path.join(os.path.dirname(a.out), 'logs')
        os.makedirs(self.logs, exist_ok=True)
        for name in ('arq.log', 'ours.log'):  # the workers' logs of this run only
            open(os.path.join(self.logs, name), 'w').close()
        self.tmp = tempfile.TemporaryDirectory(prefix='bench-')  # /usr/bin/time's outputs
        self.runs = 0

    # --- workers -------------------------------------------------------------------------
    def env(self, max_jobs):
        e = dict(os.environ)
        e.update(BENCH_REDIS_URL=self.a.redis_url, BENCH_QUEUE=QUEUE, ARQ_MAX_JOBS=str(max_jobs),
                 BENCH_SERIALIZER='pickle', RUST_LOG=e.get('RUST_LOG', 'info'))
        e.pop('REDIS_URL', None)
        return e

    def worker_cmd(self, kind, max_jobs, burst, extra=(), lanes=1):
        if kind == 'arq':
            cmd = [os.path.join(self.venv_bin, 'arq'), 'arq_reference.WorkerSettings']
            return cmd + (['--burst'] if burst else []), PY_DIR
        if kind == 'floor':
            return [self.a.floor_bin, self.a.redis_url, QUEUE, str(max_jobs), str(lanes),
                    self.floor_result()], None
        cmd = [self.a.bin, '--settings', 'Diagnostics', '--max-jobs', str(max_jobs),
               '--redis-url', self.a.redis_url, '--queue', QUEUE, '--http-addr', 'off', *extra]
        return cmd + (['--burst'] if burst else []), None

    def floor_result(self):
        """The result every floor job stores: what arq stores for a no-op job (start and finish
        times 0: the floor runs no job)."""
        path = os.path.join(self.tmp.name, 'floor-result.pickle')
        if not os.path.exists(path):
            with open(path, 'wb') as f:
                f.write(pickle.dumps({'t': 1, 'f': 'noop', 'a': (), 'k': {}, 'et': 0, 's': True,
                                      'r': None, 'st': 0, 'ft': 0, 'q': QUEUE}))
        return path

    def start_worker(self, kind, max_jobs, burst, timed_to=None, extra=(), lanes=1):
        cmd, cwd = self.worker_cmd(kind, max_jobs, burst, extra, lanes)
        if timed_to:
            cmd = ['/usr/bin/time', '-f', '%M %e %U %S', '-o', timed_to] + cmd
        return spawn(cmd, env=self.env(max_jobs), cwd=cwd, log=os.path.join(self.logs, f'{kind}.log'))

    # --- queue ---------------------------------------------------------------------------
    def fill(self, n):
        self.r.flushall()
        started = time.monotonic()
        subprocess.run([self.a.python, os.path.join(PY_DIR, 'enqueue.py'), str(n), 'noop'],
                       env=self.env(1), check=True, timeout=max(120, n / 200),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        queued = self.r.zcard(QUEUE)
        if queued != n:
            raise RuntimeError(f'enqueued {queued} jobs, wanted {n}')
        return time.monotonic() - started

    def results_read(self):
        """Reads back every result: how many, how many succeeded, and the first start and last
        finish (ms) written by the worker, i.e. the time spent on jobs without start-up/exit."""
        keys = list(self.r.scan_iter(match='arq:result:*', count=10000))
        ok, first_st, last_ft = 0, None, None
        for i in range(0, len(keys), 1000):
            for raw in self.r.mget(keys[i:i + 1000]):
                res = pickle.loads(raw)
                ok += bool(res['s'])
                first_st = res['st'] if first_st is None else min(first_st, res['st'])
                last_ft = res['ft'] if last_ft is None else max(last_ft, res['ft'])
        return len(keys), ok, first_st, last_ft

    def command_counts(self):
        stats = self.r.info('commandstats')
        return {k.removeprefix('cmdstat_'): v['calls'] for k, v in stats.items()
                if k not in HARNESS_COMMANDS}

    # --- scenarios -----------------------------------------------------------------------
    def drain(self, kind, n, max_jobs, procs=1, extra=(), lanes=1, label=None):
        enqueue_s = self.fill(n)
        start = lambda timed_to: self.start_worker(kind, max_jobs, burst=True, timed_to=timed_to,
                                                   extra=extra, lanes=lanes)
        out = self.measure(start, n, procs, results=True)
        out.update(worker=kind, label=label or kind, max_jobs=max_jobs, extra=list(extra),
                   lanes=lanes if kind == 'floor' else None, enqueue_s=round(enqueue_s, 2))
        self.log(f"drain {out['label']} n={n} max_jobs={max_jobs} procs={procs}: {out['jobs_per_s']} jobs/s "
                 f"({out['active_jobs_per_s']} first start to last finish), "
                 f"{out['commands_per_job']} cmds/job, peak {out['peak_rss_kb']} kB, "
                 f"cpu worker {out['worker_cpu_s']} s redis {out['redis_cpu_s']} s, "
                 f"machine {out['machine_cores_busy']} cores busy ({out['machine_cores_stolen']} stolen)")
        return out

    def measure(self, start, n, procs=1, results=True):
        """Starts `procs` processes with `start(time_file)` on a filled queue and waits for them
        to exit; reads wall time, peak RSS, CPU (theirs and redis-server's), the machine's busy
        cores and the Redis commands they made."""
        self.r.config_resetstat()
        load_before = load_avg()
        redis_cpu0 = proc_cpu_s(self.a.redis_pid)
        machine0 = machine_ticks()
        self.runs += 1
        files = [os.path.join(self.tmp.name, f'{self.runs}-{i}.time') for i in range(procs)]
        t0 = time.monotonic()
        ps = [start(f) for f in files]
        # A blocking wait returns the moment a process exits: Popen.wait(timeout=...) polls
        # with sleeps of up to 50 ms, a sixth of a 0.3 s drain. A watchdog kills what is still
        # running at the deadline instead.
        expired = threading.Event()

        def stop_all():
            expired.set()
            for p in ps:
                kill(p)

        timer = threading.Timer(self.a.drain_timeout, stop_all)
        timer.daemon = True
        timer.start()
        for p in ps:
            p.wait()
        wall = time.monotonic() - t0
        timer.cancel()
        timed_out = expired.is_set()
        for p in ps:
            kill(p)
        redis_cpu = proc_cpu_s(self.a.redis_pid) - redis_cpu0
        ticks_busy, ticks_all, ticks_steal = (b - a for a, b in zip(machine0, machine_ticks()))
        counts = self.command_counts()
        timings = []
        for f in files:
            with open(f) as fh:
                lines = fh.read().strip().splitlines()
            try:  # '%M %e %U %S'; `time` writes nothing when it was killed itself
                timings.append([float(x) for x in lines[-1].split()])
            except (IndexError, ValueError):
                timings.append([0.0, wall, 0.0, 0.0])
        written, ok, first_st, last_ft = self.results_read() if results else (n, n, None, None)
        busy_s = (last_ft - first_st) / 1000 if written and results and last_ft > first_st else None
        total = sum(counts.values())
        out = {
            'n': n, 'procs': procs,
            'wall_s': round(wall, 3), 'jobs_per_s': round(n / wall, 1),
            # First job's start to last job's finish, from the results: no start-up, no exit.
            'active_s': busy_s, 'active_jobs_per_s': round(n / busy_s, 1) if busy_s else None,
            'peak_rss_kb': max(int(t[0]) for t in timings),
            'worker_cpu_s': round(sum(t[2] + t[3] for t in timings), 2),
            'redis_cpu_s': round(redis_cpu, 2),
            # Everything the machine ran meanwhile, in cores: above worker + redis means others.
            'machine_cores_busy': round(os.cpu_count() * ticks_busy / max(ticks_all, 1), 2),
            'machine_cores_stolen': round(os.cpu_count() * ticks_steal / max(ticks_all, 1), 3),
            'commands_per_job': round(total / n, 2),
            'commands': {k: round(v / n, 3) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])},
            'results_written': written, 'results_succeeded': ok, 'left_queued': self.r.zcard(QUEUE),
            'exit_codes': [p.returncode for p in ps], 'timed_out': timed_out,
            'load_before': load_before, 'load_after': load_avg(),
        }
        if timed_out or written != n or ok != n or (results and out['left_queued']):
            print(f'WARNING: incomplete drain: {out}', file=sys.stderr)
        return out

    def drain_repeated(self, kind, n, max_jobs, procs=1, **kw):
        return with_runs([self.drain(kind, n, max_jobs, procs, **kw) for _ in range(self.a.repeat)])

    def wait_ready(self, p):
        """Until the worker has written its health key (it is polling), at most 20 s."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and p.poll() is None:
            if self.r.exists(f'{QUEUE}:health-check'):
                return
            time.sleep(0.05)
        raise RuntimeError('worker did not become ready (no health-check key) in 20 s')

    def steady_keys(self, load_rate):
        """Fills the emptied Redis with keys of the harness's own (`bench:steady:*`, as many
        and as long-lived as results) so the keys the loaded run adds keep the key count
        inside one power of two. Redis grows its key table (and the table of TTLs) when the
        count reaches a power of two and rehashes it step by step meanwhile: from an empty
        Redis a loaded run crosses 2^15, 2^16 and 2^17 in its 5 s and every command is slower
        (SET +70 % here) for the second after each, which no steady deployment sees (its
        results expire as fast as they are written). Returns how many keys it wrote."""
        # Every job leaves a result, and up to a few thousand job keys are queued at a time.
        growth = int(load_rate * (1.0 + self.a.latency_jobs * 0.02) * 1.25) + self.a.latency_jobs + 5000
        margin = 2000
        power = 1 << 12
        while power <= growth + 2 * margin:
            power <<= 1
        count = power + margin
        fill = self.r.register_script(STEADY_FILL)
        for first in range(0, count, 5000):
            fill(args=[first, min(5000, count - first), RESULT_TTL_MS])
        # The tables grew during the fill: Redis finishes rehashing them within about a second
        # (serverCron rehashes 1 ms in every 100 ms, each command one bucket).
        time.sleep(1.5)
        return count

    def latency(self, kind, max_jobs=10, load_rate=0, steady=False):
        """Enqueue -> start latency of probe jobs, the worker idle or (load_rate > 0) draining a
        background load of that many no-op jobs per second; `steady`: from a key count the
        run's keys do not take across a power of two (see steady_keys)."""
        self.r.flushall()
        filled = self.steady_keys(load_rate) if steady else 0
        p = self.start_worker(kind, max_jobs, burst=False)
        redis_cpu0, cpu0 = proc_cpu_s(self.a.redis_pid), proc_cpu_s(p.pid)
        try:
            self.wait_ready(p)
            keys_before = self.r.dbsize()
            res = subprocess.run(
                [self.a.python, os.path.join(HERE, 'latency.py'), str(self.a.latency_jobs), '20',
                 str(self.a.drain_timeout), str(load_rate)],
                env=self.env(max_jobs), check=True, timeout=self.a.drain_timeout + 30,
                capture_output=True, text=True)
            worker_cpu = proc_cpu_s(p.pid) - cpu0
            keys_after = self.r.dbsize()
        finally:
            kill(p, grace=10)
        out = json.loads(res.stdout)
        # The powers of two the key count crossed while the probes ran (see steady_keys).
        crossed = [1 << k for k in range(1, 40) if keys_before < (1 << k) <= keys_after]
        out.update(keys_before=keys_before, keys_after=keys_after, steady_fill=filled,
                   crossed_powers_of_two=crossed)
        out.update(worker=kind, max_jobs=max_jobs, worker_cpu_s=round(worker_cpu, 2),
                   redis_cpu_s=round(proc_cpu_s(self.a.redis_pid) - redis_cpu0, 2))
        self.log(f"latency {kind} (load {load_rate:.0f}/s, reached {out['load_achieved']}/s): "
                 f"p50 {out['p50']:.2f} ms, p99 {out['p99']:.2f} ms")
        return out

    def peer(self, name, conc, knob, kind, n):
        """A peer's drains of n no-op jobs, as many as ours, each just after one of ours at the
        nearer max_jobs (100, or 10 for a peer of concurrency 10 or less): the VM's speed drifts
        by a fifth between minutes, so each ratio compares two drains a second apart. The
        row is the peer's median run, with the median of the paired ratios; a row with the
        reason when it cannot run."""
        row = {'peer': name, 'concurrency': conc, 'knob': knob, 'n': n}
        why = peers.status(self.a.peers_dir).get(name)
        if why:
            row['error'] = why
            self.log(f'peer {name}: not run: {why}')
            return row
        ours_max_jobs = 10 if conc <= 10 else 100
        ours, runs, error = self.pairs(n, ours_max_jobs, name, lambda: self.peer_once(name, conc, kind, n))
        if error:
            return dict(row, **error)
        return dict(row, **with_runs(runs), paired_max_jobs=ours_max_jobs, **ratios_to(ours, runs))

    def pairs(self, n, max_jobs, label, other):
        """`repeat` pairs of drains: one of ours at max_jobs, then `other()` a second after it
        (the VM's speed drifts by a fifth between minutes, so each pair compares two drains a
        second apart). Our runs, the other's, and the other's first run with an error (the
        pairing stops there), or None."""
        ours, runs = [], []
        for _ in range(self.a.repeat):
            ours.append(self.drain('ours', n, max_jobs, label=f'ours, paired with {label}'))
            run = other()
            if run.get('error'):
                return ours, runs, run
            runs.append(run)
        return ours, runs, None

    def arq_paired(self, n, max_jobs):
        """Python arq's drains, each just after one of ours at the same max_jobs, as the peers'
        are (its own rate moves with the VM as ours does): Python arq's median run with the
        ratio in each pair and the median of those, and our median run."""
        ours, runs, _ = self.pairs(n, max_jobs, 'Python arq', lambda: self.drain('arq', n, max_jobs))
        return dict(with_runs(runs), **ratios_to(ours, runs)), with_runs(ours)

    def floor_paired(self, n, max_jobs, lanes):
        """The Redis floor's drains, each just after one of ours at the same max_jobs, as the
        peers' are: the row is the floor's median run, with ours as a percentage of the floor in
        each pair of drains a second apart and the median of those."""
        label = f'Redis floor, {lanes} lane{"s" * (lanes > 1)}'
        ours, runs, _ = self.pairs(n, max_jobs, f'the {label}',
                                   lambda: self.drain('floor', n, max_jobs, lanes=lanes, label=label))
        pcts = [100 * o['jobs_per_s'] / f['jobs_per_s'] for o, f in zip(ours, runs)]
        return dict(with_runs(runs), paired_ours_jobs_per_s=[o['jobs_per_s'] for o in ours],
                    paired_pcts=[round(p) for p in pcts], paired_pct=round(median_run(pcts, key=None)))

    def peer_once(self, name, conc, kind, n):
        """One drain of a peer: enqueue with its own client, then time its worker."""
        row = {}
        cwd, enq, drain_cmd, extra_env = peers.commands(kind, self.a.peers_dir, n, conc)
        env = dict(self.env(conc), **extra_env)
        log = os.path.join(self.logs, f'peer-{name}.log')
        self.r.flushall()
        try:
            subprocess.run(enq, env=env, cwd=cwd, check=True, timeout=max(300, n / 20),
                           stdout=open(log, 'ab'), stderr=subprocess.STDOUT)
        except (subprocess.SubprocessError, OSError) as e:
            row['error'] = f'enqueue failed ({e}); see {log}'
            self.log(f'peer {name}: {row["error"]}')
            return row
        outs = []

        def start(timed_to):
            out = os.path.join(self.tmp.name, f'peer-{name}-{self.runs}.out')
            outs.append(out)
            cmd = ['/usr/bin/time', '-f', '%M %e %U %S', '-o', timed_to] + drain_cmd
            return spawn_to(cmd, env, cwd, out, log)
        m = self.measure(start, n, results=False)
        with open(outs[-1]) as f:
            got = peers.parse(f.read())
        row.update(m)
        row['wall_jobs_per_s'] = m['jobs_per_s']
        if not got or m['timed_out']:
            row['error'] = f"no result line from the driver (exit {m['exit_codes']}); see {log}"
        else:
            row['driver_s'] = got[1]
            row['jobs_per_s'] = round(n / got[1], 1)
        self.log(f"peer {name} (concurrency {conc}): {row.get('jobs_per_s', row.get('error'))} jobs/s, "
                 f"{m['commands_per_job']} cmds/job, cpu {m['worker_cpu_s']} s, redis {m['redis_cpu_s']} s")
        return row

    def idle(self, kind):
        self.r.flushall()
        p = self.start_worker(kind, 10, burst=False)
        try:
            time.sleep(3)
            if p.poll() is not None:
                raise RuntimeError(f'{kind} worker exited while idle: {p.returncode}')
            out = {'worker': kind, 'rss_kb': vm_kb(p.pid, 'VmRSS'), 'hwm_kb': vm_kb(p.pid, 'VmHWM')}
        finally:
            kill(p, grace=10)
        self.log(f"idle {kind}: {out['rss_kb']} kB")
        return out

    def log(self, msg):
        print(f'[{time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


def machine(a):
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return None
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), None)
    mem = next((int(l.split()[1]) for l in open('/proc/meminfo') if l.startswith('MemTotal')), 0)
    arq_v = run([a.python, '-c', 'import arq; print(arq.VERSION)'])
    return {
        'nproc': os.cpu_count(), 'cpu_model': cpu, 'mem_gib': round(mem / 2**20, 1),
        'kernel': platform.release(), 'redis': redis.Redis.from_url(a.redis_url).info('server')['redis_version'],
        'rustc': run(['rustc', '--version']), 'python': run([a.python, '--version']), 'arq': arq_v,
        'commit': run(['git', '-C', HERE, 'describe', '--always', '--dirty']),
        'load_avg_start': load_avg(), 'date': time.strftime('%Y-%m-%d %H:%M:%S %Z'),
    }


def main():
    ap = argparse.ArgumentParser(
        description='Python arq vs lyanna-worker (and its Redis floor, and with --peers other job '
                    'queues) on one private Redis (run it via scripts/bench).')
    ap.add_argument('--redis-url', required=True)
    ap.add_argument('--redis-pid', type=int, required=True, help='redis-server pid, for its CPU time')
    ap.add_argument('--bin', required=True, help='lyanna-worker release binary')
    ap.add_argument('--floor-bin', required=True, help='examples/redis_floor release binary')
    ap.add_argument('--python', required=True, help="the venv's python (arq is beside it)")
    ap.add_argument('--out', default='target/bench/results.json')
    ap.add_argument('--n', type=int, default=10000, help='jobs per drain')
    ap.add_argument('--big-n', type=int, default=100000, help='the long queue of the scale runs')
    ap.add_argument('--small-n', type=int, default=10000, help='the short queue of the scale runs')
    ap.add_argument('--latency-jobs', type=int, default=200)
    ap.add_argument('--repeat', type=int, default=3, help="runs of each of our drains (median kept)")
    ap.add_argument('--drain-timeout', type=float, default=600, help='seconds any one drain may take')
    ap.add_argument('--quick', action='store_true', help='small N everywhere: checks the harness')
    ap.add_argument('--only', default='drain,floor,variants,latency,idle',
                    help='comma-separated scenarios: drain, floor, variants, latency, idle, scale, peers')
    ap.add_argument('--peers', action='store_true', help='add the peers (scripts/bench installs them)')
    ap.add_argument('--peers-dir', default='target/peers', help='where scripts/bench installed them')
    ap.add_argument('--load-rate', type=float, default=0,
                    help='jobs/s of the latency-under-load background (default: half the rate of '
                         'a max_jobs=100 drain taken just before it)')
    a = ap.parse_args()
    if a.quick:
        a.n, a.big_n, a.small_n, a.latency_jobs, a.repeat = 2000, 10000, 2000, 20, 1
    a.out = os.path.abspath(a.out)
    a.peers_dir = os.path.abspath(a.peers_dir)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    only = set(a.only.split(','))
    if a.peers:
        only.add('peers')
    b = Bench(a)
    res = {'machine': machine(a), 'params': {k: v for k, v in vars(a).items() if k != 'redis_pid'}}
    try:
        if 'drain' in only:
            for m in (100, 10):
                res[f'drain_arq_{m}'], res[f'drain_ours_{m}'] = b.arq_paired(a.n, m)
        if 'floor' in only:
            for m in (100, 10):
                for lanes in (1, 2):
                    res[f'floor_{m}_lanes_{lanes}'] = b.floor_paired(a.n, m, lanes)
        if 'variants' in only:
            # Our drain at max_jobs=100 with one setting changed (the default is drain_ours_100).
            for key, extra in (('threads_1', ['--runtime-threads', '1']),
                               ('current_thread', ['--runtime-threads', '0']),
                               ('log_warn', ['--log-level', 'warn']),
                               ('log_warn_threads_1', ['--log-level', 'warn', '--runtime-threads', '1'])):
                res[f'variant_{key}'] = b.drain_repeated('ours', a.n, 100, extra=extra, label=' '.join(extra))
        if 'latency' in only:
            res['latency_arq'] = b.latency('arq')
            res['latency_ours'] = b.latency('ours')
            # Half the peak of a drain taken just before (this VM's speed drifts by a third
            # between minutes: half of a peak read minutes earlier can be most of the capacity
            # the worker has now).
            peak = None if a.load_rate else b.drain('ours', a.n, 100, label='ours, peak for the loaded latency')
            rate = a.load_rate or peak['jobs_per_s'] / 2
            res['latency_ours_loaded'] = b.latency('ours', max_jobs=100, load_rate=rate)
            # The same load from a key count it stays within a power of two of (as in a
            # deployment whose results expire as fast as they come), right after.
            res['latency_ours_loaded_steady'] = b.latency('ours', max_jobs=100, load_rate=rate, steady=True)
            if peak:
                for k in ('latency_ours_loaded', 'latency_ours_loaded_steady'):
                    res[k]['peak_jobs_per_s'] = peak['jobs_per_s']
        if 'idle' in only:
            res['idle_arq'] = b.idle('arq')
            res['idle_ours'] = b.idle('ours')
        if 'scale' in only:
            for procs in (1, 2, 4):
                res[f'scale_procs_{procs}'] = b.drain_repeated('ours', a.n, 100, procs)
            for n in (a.small_n, a.big_n):
                res[f'scale_queue_{n}'] = b.drain_repeated('ours', n, 100)
        if 'peers' in only:
            res['peers'] = [b.peer(name, conc, knob, kind, a.n) for name, conc, knob, kind in peers.PEER_LIST]
    finally:
        kill_all()
        b.tmp.cleanup()
        res['machine']['load_avg_end'] = load_avg()
        with open(a.out, 'w') as f:
            json.dump(res, f, indent=1)
    from report import tables  # noqa: E402 (the report lives beside this file)
    print(tables(res))
    print(f'\nraw results: {a.out}', file=sys.stderr)


if __name__ == '__main__':
    main()
