"""Cron job ids exactly as a Python arq 0.28 worker derives them, for one start time.

Usage: cron_ids.py '[{"start_ms": ..., "schedule": {"hour": 3, "minute": 0}, "timezone": null, "runs": 4}, ...]'

`timezone` is the worker's `timezone` setting: null (arq's default, the system's local zone at
start: TZ / /etc/localtime), an IANA name (a ZoneInfo) or "+HH:MM" (a fixed offset). The
process environment (TZ, ARQ_TIMEZONE, TIMEZONE, ...) is whatever the caller set. The clock
arq.worker reads is frozen at start_ms; the rest is arq's own code: Worker.__init__ picks the
zone, heart_beat's `datetime.now(tz=self.timezone)` and CronJob.calculate_next give the runs,
run_cron's f'{name}:{to_unix_ms(next_run)}' the ids. Prints one [{"ids": [...], "tz": repr}, ...].
"""
import json
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import arq.worker as arq_worker
from arq.cron import cron
from arq.utils import to_unix_ms

START = datetime.now(tz=timezone.utc)


class FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz=None):
        if tz is None:
            return START.astimezone().replace(tzinfo=None)
        return START.astimezone(tz)


arq_worker.datetime = FrozenDatetime


async def report(ctx):
    return None


def ids_for(req):
    global START
    START = datetime.fromtimestamp(req['start_ms'] / 1000, tz=timezone.utc)
    name = req.get('timezone')
    if name is None:
        tzinfo = None
    elif name[0] in '+-':
        sign = -1 if name[0] == '-' else 1
        h, m = name[1:].split(':')
        tzinfo = timezone(sign * timedelta(hours=int(h), minutes=int(m)))
    else:
        tzinfo = ZoneInfo(name)

    worker = arq_worker.Worker(
        functions=[], cron_jobs=[cron(report, **req['schedule'])], timezone=tzinfo
    )
    job = worker.cron_jobs[0]
    job.calculate_next(FrozenDatetime.now(tz=worker.timezone))
    ids = []
    for _ in range(req.get('runs', 1)):
        ids.append(f'{job.name}:{to_unix_ms(job.next_run)}')
        job.calculate_next(job.next_run)
    return {'ids': ids, 'tz': repr(worker.timezone)}


print(json.dumps([ids_for(r) for r in json.loads(sys.argv[1])]))
