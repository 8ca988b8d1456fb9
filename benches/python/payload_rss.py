"""Peak and after-job RSS of `noop(payload)` for big payloads, our worker vs Python arq's.

    python benches/python/payload_rss.py WORKER_BINARY [REDIS_URL]

For each payload and each worker a fresh worker process serves a fresh queue: we read its
idle RSS, enqueue one noop job (pickle), wait for its result, then read VmHWM (peak RSS) and,
after 2 s idle, VmRSS again. Prints a Markdown table (MiB). Ours runs twice: as the image runs
it (the Dockerfile's GLIBC_TUNABLES, below) and bare (glibc's defaults); Python arq with the
environment this script was started with.
"""
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from arq import create_pool
from arq.connections import RedisSettings

HERE = Path(__file__).resolve().parent

# The Dockerfile's ENV GLIBC_TUNABLES (keep in step).
IMAGE_TUNABLES = 'glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=4194304'


def payloads():
    return [
        ('1M short strings', [f's{i}' for i in range(1_000_000)]),
        ('1M ints', list(range(1_000_000))),
        ('30 MB string', 'x' * 30_000_000),
        ('[row] * 5000', [{f'col{i}': i for i in range(50)}] * 5000),
        ("['x' * 1_000_000] * 100", ['x' * 1_000_000] * 100),
    ]


def status(pid, field):
    for line in open(f'/proc/{pid}/status'):
        if line.startswith(field + ':'):
            return int(line.split()[1]) / 1024
    return float('nan')


def start(kind, binary, url, queue):
    env = dict(os.environ)
    if kind == 'ours (image)':
        env['GLIBC_TUNABLES'] = IMAGE_TUNABLES
    if kind.startswith('ours'):
        cmd = [binary, '--settings', 'Diagnostics', '--queue', queue, '--redis-url', url,
               '--http-addr', 'off', '--poll-delay', '0.05']
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    env.update(BENCH_REDIS_URL=url, BENCH_QUEUE=queue, ARQ_POLL_DELAY='0.05')
    arq = str(Path(sys.executable).with_name('arq'))
    return subprocess.Popen([arq, 'arq_reference.WorkerSettings'], cwd=HERE, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def measure(kind, binary, url, payload):
    queue = f'rss:{uuid.uuid4().hex[:12]}'
    proc = start(kind, binary, url, queue)
    redis = await create_pool(RedisSettings.from_dsn(url))
    try:
        await asyncio.sleep(3)
        idle = status(proc.pid, 'VmRSS')
        job = await redis.enqueue_job('noop', payload, _queue_name=queue)
        info = None
        for _ in range(1200):
            info = await job.result_info()
            if info is not None:
                break
            await asyncio.sleep(0.05)
        peak = status(proc.pid, 'VmHWM')
        await asyncio.sleep(2)
        after = status(proc.pid, 'VmRSS')
        ok = info is not None and info.success
        return idle, peak, after, ok
    finally:
        proc.terminate()
        proc.wait(10)
        await redis.delete(queue, f'{queue}:health-check')
        await redis.aclose()


async def main():
    binary = sys.argv[1]
    url = sys.argv[2] if len(sys.argv) > 2 else 'redis://127.0.0.1:6379'
    kinds = ('ours (image)', 'ours (bare)', 'python')
    print('| payload | ' + ' | '.join(f'{k}: idle / peak / after | ok' for k in kinds) + ' |')
    print('|---' * (1 + 2 * len(kinds)) + '|')
    for name, payload in payloads():
        row = [name]
        for kind in kinds:
            idle, peak, after, ok = await measure(kind, binary, url, payload)
            row += [f'{idle:.0f} / {peak:.0f} / {after:.0f}', 'yes' if ok else 'NO']
        print('| ' + ' | '.join(row) + ' |', flush=True)


if __name__ == '__main__':
    asyncio.run(main())
