"""The lyanna web app's side of the blog-task tests and of scripts/demo, with the real arq
client and redis-py, doing exactly what the web app does.

    python blog_client.py mention QUEUE POST_ID CONTENT GID [WAIT_S]
        enqueue_job('mention_users', post_id, content, gid) as models/comment.py does (pickle);
        prints the job id; with WAIT_S, waits for the result and prints it as JSON:
        {"job_id", "success", "result" (repr), "tries"}; exits 1 if it does not come.
    python blog_client.py views PREFIX ID:COUNT [ID:COUNT ...]
        COUNT page views of post ID as Post.incr_pageview does them, one at a time: SADD
        all_post_ids, SADD visited_post_ids, HINCRBY pageview:{id}:v2 pv 1.
    python blog_client.py reset QUEUE PREFIX
        deletes the queue, its jobs, and every key under PREFIX (a demo's leftovers).
    python blog_client.py names COMMENTER
        contents on stdin (one JSON string per line) -> one JSON line per content:
        {"findall": re.findall of the original pattern, "names": sorted set the original keeps
        (before its limit of 20)}.

Env: TEST_REDIS_URL (default redis://127.0.0.1:6379).
"""
import asyncio
import json
import os
import re
import sys
import time

from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import JobStatus

URL = os.environ.get('TEST_REDIS_URL', 'redis://127.0.0.1:6379')
# models/mention.py
_METION_UID_RE = re.compile(r'@([a-zA-Z0-9][-.\w]*?)(?![-.\w])')


async def mention(queue, post_id, content, gid, wait):
    redis = await create_pool(RedisSettings.from_dsn(URL), default_queue_name=queue)
    job = await redis.enqueue_job('mention_users', post_id, content, gid)
    if not wait:
        print(job.job_id)
        return 0
    deadline = time.monotonic() + wait
    while await job.status() != JobStatus.complete:
        if time.monotonic() > deadline:
            print(json.dumps({'job_id': job.job_id, 'status': str(await job.status())}))
            return 1
        await asyncio.sleep(0.1)
    info = await job.result_info()
    print(json.dumps({'job_id': job.job_id, 'success': info.success,
                      'result': repr(info.result), 'tries': info.job_try}))
    return 0


async def views(prefix, pairs):
    from redis.asyncio import Redis
    r = Redis.from_url(URL)
    for pair in pairs:
        post_id, count = (int(x) for x in pair.split(':'))
        for _ in range(count):
            await r.sadd(f'{prefix}all_post_ids', post_id)
            await r.sadd(f'{prefix}visited_post_ids', post_id)
            await r.hincrby(f'{prefix}pageview:{post_id}:v2', 'pv', 1)
    await r.aclose()
    return 0


async def reset(queue, prefix):
    from redis.asyncio import Redis
    r = Redis.from_url(URL)
    ids = await r.zrange(queue, 0, -1)
    keys = [f'arq:job:{i.decode()}' for i in ids] + [queue, f'{queue}:health-check']
    keys += [k async for k in r.scan_iter(match=f'{prefix}*', count=1000)]
    if keys:
        await r.delete(*keys)
    await r.aclose()
    return 0


def names(commenter):
    for line in sys.stdin:
        if not line.strip():
            continue
        content = json.loads(line)
        found = _METION_UID_RE.findall(content)
        kept = set(n for n in found if n and n != commenter)
        print(json.dumps({'findall': found, 'names': sorted(kept)}, ensure_ascii=False))
    return 0


def main(argv):
    cmd = argv[1]
    if cmd == 'mention':
        queue, post_id, content, gid = argv[2], int(argv[3]), argv[4], int(argv[5])
        wait = float(argv[6]) if len(argv) > 6 else 0
        return asyncio.run(mention(queue, post_id, content, gid, wait))
    if cmd == 'views':
        return asyncio.run(views(argv[2], argv[3:]))
    if cmd == 'reset':
        return asyncio.run(reset(argv[2], argv[3]))
    if cmd == 'names':
        return names(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
