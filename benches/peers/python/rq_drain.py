# RQ peer: python rq_drain.py enqueue N | drain N 1. RQ runs one job at a time per worker; the
# drain is a SimpleWorker (no fork per job, RQ's fastest) in burst mode, timed until it returns
# with the queue empty (every job's result written).
from common import URL, args, report_and_exit
from redis import Redis
from rq import Queue, SimpleWorker


def noop():
    return None


def main():
    mode, n, _conc = args()
    conn = Redis.from_url(URL)
    queue = Queue('bench', connection=conn)
    if mode == 'enqueue':
        for i in range(0, n, 500):
            queue.enqueue_many([Queue.prepare_data(noop) for _ in range(min(500, n - i))])
        return
    SimpleWorker([queue], connection=conn).work(burst=True, logging_level='WARNING')
    report_and_exit(n)


if __name__ == '__main__':
    main()
