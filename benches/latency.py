# Enqueue -> start latency, one job at a time, with the real Python arq client.
#   python latency.py JOBS [spacing-ms] [timeout-s]
# Env: BENCH_REDIS_URL, BENCH_QUEUE, BENCH_SERIALIZER (pickle | msgpack)
#
# One `echo(t0)` job is enqueued every SPACING ms (a steady trickle, as a web app sends them,
# not a burst), t0 being time.time() read just before enqueue_job. The latency of a job is its
# result's start time `st` (ms, written by the worker) minus t0; results are read once every
# job is enqueued. Arrivals fall at every phase of a polling worker's poll_delay, so a worker
# that only polls shows about poll_delay / 2 at p50 and poll_delay at p99.
# Prints one JSON object on stdout: samples (ms), p50, p99, mean, max.
import asyncio
import functools
import json
import os
import pickle
import sys
import time

from arq import create_pool
from arq.connections import RedisSettings


def percentile(sorted_ms, q):
    """Nearest-rank percentile (q in 0..100) of an ascending list."""
    if not sorted_ms:
        return None
    rank = max(1, -(-len(sorted_ms) * q // 100))
    return sorted_ms[int(rank) - 1]


async def start_latency_ms(redis, loads, job_id, deadline):
    key = f'arq:result:{job_id}'
    while True:
        raw = await redis.get(key)
        if raw is not None:
            result = loads(raw)
            return result['st'] - result['r']['args'][0] * 1000
        if time.time() > deadline:
            raise TimeoutError(f'job {job_id} did not finish in time')
        await asyncio.sleep(0.01)


async def main(jobs: int, spacing_ms: float, timeout_s: float) -> None:
    loads = pickle.loads
    kw = {}
    if os.environ.get('BENCH_SERIALIZER', 'pickle') == 'msgpack':
        import msgpack
        loads = functools.partial(msgpack.unpackb, raw=False)
        kw = dict(job_serializer=msgpack.packb, job_deserializer=loads)
    redis = await create_pool(
        RedisSettings.from_dsn(os.environ.get('BENCH_REDIS_URL', 'redis://127.0.0.1:6379')),
        default_queue_name=os.environ.get('BENCH_QUEUE', 'arq:queue'),
        **kw,
    )
    deadline = time.time() + timeout_s
    ids = []
    try:
        began = time.monotonic()
        for i in range(jobs):
            t0 = time.time()
            job = await redis.enqueue_job('echo', t0)
            ids.append(job.job_id)
            await asyncio.sleep(max(0.0, began + (i + 1) * spacing_ms / 1000 - time.monotonic()))
        samples = [round(await start_latency_ms(redis, loads, i, deadline), 3) for i in ids]
    finally:
        await redis.aclose()
    ordered = sorted(samples)
    print(json.dumps({
        'jobs': len(samples),
        'spacing_ms': spacing_ms,
        'p50': percentile(ordered, 50),
        'p99': percentile(ordered, 99),
        'mean': round(sum(samples) / len(samples), 3),
        'max': ordered[-1],
        'samples': samples,
    }))


if __name__ == '__main__':
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    spacing = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 300.0
    asyncio.run(main(n, spacing, timeout))
