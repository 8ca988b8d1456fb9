# The peers of `scripts/bench --peers`: other job queues draining the same no-op jobs on the
# same private Redis (see benches/peers/README.md for the drivers). scripts/bench installs
# them into target/peers/ and says here, in target/peers/status.json, which could not be
# installed and why; each peer's row then carries that reason instead of a number.
import json
import os
import re
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, 'peers')
JSON_LINE = re.compile(r'\{"jobs":\s*(\d+),\s*"seconds":\s*([0-9.eE+-]+)\}')

# name, concurrency, what the knob is, how the driver is run (given the install dir).
PEER_LIST = [
    ('BullMQ', 100, 'Worker concurrency=100 (async, one Node process)', 'node'),
    ('Sidekiq', 10, 'sidekiq -c 10 (threads, one Ruby process; its default)', 'sidekiq'),
    ('saq', 100, 'Worker concurrency=100 (asyncio, one process)', 'py:saq'),
    ('taskiq', 100, 'Receiver max_async_tasks=100 (asyncio, ListQueueBroker)', 'py:taskiq'),
    ('RQ', 1, 'one SimpleWorker (RQ runs one job at a time per worker)', 'py:rq'),
    ('Celery', 10, 'celery worker --pool threads --concurrency 10', 'py:celery'),
]


def status(install_dir):
    try:
        with open(os.path.join(install_dir, 'status.json')) as f:
            return json.load(f)
    except OSError:
        return {}


def commands(kind, install_dir, n, conc):
    """(cwd, enqueue argv, drain argv, extra env) for one peer."""
    if kind == 'node':
        d = os.path.join(PEERS, 'bullmq')
        env = {'NODE_PATH': os.path.join(install_dir, 'node', 'node_modules')}
        node = shutil.which('node') or 'node'
        return d, [node, 'drain.js', 'enqueue', str(n)], [node, 'drain.js', 'drain', str(n), str(conc)], env
    if kind == 'sidekiq':
        d = os.path.join(PEERS, 'sidekiq')
        return d, ['ruby', 'drain.rb', 'enqueue', str(n)], \
            [shutil.which('sidekiq') or 'sidekiq', '-r', './drain.rb', '-c', str(conc), '-q', 'bench'], \
            {'BENCH_N': str(n)}
    name = kind.split(':', 1)[1]
    d = os.path.join(PEERS, 'python')
    py = os.path.join(install_dir, 'venv', 'bin', 'python')
    script = f'{name}_drain.py'
    return d, [py, script, 'enqueue', str(n)], [py, script, 'drain', str(n), str(conc)], \
        {'C_FORCE_ROOT': '1'}


def parse(stdout_text):
    """The driver's JSON line (found anywhere: some peers log to stdout too)."""
    m = None
    for m in JSON_LINE.finditer(stdout_text):
        pass
    return (int(m.group(1)), float(m.group(2))) if m else None
