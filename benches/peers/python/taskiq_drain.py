# taskiq peer (taskiq-redis ListQueueBroker): python taskiq_drain.py enqueue N | drain N
# CONCURRENCY (the receiver's max_async_tasks). A job counts in a middleware's post_save,
# after its result is handed to the result backend (taskiq's default: none kept).
import asyncio

from common import URL, args, report_and_exit
from taskiq import TaskiqMiddleware
from taskiq.receiver import Receiver
from taskiq_redis import ListQueueBroker

broker = ListQueueBroker(URL, queue_name='bench')


@broker.task(task_name='noop')
async def noop():
    return None


async def main():
    mode, n, conc = args()
    if mode == 'enqueue':
        await broker.startup()
        for i in range(0, n, 500):
            await asyncio.gather(*(noop.kiq() for _ in range(min(500, n - i))))
        await broker.shutdown()
        return
    done = 0

    class Count(TaskiqMiddleware):
        def post_save(self, message, result):
            nonlocal done
            done += 1
            if done == n:
                report_and_exit(n)

    broker.add_middlewares(Count())
    broker.is_worker_process = True
    receiver = Receiver(broker, max_async_tasks=conc, run_startup=True)
    await receiver.listen(asyncio.Event())


asyncio.run(main())
