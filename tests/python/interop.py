"""Python arq side of the interop tests: drives the real arq client against our worker.

    python interop.py roundtrip QUEUE CODEC      every Diagnostics function, every arg type
    python interop.py enqueue QUEUE N FUNC [ARG] N jobs, prints their ids (one per line)
    python interop.py results QUEUE             ids on stdin; prints one JSON line per id
    python interop.py abort QUEUE               abort a running and a deferred job
    python interop.py read_result QUEUE ID      prints our result as Python sees it

Env: TEST_REDIS_URL. Exits non-zero with a message on any mismatch.
"""
import asyncio
import datetime
import functools
import json
import os
import sys

import msgpack
from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import Job, JobStatus


def settings():
    return RedisSettings.from_dsn(os.environ.get('TEST_REDIS_URL', 'redis://127.0.0.1:6379'))


def codec_kwargs(codec):
    if codec == 'msgpack':
        return dict(job_serializer=msgpack.packb, job_deserializer=functools.partial(msgpack.unpackb, raw=False))
    return {}


ARGS = [
    0, -1, 2**40, 2**63 - 1, -(2**63), 2**64, 2**100, -(2**70),
    1.5, -0.25, 1e300,
    '', 'ascii', 'héllo wörld ✓ 日本 🎉',
    b'', b'\x00\xffbytes',
    None, True, False,
    [1, [2, 'three']], (1, 'two', (3,)), {'k': 'v', 'n': {'deep': [1, 2]}},
    {1: 'int key'},
    datetime.datetime(2024, 2, 29, 23, 59, 58, 123456),
    datetime.datetime(2024, 2, 29, 12, 0, tzinfo=datetime.timezone.utc),
    datetime.datetime(2024, 2, 29, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8))),
    datetime.date(2020, 1, 1),
    datetime.timedelta(days=-1, seconds=5, microseconds=7),
]


def msgpack_view(v):
    """What a value becomes after a msgpack round trip (tuples are lists)."""
    if isinstance(v, (list, tuple)):
        return [msgpack_view(x) for x in v]
    if isinstance(v, dict):
        return {msgpack_view(k): msgpack_view(x) for k, x in v.items()}
    return v


def packable(v):
    try:
        msgpack.unpackb(msgpack.packb(v), raw=False, strict_map_key=False)
        return True
    except Exception:
        return False


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


async def roundtrip(queue, codec):
    redis = await create_pool(settings(), default_queue_name=queue, **codec_kwargs(codec))
    args = ARGS if codec == 'pickle' else [a for a in ARGS if packable(a) and not (isinstance(a, dict) and 1 in a)]
    checked = 0
    # echo: every argument type, positional and keyword, comes back equal.
    for a in args:
        job = await redis.enqueue_job('echo', a, kw=a)
        got = await job.result(timeout=20, poll_delay=0.02)
        want = {'args': [a], 'kwargs': {'kw': a}}
        if codec == 'msgpack':
            want = msgpack_view(want)
        if got != want:
            fail(f'echo({a!r}) returned {got!r}, want {want!r}')
        checked += 1
    job = await redis.enqueue_job('echo', *args[:5], a=1, b='two')
    got = await job.result(timeout=20, poll_delay=0.02)
    if got != {'args': list(args[:5]), 'kwargs': {'a': 1, 'b': 'two'}}:
        fail(f'echo(*args) returned {got!r}')
    # noop, sleep_ms, retry return values; fail raises.
    if await (await redis.enqueue_job('noop', 1, x=2)).result(timeout=20, poll_delay=0.02) is not None:
        fail('noop did not return None')
    if await (await redis.enqueue_job('sleep_ms', 10)).result(timeout=20, poll_delay=0.02) is not None:
        fail('sleep_ms did not return None')
    if (r := await (await redis.enqueue_job('retry', 2, 1)).result(timeout=20, poll_delay=0.02)) != 3:
        fail(f'retry(2, 1) returned {r!r}, want 3')
    for name, fargs, exc_type, text in [
        ('fail', ('boom ✓',), 'RuntimeError', 'boom ✓'),
        ('missing_function', (), 'JobExecutionFailed', "function 'missing_function' not found"),
        ('sleep_ms', ('not a number',), 'TypeError', 'sleep_ms'),
    ]:
        job = await redis.enqueue_job(name, *fargs)
        try:
            r = await job.result(timeout=20, poll_delay=0.02)
        except Exception as e:
            # pickle re-raises the exception object; msgpack can only carry its message.
            if codec == 'pickle' and type(e).__name__ != exc_type:
                fail(f'{name}: raised {type(e).__name__}, want {exc_type}')
            if text not in str(e):
                fail(f'{name}: message {e!r} lacks {text!r}')
            info = await job.result_info()
            if info.success or info.job_try != 1 or info.function != name:
                fail(f'{name}: result info {info!r}')
        else:
            fail(f'{name} returned {r!r} instead of raising')
        if await job.status() != JobStatus.complete:
            fail(f'{name}: status {await job.status()}')
        checked += 1
    await redis.aclose()
    print(json.dumps({'checked': checked}))


async def enqueue(queue, n, func, arg, codec):
    redis = await create_pool(settings(), default_queue_name=queue, **codec_kwargs(codec))
    fargs = [] if arg is None else [json.loads(arg)]
    ids = []
    for i in range(0, n, 200):
        jobs = await asyncio.gather(*[redis.enqueue_job(func, *fargs) for _ in range(min(200, n - i))])
        ids.extend(j.job_id for j in jobs)
    print('\n'.join(ids))
    await redis.aclose()


async def results(queue, codec):
    redis = await create_pool(settings(), default_queue_name=queue, **codec_kwargs(codec))
    for line in sys.stdin:
        job_id = line.strip()
        if not job_id:
            continue
        info = await Job(job_id, redis, _queue_name=queue, _deserializer=codec_kwargs(codec).get('job_deserializer')).result_info()
        if info is None:
            print(json.dumps({'id': job_id, 'found': False}))
        else:
            print(json.dumps({'id': job_id, 'found': True, 'success': info.success, 'try': info.job_try,
                              'result': repr(info.result), 'function': info.function}))
    await redis.aclose()


async def abort(queue):
    redis = await create_pool(settings(), default_queue_name=queue)
    running = await redis.enqueue_job('sleep_ms', 20000)
    deferred = await redis.enqueue_job('sleep_ms', 1, _defer_by=3600)
    for _ in range(200):
        if await running.status() == JobStatus.in_progress:
            break
        await asyncio.sleep(0.05)
    else:
        fail('the running job never started')
    ok_running = await running.abort(timeout=15, poll_delay=0.1)
    ok_deferred = await deferred.abort(timeout=15, poll_delay=0.1)
    print(json.dumps({'running': ok_running, 'deferred': ok_deferred}))
    for job in (running, deferred):
        try:
            await job.result(timeout=1)
        except asyncio.CancelledError:
            pass
        else:
            fail('aborted job result did not raise CancelledError')
    await redis.aclose()


async def read_result(queue, job_id, codec):
    redis = await create_pool(settings(), default_queue_name=queue, **codec_kwargs(codec))
    job = Job(job_id, redis, _queue_name=queue, _deserializer=codec_kwargs(codec).get('job_deserializer'))
    try:
        r = await job.result(timeout=20, poll_delay=0.05)
        print(json.dumps({'ok': True, 'result': repr(r)}))
    except Exception as e:
        print(json.dumps({'ok': False, 'type': f'{type(e).__module__}.{type(e).__name__}', 'message': str(e)}))
    await redis.aclose()


def main():
    cmd, queue = sys.argv[1], sys.argv[2]
    codec = os.environ.get('TEST_CODEC', 'pickle')
    if cmd == 'roundtrip':
        asyncio.run(roundtrip(queue, sys.argv[3]))
    elif cmd == 'enqueue':
        asyncio.run(enqueue(queue, int(sys.argv[3]), sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else None, codec))
    elif cmd == 'results':
        asyncio.run(results(queue, codec))
    elif cmd == 'abort':
        asyncio.run(abort(queue))
    elif cmd == 'read_result':
        asyncio.run(read_result(queue, sys.argv[3], codec))
    else:
        fail(f'unknown command {cmd}')


if __name__ == '__main__':
    main()
