# Enqueue -> start latency, one job at a time, with the real Python arq client.
#   python latency.py JOBS [spacing-ms] [timeout-s] [load-jobs-per-s]
# Env: BENCH_REDIS_URL, BENCH_QUEUE, BENCH_SERIALIZER (pickle | msgpack)
#
# One `echo(t0)` job is enqueued every SPACING ms (a steady trickle, as a web app sends them,
# not a burst), t0 being time.time() read just before enqueue_job. The latency of a job is its
# result's start time `st` (ms, written by the worker) minus t0; results are read once every
# job is enqueued. Arrivals fall at every phase of a polling worker's poll_delay, so a worker
# that only polls shows about poll_delay / 2 at p50 and poll_delay at p99.
#
# With a load rate, a background producer keeps adding no-op jobs at that rate from 0.5 s
# before the first probe to the last one: the probes are timed while the worker drains that
# load. The producer must not take the worker's cores: a Python producer serializing and
# pipelining 18,000 jobs/s took most of one of the machine's two cores itself. So it is a Lua
# script (LOAD_SCRIPT) that Redis runs every 2 ms: it writes the jobs due since the last call,
# each a job key holding one no-op job pickled by arq (serialize_job, once) and a ZADD to the
# queue, which is the work a real producer makes Redis do; each ZADD publishes its keyspace
# event as an enqueue does. The producer is a process of its own with its own connection, and
# its CPU is reported beside the result.
# Prints one JSON object on stdout: samples (ms), p50, p99, mean, max, and the same of the
# probes' enqueue_job calls alone (enqueue_ms, enqueue_p50, enqueue_p99) and of the start
# after that call returned (after_enqueue_p50, after_enqueue_p99).
import asyncio
import functools
import json
import multiprocessing
import os
import pickle
import sys
import time
import uuid

from arq import create_pool
from arq.connections import RedisSettings
from arq.constants import default_queue_name, expires_extra_ms, job_key_prefix
from arq.jobs import serialize_job


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


# KEYS[1] queue; ARGV[1] score (ms), ARGV[2] how many jobs, ARGV[3] first sequence number,
# ARGV[4] payload, ARGV[5] job key TTL (ms), ARGV[6] id prefix, ARGV[7] arq's job key prefix.
LOAD_SCRIPT = """
local first = tonumber(ARGV[3])
for i = first, first + tonumber(ARGV[2]) - 1 do
  local id = ARGV[6] .. i
  redis.call('SET', ARGV[7] .. id, ARGV[4], 'PX', ARGV[5])
  redis.call('ZADD', KEYS[1], ARGV[1], id)
end
return 0
"""


def load_process(url, queue, rate, stop, sent, cpu, serializer):
    """The background producer, in a process of its own: has Redis add the jobs due every
    2 ms until `stop` is set; `sent` is how many, `cpu` its own CPU seconds."""
    import redis as sync_redis
    dumps = pickle.dumps
    if serializer == 'msgpack':
        import msgpack
        dumps = msgpack.packb
    r = sync_redis.Redis.from_url(url)
    add = r.register_script(LOAD_SCRIPT)
    payload = serialize_job('noop', (), {}, None, int(time.time() * 1000), serializer=dumps)
    prefix = f'load{uuid.uuid4().hex[:8]}-'
    began = time.monotonic()
    n = 0
    while not stop.is_set():
        due = int((time.monotonic() - began) * rate) - n
        if due > 0:
            add(keys=[queue], args=[int(time.time() * 1000), due, n, payload, expires_extra_ms, prefix,
                                    job_key_prefix])
            n += due
        time.sleep(0.002)
    sent.value = n
    cpu.value = time.process_time()
    r.close()


async def main(jobs: int, spacing_ms: float, timeout_s: float, load_rate: float = 0) -> None:
    loads = pickle.loads
    dumps = pickle.dumps
    kw = {}
    if os.environ.get('BENCH_SERIALIZER', 'pickle') == 'msgpack':
        import msgpack
        loads = functools.partial(msgpack.unpackb, raw=False)
        dumps = msgpack.packb
        kw = dict(job_serializer=msgpack.packb, job_deserializer=loads)
    redis = await create_pool(
        RedisSettings.from_dsn(os.environ.get('BENCH_REDIS_URL', 'redis://127.0.0.1:6379')),
        default_queue_name=os.environ.get('BENCH_QUEUE', 'arq:queue'),
        **kw,
    )
    queue = os.environ.get('BENCH_QUEUE', default_queue_name)
    deadline = time.time() + timeout_s
    ids = []
    # How long each probe's enqueue_job took (its WATCH, EXISTS and MULTI/EXEC round trips,
    # each waiting behind whatever script Redis is running): part of every sample.
    enqueue_ms = []
    stop = multiprocessing.Event()
    sent = multiprocessing.Value('q', 0)
    load_cpu = multiprocessing.Value('d', 0.0)
    load = None
    if load_rate > 0:
        url = os.environ.get('BENCH_REDIS_URL', 'redis://127.0.0.1:6379')
        serializer = os.environ.get('BENCH_SERIALIZER', 'pickle')
        load = multiprocessing.Process(
            target=load_process, args=(url, queue, load_rate, stop, sent, load_cpu, serializer),
            daemon=True)
        load.start()
        await asyncio.sleep(0.5)
    try:
        began = time.monotonic()
        for i in range(jobs):
            t0 = time.time()
            job = await redis.enqueue_job('echo', t0)
            enqueue_ms.append(round((time.time() - t0) * 1000, 3))
            ids.append(job.job_id)
            await asyncio.sleep(max(0.0, began + (i + 1) * spacing_ms / 1000 - time.monotonic()))
        probing_s = time.monotonic() - began
        # Queued (due or running) when the last probe went in: a backlog means the worker
        # did not keep up with the load, and the probes waited behind it.
        queued_at_end = await redis.zcard(queue)
        stop.set()
        load_jobs = 0
        if load:
            await asyncio.get_running_loop().run_in_executor(None, load.join, 30)
            load_jobs = sent.value
        samples = [round(await start_latency_ms(redis, loads, i, deadline), 3) for i in ids]
    finally:
        await redis.aclose()
    ordered = sorted(samples)
    enqueue_ordered = sorted(enqueue_ms)
    after = sorted(round(s - e, 3) for s, e in zip(samples, enqueue_ms))
    print(json.dumps({
        'jobs': len(samples),
        'spacing_ms': spacing_ms,
        'load_rate': load_rate,
        # What the producer reached: below load_rate means it could not keep up.
        'queued_at_end': queued_at_end,
        'load_achieved': round(load_jobs / (probing_s + 0.5), 1) if load_jobs else 0,
        # The producer's own CPU seconds (it shares the machine with the worker and Redis).
        'load_cpu_s': round(load_cpu.value, 2),
        'p50': percentile(ordered, 50),
        'p99': percentile(ordered, 99),
        'mean': round(sum(samples) / len(samples), 3),
        'max': ordered[-1],
        'samples': samples,
        'enqueue_p50': percentile(enqueue_ordered, 50),
        'enqueue_p99': percentile(enqueue_ordered, 99),
        'enqueue_ms': enqueue_ms,
        # The start after enqueue_job returned (negative: the worker started the job before
        # the client had read its EXEC reply).
        'after_enqueue_p50': percentile(after, 50),
        'after_enqueue_p99': percentile(after, 99),
    }))


if __name__ == '__main__':
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    spacing = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 300.0
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    asyncio.run(main(n, spacing, timeout, rate))
