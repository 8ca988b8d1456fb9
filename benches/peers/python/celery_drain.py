# Celery peer (Redis broker, no result backend): python celery_drain.py enqueue N | drain N
# CONCURRENCY (threads pool). A job counts on task_postrun, after it has run.
import threading

from celery import Celery
from celery.signals import task_postrun
from common import URL, args, report_and_exit

app = Celery('celery_drain', broker=URL)
app.conf.update(worker_hijack_root_logger=False, worker_redirect_stdouts=False,
                broker_connection_retry_on_startup=True)


@app.task(name='noop')
def noop():
    return None


def main():
    mode, n, conc = args()
    if mode == 'enqueue':
        with app.producer_or_acquire() as producer:
            for _ in range(n):
                noop.apply_async(producer=producer)
        return
    done = 0
    lock = threading.Lock()

    @task_postrun.connect
    def count(**_kw):
        nonlocal done
        with lock:
            done += 1
            last = done == n
        if last:
            report_and_exit(n)

    worker = app.Worker(pool='threads', concurrency=conc, loglevel='WARNING', quiet=True,
                        without_heartbeat=True, without_mingle=True, without_gossip=True)
    worker.start()


if __name__ == '__main__':
    main()
