"""Python side of tests/payload_parity.rs: one payload set, `echo`ed by whichever worker
serves QUEUE, compared in Python.

    python payload_parity.py collect QUEUE OUT   enqueue every case, wait, pickle {name: (success, result)} to OUT;
                                                 prints {"cases", "echo_equal", "unequal": [...]}
    python payload_parity.py compare A B         prints {"cases", "mismatches": [...]} for two OUT files

Env: TEST_REDIS_URL.
"""
import asyncio
import datetime as dt
import decimal
import json
import os
import pickle
import sys
import uuid
from zoneinfo import ZoneInfo

from arq import create_pool
from arq.connections import RedisSettings


class NotImportable:
    """Pickled as __main__.NotImportable: no worker can load it, so both must fail."""


BERLIN = ZoneInfo('Europe/Berlin')
IST = dt.timezone(dt.timedelta(hours=5, minutes=30), 'IST')
ROW = {f'col{i}': i for i in range(50)}


def cases():
    """(name, function, args, kwargs)."""
    c = [
        ('decimal', (decimal.Decimal('1.10'), decimal.Decimal('-0'), decimal.Decimal('1E+3')), {}),  # NaN != NaN, so none here
        ('decimal_kw', (), {'amount': decimal.Decimal('123456789.000000001')}),
        ('uuid', (uuid.UUID('12345678-1234-5678-1234-567812345678'), uuid.UUID(int=0)), {}),
        ('time', (dt.time(1, 2, 3, 4), dt.time(5, 6, tzinfo=IST, fold=1)), {}),
        ('zoneinfo', (dt.datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN),), {}),
        ('zoneinfo_fold', (dt.datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=1),), {}),
        ('naive_fold', (dt.datetime(2026, 10, 25, 2, 30, fold=1),), {}),
        ('named_offset', (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=IST),), {}),
        ('utc', (dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc), dt.date(2026, 1, 2)), {}),
        ('timedelta', (dt.timedelta(days=-1, seconds=5),), {}),
        ('bytearray', (bytearray(b'ab\xff'), b'ab\xff'), {}),
        ('nonascii', ('h\xe9llo \u20ac \U0001f600',), {'k\xe9y': '\xfc'}),
        ('surrogate', ('\ud83d', 'a\udc80b'), {}),
        ('bigint', (2**100, -2**70), {}),
        ('containers', ((1, (2, 3)), {1, 2}, frozenset({'a'}), {'n': None, 1: 2.5}), {}),
        ('rows_shared', ([ROW] * 5000,), {}),
        ('big_str_shared', (['x' * 1_000_000] * 100,), {}),
        ('dict_100k', ({f'k{i}': i for i in range(100_000)},), {}),
        ('list_1m', (list(range(1_000_000)),), {}),
        ('mixed', ({'amount': decimal.Decimal('9.99'), 'id': uuid.UUID(int=42),
                    'at': dt.datetime(2026, 6, 1, 12, tzinfo=BERLIN), 'raw': bytearray(b'x')},), {}),
    ]
    out = [(name, 'echo', a, k) for name, a, k in c]
    out.append(('fails', 'fail', ('boom',), {}))
    out.append(('not_importable', 'echo', (NotImportable(),), {}))
    return out


def expected(func, args, kwargs):
    return {'args': list(args), 'kwargs': kwargs} if func == 'echo' else None


async def collect(queue, path):
    redis = await create_pool(RedisSettings.from_dsn(os.environ.get('TEST_REDIS_URL', 'redis://127.0.0.1:6379')))
    jobs = []
    for name, func, args, kwargs in cases():
        jobs.append((name, func, args, kwargs, await redis.enqueue_job(func, *args, _queue_name=queue, **kwargs)))
    got, unequal = {}, []
    for name, func, args, kwargs, job in jobs:
        info = await job.result_info()
        for _ in range(600):
            if info is not None:
                break
            await asyncio.sleep(0.1)
            info = await job.result_info()
        if info is None:
            raise SystemExit(f'{name}: no result')
        got[name] = (info.success, info.result if info.success else type(info.result).__name__)
        if info.success and info.result != expected(func, args, kwargs):
            unequal.append(name)
    with open(path, 'wb') as f:
        pickle.dump(got, f)
    echo_equal = sum(1 for n, (ok, _) in got.items() if ok and n not in unequal)
    print(json.dumps({'cases': len(got), 'echo_equal': echo_equal, 'unequal': unequal,
                      'failed': sorted(n for n, (ok, _) in got.items() if not ok)}))
    await redis.close()


def compare(a, b):
    with open(a, 'rb') as f:
        x = pickle.load(f)
    with open(b, 'rb') as f:
        y = pickle.load(f)
    mismatches = [n for n in x if n not in y or x[n] != y[n]]
    print(json.dumps({'cases': len(x), 'mismatches': mismatches}))


if __name__ == '__main__':
    if sys.argv[1] == 'collect':
        asyncio.run(collect(sys.argv[2], sys.argv[3]))
    else:
        compare(sys.argv[2], sys.argv[3])
