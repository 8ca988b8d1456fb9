# saq peer: python saq_drain.py enqueue N | drain N CONCURRENCY. A job counts in saq's
# after_process hook, called once the job's completion is written.
import asyncio

from common import URL, args, report_and_exit
from redis import asyncio as aioredis
from saq import Worker
from saq.queue.redis import RedisQueue


async def noop(ctx):
    return None


async def main():
    mode, n, conc = args()
    # A pool as large as the enqueue's gather (redis-py's default refuses past its limit).
    queue = RedisQueue(aioredis.from_url(URL, max_connections=1000), name='bench')
    if mode == 'enqueue':
        for i in range(0, n, 500):
            await asyncio.gather(*(queue.enqueue('noop') for _ in range(min(500, n - i))))
        await queue.disconnect()
        return
    done = 0

    async def after_process(ctx):
        nonlocal done
        done += 1
        if done == n:
            report_and_exit(n)

    worker = Worker(queue, functions=[noop], concurrency=conc, after_process=after_process)
    await worker.start()


asyncio.run(main())
