"""Python arq side of tests/ui_http.rs: what the real arq client sees of the dashboard's actions.

    python ui_http_arq.py enqueue QUEUE FUNCTION ARGS_JSON [JOB_ID] [DEFER_S]
        prints the job id, or "taken" when arq refuses the id
    python ui_http_arq.py status QUEUE ID       prints arq's JobStatus value
    python ui_http_arq.py result QUEUE ID       prints {"success": .., "result": repr, "exception": class}
    python ui_http_arq.py abort QUEUE ID        arq's Job.abort (timeout 5 s); prints true/false

Env: TEST_REDIS_URL. Pickle (arq's default serializer).
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


async def main(cmd, queue, *rest):
    redis = await create_pool(settings(), default_queue_name=queue)
    try:
        if cmd == 'enqueue':
            function, args = rest[0], json.loads(rest[1])
            kw = {}
            if len(rest) > 2 and rest[2]:
                kw['_job_id'] = rest[2]
            if len(rest) > 3 and rest[3]:
                kw['_defer_by'] = float(rest[3])
            job = await redis.enqueue_job(function, *args, **kw)
            print(job.job_id if job else 'taken')
        elif cmd == 'status':
            print((await Job(rest[0], redis, _queue_name=queue).status()).value)
        elif cmd == 'result':
            job = Job(rest[0], redis, _queue_name=queue)
            info = await job.result_info()
            if info is None:
                print(json.dumps(None))
            elif info.success:
                print(json.dumps({'success': True, 'result': repr(info.result), 'function': info.function,
                                  'args': repr(info.args)}))
            else:
                exc = info.result
                print(json.dumps({'success': False, 'exception': type(exc).__name__, 'message': str(exc),
                                  'function': info.function, 'args': repr(info.args)}))
        elif cmd == 'abort':
            job = Job(rest[0], redis, _queue_name=queue)
            print(json.dumps(await job.abort(timeout=5)))
        else:
            sys.exit(f'unknown command {cmd}')
    finally:
        await redis.close()


if __name__ == '__main__':
    asyncio.run(main(*sys.argv[1:]))
