"""Fills a queue for scripts/bench-ui: N queued jobs and R stored results, in arq's own format
(arq.jobs.serialize_job / serialize_result, pickle), written with pipelines so 100k jobs take
seconds, not the minutes 100k enqueue_job round trips would.

    python ui_fill.py REDIS_URL QUEUE N R
"""
import sys
import time

import redis
from arq.jobs import serialize_job, serialize_result

url, queue, n, r = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
db = redis.Redis.from_url(url)
now = int(time.time() * 1000)
BATCH = 2000
for start in range(0, n, BATCH):
    pipe = db.pipeline(transaction=False)
    for i in range(start, min(n, start + BATCH)):
        job_id = f'bench-{i:06d}'
        pipe.psetex(f'arq:job:{job_id}', 86_400_000, serialize_job('echo', (i, 'payload', [1, 2, 3]), {'k': i}, None, now - n + i))
        pipe.zadd(queue, {job_id: now - n + i})
    pipe.execute()
for start in range(0, r, BATCH):
    pipe = db.pipeline(transaction=False)
    for i in range(start, min(r, start + BATCH)):
        job_id = f'done-{i:06d}'
        ok = i % 10 != 0
        result = {'echo': i} if ok else RuntimeError(f'failure {i}')
        pipe.psetex(f'arq:result:{job_id}', 3_600_000, serialize_result(
            'echo', (i,), {}, 1, now - 60_000, ok, result, now - 50_000, now - (i % 600) * 100, 'ref', queue, job_id))
    pipe.execute()
print(f'{n} queued, {r} results in {queue}')
