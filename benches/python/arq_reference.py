# Copied from the steering bench reference and owned here.
# The Python arq worker used as the side-by-side reference: same jobs, same Redis, same run.
#   BENCH_REDIS_URL  (default redis://127.0.0.1:6379)   ARQ_MAX_JOBS (10)   ARQ_POLL_DELAY (0.5)
#   BENCH_QUEUE      (default arq:queue)                BENCH_SERIALIZER (pickle | msgpack)
# Run: arq arq_reference.WorkerSettings --burst   (from this folder, in a venv with arq + msgpack)
import asyncio
import functools
import os

from arq import Retry
from arq.connections import RedisSettings


async def noop(ctx, *args, **kwargs):
    return None


async def sleep_ms(ctx, ms):
    await asyncio.sleep(ms / 1000)


async def echo(ctx, *args, **kwargs):
    return {'args': list(args), 'kwargs': kwargs}


async def fail(ctx, message):
    raise RuntimeError(message)


async def retry(ctx, times, defer_ms):
    if ctx['job_try'] <= times:
        raise Retry(defer=defer_ms / 1000)
    return ctx['job_try']


def _codec():
    if os.environ.get('BENCH_SERIALIZER', 'pickle') != 'msgpack':
        return {}
    import msgpack
    return {
        'job_serializer': msgpack.packb,
        'job_deserializer': functools.partial(msgpack.unpackb, raw=False),
    }


class WorkerSettings:
    functions = [noop, echo, sleep_ms, fail, retry]
    redis_settings = RedisSettings.from_dsn(os.environ.get('BENCH_REDIS_URL', 'redis://127.0.0.1:6379'))
    queue_name = os.environ.get('BENCH_QUEUE', 'arq:queue')
    max_jobs = int(os.environ.get('ARQ_MAX_JOBS', '10'))
    poll_delay = float(os.environ.get('ARQ_POLL_DELAY', '0.5'))
    keep_result = 3600
    locals().update(_codec())
