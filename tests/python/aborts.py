"""Python arq producer side of the abort tests (run under libfaketime for clock skew).

    python aborts.py enqueue QUEUE MS       a running and a queued sleep_ms(MS) job
                                            (the worker runs one job at a time); prints
                                            {"running": id, "queued": id}
    python aborts.py enqueue_one QUEUE MS   one sleep_ms(MS) job; prints its id
    python aborts.py abort QUEUE ID...      job.abort() of each at once; prints one JSON
                                            object: id -> {aborted, raised, status, success}

Env: TEST_REDIS_URL.
"""
import asyncio
import json
import os
import sys

from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import Job, JobStatus


def settings():
    return RedisSettings.from_dsn(os.environ.get('TEST_REDIS_URL', 'redis://127.0.0.1:6379'))


async def enqueue(queue, ms):
    redis = await create_pool(settings(), default_queue_name=queue)
    running = await redis.enqueue_job('sleep_ms', ms)
    for _ in range(600):
        if await running.status() == JobStatus.in_progress:
            break
        await asyncio.sleep(0.05)
    else:
        sys.exit(f'{running.job_id} never started')
    queued = await redis.enqueue_job('sleep_ms', ms)
    print(json.dumps({'running': running.job_id, 'queued': queued.job_id}))
    await redis.aclose()


async def enqueue_one(queue, ms):
    redis = await create_pool(settings(), default_queue_name=queue)
    job = await redis.enqueue_job('sleep_ms', ms)
    print(job.job_id)
    await redis.aclose()


async def abort_one(redis, queue, job_id):
    job = Job(job_id, redis, _queue_name=queue)
    aborted = await job.abort(timeout=120, poll_delay=0.1)
    try:
        await job.result(timeout=1)
        raised = None
    except asyncio.CancelledError:
        raised = 'CancelledError'
    except Exception as e:  # anything else is a mismatch the test reports
        raised = f'{type(e).__module__}.{type(e).__name__}: {e}'
    info = await job.result_info()
    return {'aborted': aborted, 'raised': raised, 'status': (await job.status()).value,
            'success': None if info is None else info.success}


async def abort(queue, ids):
    redis = await create_pool(settings(), default_queue_name=queue)
    got = await asyncio.gather(*[abort_one(redis, queue, i) for i in ids])
    print(json.dumps(dict(zip(ids, got))))
    await redis.aclose()


def main():
    cmd, queue = sys.argv[1], sys.argv[2]
    if cmd == 'enqueue':
        asyncio.run(enqueue(queue, int(sys.argv[3])))
    elif cmd == 'enqueue_one':
        asyncio.run(enqueue_one(queue, int(sys.argv[3])))
    elif cmd == 'abort':
        asyncio.run(abort(queue, sys.argv[3:]))
    else:
        sys.exit(f'unknown command {cmd}')


if __name__ == '__main__':
    main()
