"""Python arq's side of the dashboard's browser tests (tests/ui_browser.rs).

    python ui_dashboard.py enqueue QUEUE      stdin: a JSON list of {function, args, kwargs,
                                               job_id, defer_by}; enqueue_job each, prints the
                                               JSON list of job ids (null: arq refused the id)
    python ui_dashboard.py counts QUEUE        what Redis holds for the queue, as arq reads it:
                                               {queued, deferred, in_progress, results_ok,
                                               results_failed, oldest_due_ms, result_ids}
    python ui_dashboard.py job QUEUE ID        arq's view of one job: {status, success, result,
                                               raised, tries, function}
    python ui_dashboard.py wait QUEUE ID S     the same, once the job has a result (S seconds)
    python ui_dashboard.py wait_status QUEUE ID STATUS S
                                               the same, once job.status() is STATUS

Env: TEST_REDIS_URL.
"""
import asyncio
import json
import os
import sys
import time

from arq import create_pool
from arq.connections import RedisSettings
from arq.constants import in_progress_key_prefix, result_key_prefix
from arq.jobs import Job, JobStatus, deserialize_result


def settings():
    return RedisSettings.from_dsn(os.environ.get('TEST_REDIS_URL', 'redis://127.0.0.1:6379'))


async def enqueue(redis, queue, specs):
    ids = []
    for s in specs:
        kw = dict(s.get('kwargs') or {})
        if s.get('job_id') is not None:
            kw['_job_id'] = s['job_id']
        if s.get('defer_by') is not None:
            kw['_defer_by'] = s['defer_by']
        job = await redis.enqueue_job(s['function'], *s.get('args', []), _queue_name=queue, **kw)
        ids.append(None if job is None else job.job_id)
    return ids


async def counts(redis, queue):
    now = time.time() * 1000
    c = {'queued': 0, 'deferred': 0, 'in_progress': 0, 'results_ok': 0, 'results_failed': 0,
         'oldest_due_ms': None, 'result_ids': []}
    for job_id, score in await redis.zrange(queue, 0, -1, withscores=True):
        if await redis.exists(in_progress_key_prefix + job_id.decode()):
            c['in_progress'] += 1
        elif score <= now:
            c['queued'] += 1
            c['oldest_due_ms'] = score if c['oldest_due_ms'] is None else min(c['oldest_due_ms'], score)
        else:
            c['deferred'] += 1
    async for key in redis.scan_iter(match=result_key_prefix + '*', count=1000):
        raw = await redis.get(key)
        if raw is None:
            continue
        try:
            r = deserialize_result(raw)
        except Exception:  # another test's msgpack or JSON results: not this queue's
            continue
        if r.queue_name == queue:
            c['results_ok' if r.success else 'results_failed'] += 1
            c['result_ids'].append(key.decode()[len(result_key_prefix):])
    return c


async def job_view(redis, queue, job_id):
    job = Job(job_id, redis, _queue_name=queue)
    status = (await job.status()).value
    info = await job.result_info()
    raised = None
    result = None
    if info is not None:
        try:
            result = repr(await job.result(timeout=1))
        except asyncio.CancelledError:
            raised = 'CancelledError'
        except Exception as e:
            raised = f'{type(e).__name__}: {e}'
    return {
        'status': status,
        'success': None if info is None else info.success,
        'result': result,
        'raised': raised,
        'tries': None if info is None else info.job_try,
        'function': None if info is None else info.function,
    }


async def wait(redis, queue, job_id, seconds, status=None):
    deadline = time.monotonic() + seconds
    while True:
        v = await job_view(redis, queue, job_id)
        done = v['status'] == status if status else v['success'] is not None
        if done or time.monotonic() > deadline:
            return v
        await asyncio.sleep(0.05)


async def run(cmd, queue, rest):
    redis = await create_pool(settings(), default_queue_name=queue)
    try:
        if cmd == 'enqueue':
            return await enqueue(redis, queue, json.load(sys.stdin))
        if cmd == 'counts':
            return await counts(redis, queue)
        if cmd == 'job':
            return await job_view(redis, queue, rest[0])
        if cmd == 'wait':
            return await wait(redis, queue, rest[0], float(rest[1]))
        if cmd == 'wait_status':
            return await wait(redis, queue, rest[0], float(rest[2]), JobStatus(rest[1]).value)
        sys.exit(f'unknown command {cmd}')
    finally:
        await redis.aclose()


def main():
    print(json.dumps(asyncio.run(run(sys.argv[1], sys.argv[2], sys.argv[3:]))))


if __name__ == '__main__':
    main()
