"""Python arq side of tests/big_payloads.rs: enqueues big payloads, reads results with timings.

    python big_payloads.py enqueue QUEUE FUNC KIND [KIND...]   one job per KIND; prints its id
    python big_payloads.py results QUEUE ID [ID...]            one JSON line per id

KIND: dict100k (100k-key dict), strings1m (1M short strings, ~10 MB pickle), strings5m
(5M short strings, ~50 MB), ints3m, sleepN (the int N, for sleep_ms), none (no argument).
Result lines: id, found, success, try, enqueue/start/finish ms (arq's own timestamps), result repr
(bounded). Env: TEST_REDIS_URL.
"""
import asyncio
import json
import os
import sys

from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import Job


def settings():
    return RedisSettings.from_dsn(os.environ.get('TEST_REDIS_URL', 'redis://127.0.0.1:6379'))


def payload(kind):
    if kind == 'dict100k':
        return [{f'key{i}': i for i in range(100_000)}]
    if kind == 'strings1m':
        return [[f's{i}' for i in range(1_000_000)]]
    if kind == 'strings5m':
        return [[f's{i}' for i in range(5_000_000)]]
    if kind == 'ints3m':
        return [list(range(3_000_000))]
    if kind.startswith('sleep'):
        return [int(kind[5:])]
    if kind == 'none':
        return []
    raise SystemExit(f'unknown kind {kind}')


def ms(dt):
    return None if dt is None else int(dt.timestamp() * 1000)


async def enqueue(queue, func, kinds):
    redis = await create_pool(settings(), default_queue_name=queue)
    args = [payload(k) for k in kinds]  # built first: enqueue back to back
    for a in args:
        job = await redis.enqueue_job(func, *a)
        print(job.job_id, flush=True)
    await redis.aclose()


async def results(queue, ids):
    redis = await create_pool(settings(), default_queue_name=queue)
    for job_id in ids:
        info = await Job(job_id, redis, _queue_name=queue).result_info()
        if info is None:
            print(json.dumps({'id': job_id, 'found': False}))
            continue
        print(json.dumps({'id': job_id, 'found': True, 'success': info.success, 'try': info.job_try,
                          'enqueue_ms': ms(info.enqueue_time), 'start_ms': ms(info.start_time),
                          'finish_ms': ms(info.finish_time), 'result': repr(info.result)[:300]}))
    await redis.aclose()


def main():
    cmd, queue = sys.argv[1], sys.argv[2]
    if cmd == 'enqueue':
        asyncio.run(enqueue(queue, sys.argv[3], sys.argv[4:]))
    elif cmd == 'results':
        asyncio.run(results(queue, sys.argv[3:]))
    else:
        raise SystemExit(f'unknown command {cmd}')


if __name__ == '__main__':
    main()
