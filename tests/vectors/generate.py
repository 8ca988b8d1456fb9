#!/usr/bin/env python3
"""Regenerate the byte-exact test vectors in this directory from the REAL Python
arq / pickle / msgpack (pinned in tests/python/requirements.txt).

    PY="$(bash tests/python/ensure-venv.sh)"
    "$PY" tests/vectors/generate.py

Writes pickle.json, msgpack.json and cron.json next to this file. Needs no Redis.
Output is deterministic: running it twice gives identical files.
"""

import asyncio
import json
import logging
import math
import os
import pickle
import pickletools
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import msgpack
from arq.cron import next_cron
from arq.jobs import DeserializationError, serialize_job, serialize_result
from arq.utils import to_unix_ms
from arq.worker import JobExecutionFailed

OUT = Path(__file__).resolve().parent
MEMO_GETS = {'GET', 'BINGET', 'LONG_BINGET'}

# ---------------------------------------------------------------------------
# tagged value format
# ---------------------------------------------------------------------------


def tag(v):
    if v is None:
        return {'none': None}
    if isinstance(v, bool):
        return {'bool': v}
    if isinstance(v, int):
        return {'int': str(v)}
    if isinstance(v, float):
        if math.isnan(v):
            return {'float': 'nan'}
        if math.isinf(v):
            return {'float': 'inf' if v > 0 else '-inf'}
        return {'float': v}
    if isinstance(v, str):
        return {'str': v}
    if isinstance(v, (bytes, bytearray)):
        return {'bytes': bytes(v).hex()}
    if isinstance(v, list):
        return {'list': [tag(x) for x in v]}
    if isinstance(v, tuple):
        return {'tuple': [tag(x) for x in v]}
    if isinstance(v, dict):
        return {'dict': [[tag(k), tag(x)] for k, x in v.items()]}
    if isinstance(v, frozenset):
        return {'frozenset': [tag(x) for x in sorted(v, key=repr)]}
    if isinstance(v, set):
        return {'set': [tag(x) for x in sorted(v, key=repr)]}
    # datetime is a subclass of date: test it first
    if isinstance(v, datetime):
        off = v.utcoffset()
        return {
            'datetime': {
                'year': v.year,
                'month': v.month,
                'day': v.day,
                'hour': v.hour,
                'minute': v.minute,
                'second': v.second,
                'microsecond': v.microsecond,
                'utc_offset_s': None if off is None else int(off.total_seconds()),
            }
        }
    if isinstance(v, date):
        return {'date': {'year': v.year, 'month': v.month, 'day': v.day}}
    if isinstance(v, timedelta):
        return {'timedelta': {'days': v.days, 'seconds': v.seconds, 'microseconds': v.microseconds}}
    if isinstance(v, BaseException):
        t = type(v)
        return {'object': {'module': t.__module__, 'name': t.__qualname__, 'args': [tag(a) for a in v.args]}}
    raise TypeError(f'cannot tag {type(v)!r}')


# ---------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------

_shared = 'shared-string-object'

VALUES = [
    ('none', None),
    ('true', True),
    ('false', False),
    ('int_0', 0),
    ('int_1', 1),
    ('int_neg1', -1),
    ('int_255', 255),
    ('int_256', 256),
    ('int_65535', 65535),
    ('int_65536', 65536),
    ('int_neg_2p31', -(2**31)),
    ('int_2p31_minus1', 2**31 - 1),
    ('int_2p31', 2**31),
    ('int_2p32', 2**32),
    ('int_2p63_minus1', 2**63 - 1),
    ('int_neg_2p63', -(2**63)),
    ('int_2p64_minus1', 2**64 - 1),
    ('int_2p64', 2**64),
    ('int_2p100', 2**100),
    ('int_neg_2p100', -(2**100)),
    ('int_neg_129', -129),
    ('int_neg_33', -33),
    ('float_0', 0.0),
    ('float_neg0', -0.0),
    ('float_1_5', 1.5),
    ('float_neg2_25', -2.25),
    ('float_1e300', 1e300),
    ('float_0_1', 0.1),
    ('float_nan', float('nan')),
    ('float_inf', float('inf')),
    ('float_neg_inf', float('-inf')),
    ('str_empty', ''),
    ('str_abc', 'abc'),
    ('str_unicode', 'héllo wörld ✓ 日本'),
    ('str_emoji', 'smile 😀'),
    ('str_300', ''.join(chr(ord('a') + i % 26) for i in range(300))),
    ('str_70000', ''.join(chr(ord('a') + i % 26) for i in range(70000))),
    ('bytes_empty', b''),
    ('bytes_00ff', b'\x00\xff'),
    ('bytes_300', bytes(i % 256 for i in range(300))),
    ('bytes_70000', bytes((i * 7) % 256 for i in range(70000))),
    ('list_empty', []),
    ('list_1', [1]),
    ('list_mixed', [1, 'two', b'3', None, True, 2.5, [4, [5]]]),
    ('list_1200_ints', list(range(1200))),
    ('list_shared_str', [_shared, _shared, _shared]),
    # >= 64 KiB of small items: pickle commits a FRAME at ~64 KiB and opens another
    ('list_5100_strs', [f'item-{i:05d}' for i in range(5100)]),
    # a >= 64 KiB payload in the middle: the current frame is committed, the BINBYTES
    # header and payload are written outside any frame, then a new frame starts
    ('list_with_big_bytes', ['head', bytes(i % 251 for i in range(66000)), 'tail']),
    ('tuple_0', ()),
    ('tuple_1', (1,)),
    ('tuple_2', (1, 'a')),
    ('tuple_3', (1, 'a', None)),
    ('tuple_4', (1, 'a', None, 2.5)),
    ('tuple_nested', ((1, 2), [3, (4,)], ())),
    ('dict_empty', {}),
    ('dict_one', {'k': 'v'}),
    ('dict_nested', {'a': {'b': {'c': [1, 2, 3]}}, 'd': (4, 5)}),
    ('dict_int_keys', {1: 'one', 2: 'two', -3: 'minus three'}),
    ('dict_1200_items', {f'k{i}': i for i in range(1200)}),
    ('set_empty', set()),
    ('set_ints', {1, 2, 3}),
    ('set_strs', {'a', 'b'}),
    ('frozenset_empty', frozenset()),
    ('frozenset_ints', frozenset({3, 1, 2})),
    ('datetime_naive', datetime(2023, 11, 14, 22, 13, 20)),
    ('datetime_micro', datetime(2023, 11, 14, 22, 13, 20, 123456)),
    ('datetime_utc', datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc)),
    ('datetime_plus8', datetime(2023, 11, 15, 6, 13, 20, 5, tzinfo=timezone(timedelta(hours=8)))),
    ('datetime_minus0530', datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=5, minutes=30)))),
    ('datetime_min_year', datetime(1, 1, 1)),
    ('date', date(2024, 2, 29)),
    ('timedelta_pos', timedelta(days=2, hours=3, minutes=4, seconds=5, microseconds=6)),
    ('timedelta_neg', timedelta(seconds=-1.5)),
    ('timedelta_zero', timedelta(0)),
    ('list_two_datetimes', [datetime(2020, 1, 1), datetime(2021, 1, 1, tzinfo=timezone.utc)]),
]

ENQ = 1700000000123
START = 1700000000200
FINISH = 1700000000250

JOBS = [
    ('job_noop', ('noop', (), {}, None, ENQ)),
    ('job_echo', ('echo', (1, 'two', b'3', None, True, 2.5), {'k': 'v', 'n': [1, 2]}, None, ENQ)),
    ('job_try3', ('echo', ('again',), {}, 3, ENQ)),
    ('job_datetime_arg', ('at', (datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc),), {}, None, ENQ)),
    ('job_mention_users', ('mention_users', (12, 'hi @alice and @bob', 4242), {}, None, ENQ)),
]

RESULTS = [
    ('result_ok_args', True, {'args': [1, 2], 'kwargs': {'a': 'b'}}),
    ('result_ok_none', True, None),
    ('result_err_not_found', False, JobExecutionFailed("function 'nope' not found")),
    ('result_err_expired', False, JobExecutionFailed('job expired')),
    ('result_err_max_tries', False, JobExecutionFailed('max 5 retries exceeded')),
    ('result_err_cancelled', False, asyncio.CancelledError()),
    ('result_err_deserialize', False, DeserializationError('unable to deserialize job')),
    ('result_err_runtime', False, RuntimeError('boom')),
    ('result_err_type', False, TypeError('bad')),
    ('result_err_timeout', False, asyncio.TimeoutError()),
]


def result_call(success, r, serializer):
    return serialize_result(
        'echo', (1, 2), {'user': 'bob'}, 1, ENQ, success, r, START, FINISH, 'abc:echo', 'arq:queue', 'abc',
        serializer=serializer,
    )


def pickle_exact(b):
    return not any(op.name in MEMO_GETS for op, _, _ in pickletools.genops(b))


def pickle_vectors():
    out = []

    def add(name, kind, b):
        v = pickle.loads(b)
        out.append({'name': name, 'kind': kind, 'hex': b.hex(), 'value': tag(v), 'exact': pickle_exact(b)})

    for name, v in VALUES:
        add(name, 'value', pickle.dumps(v))
    for name, args in JOBS:
        add(name, 'job', serialize_job(*args))
    for name, s, r in RESULTS:
        add(name, 'result', result_call(s, r, None))
    return out


def msgpack_vectors():
    out = []
    skipped = []

    def add(name, kind, b):
        v = msgpack.unpackb(b, raw=False)
        out.append({'name': name, 'kind': kind, 'hex': b.hex(), 'value': tag(v), 'exact': True})

    for name, v in VALUES:
        try:
            b = msgpack.packb(v)
        except (TypeError, OverflowError, ValueError) as e:
            skipped.append(f'{name}: packb: {type(e).__name__}')
            continue
        try:
            add(name, 'value', b)
        except (TypeError, ValueError) as e:
            skipped.append(f'{name}: unpackb(raw=False): {type(e).__name__}: {e}')
    for name, args in JOBS:
        try:
            b = serialize_job(*args, serializer=msgpack.packb)
        except Exception as e:  # arq's SerializationError
            skipped.append(f'{name}: serialize_job: {type(e).__name__}')
            continue
        add(name, 'job', b)
    for name, s, r in RESULTS:
        if isinstance(r, BaseException):
            r = str(r)  # what lyanna writes: the message string, s = false
        add(name, 'result', result_call(s, r, msgpack.packb))
    # What a real Python arq worker stores when a result cannot be packed:
    # serialize_result swallows the error and writes r='unable to serialize result', s=False.
    logging.getLogger('arq.jobs').disabled = True
    add('result_arq_fallback_unpackable', 'result', result_call(False, RuntimeError('boom'), msgpack.packb))
    return out, skipped


# ---------------------------------------------------------------------------
# cron
# ---------------------------------------------------------------------------

# (tz, now wall time, schedule overrides). Schedule defaults are arq.cron.cron()'s:
# everything None except second=0 and microsecond=123456.
CRON_CASES = [
    # every minute, various "now" around :00.123456
    ('UTC', datetime(2026, 1, 15, 10, 20, 30), {}),
    ('UTC', datetime(2026, 1, 15, 10, 19, 59), {}),
    ('UTC', datetime(2026, 1, 15, 10, 19, 59, 500000), {}),
    ('UTC', datetime(2026, 1, 15, 10, 20, 0, 100000), {}),
    ('UTC', datetime(2026, 1, 15, 10, 20, 0, 123456), {}),
    ('UTC', datetime(2026, 1, 15, 10, 20, 0, 200000), {}),
    # to_unix_ms is round(dt.timestamp() * 1000) in floats (round half to even): pin it down
    ('UTC', datetime(2026, 1, 15, 10, 20, 30), {'microsecond': 500}),
    ('UTC', datetime(2026, 1, 15, 10, 20, 30), {'microsecond': 1500}),
    ('UTC', datetime(2026, 1, 15, 10, 20, 30), {'microsecond': 2500}),
    ('UTC', datetime(2026, 1, 15, 10, 20, 30), {'microsecond': 999500}),
    # every 5 seconds
    ('UTC', datetime(2026, 1, 15, 10, 20, 58, 500000), {'second': list(range(0, 60, 5))}),
    # every second, microsecond 0 (second=None)
    ('UTC', datetime(2026, 1, 15, 10, 20, 30, 500000), {'second': None, 'microsecond': 0}),
    # daily 03:30
    ('UTC', datetime(2026, 1, 15, 10, 20, 30), {'hour': [3], 'minute': [30]}),
    # weekly: Monday 09:00
    ('UTC', datetime(2026, 1, 14, 12, 0, 0), {'weekday': [0], 'hour': [9], 'minute': [0]}),
    # Monday hour 9 with minute=None: every minute of that hour
    ('UTC', datetime(2026, 1, 19, 9, 57, 10), {'weekday': [0], 'hour': [9]}),
    # weekends 10:00
    ('UTC', datetime(2026, 1, 15, 10, 20, 30), {'weekday': [5, 6], 'hour': [10], 'minute': [0]}),
    # yearly: 1 January 00:00
    ('UTC', datetime(2026, 6, 10, 8, 0, 0), {'month': [1], 'day': [1], 'hour': [0], 'minute': [0]}),
    # day 31: skips months without a 31st
    ('UTC', datetime(2026, 1, 31, 12, 0, 0), {'day': [31], 'hour': [0], 'minute': [0]}),
    # 29 February: leap years only
    ('UTC', datetime(2026, 1, 1, 0, 0, 0), {'month': [2], 'day': [29], 'hour': [12], 'minute': [0]}),
    # year boundary, every minute at :30
    ('UTC', datetime(2026, 12, 31, 23, 57, 40), {'second': [30], 'microsecond': 0}),
    # Asia/Shanghai: no DST
    ('Asia/Shanghai', datetime(2026, 3, 7, 23, 0, 0), {'hour': [9], 'minute': [0]}),
    ('Asia/Shanghai', datetime(2026, 3, 8, 1, 59, 40), {'second': [0, 15, 30, 45], 'microsecond': 0}),
    # Europe/London spring forward 2026-03-29 01:00 GMT -> 02:00 BST (01:xx does not exist)
    ('Europe/London', datetime(2026, 3, 28, 12, 0, 0), {'hour': [1, 2, 3], 'minute': [0]}),
    ('Europe/London', datetime(2026, 3, 29, 0, 30, 0), {'minute': [0]}),
    ('Europe/London', datetime(2026, 3, 29, 0, 58, 30), {}),
    ('Europe/London', datetime(2025, 12, 1, 0, 0, 0), {'month': [3], 'day': [29], 'hour': [1], 'minute': [30]}),
    # Europe/London fall back 2026-10-25 02:00 BST -> 01:00 GMT (01:xx happens twice)
    ('Europe/London', datetime(2026, 10, 24, 12, 0, 0), {'hour': [0, 1, 2], 'minute': [0]}),
    ('Europe/London', datetime(2026, 10, 25, 0, 45, 0), {'minute': [0, 30]}),
    # America/New_York spring forward 2026-03-08 02:00 EST -> 03:00 EDT (02:xx does not exist)
    ('America/New_York', datetime(2026, 3, 7, 12, 0, 0), {'hour': [1, 2, 3], 'minute': [0]}),
    ('America/New_York', datetime(2026, 3, 1, 0, 0, 0), {'weekday': [6], 'hour': [2], 'minute': [30]}),
    # America/New_York fall back 2026-11-01 02:00 EDT -> 01:00 EST (01:xx happens twice)
    ('America/New_York', datetime(2026, 11, 1, 0, 10, 0), {'hour': [1, 2], 'minute': [0, 30]}),
    ('America/New_York', datetime(2026, 10, 31, 12, 0, 0), {'hour': [1], 'minute': [30]}),
]

CRON_NAME = 'cron:flush_to_db'  # arq.cron.cron() names a job 'cron:' + function name
N_RUNS = 5


def wall(dt):
    return dt.replace(tzinfo=None).isoformat(timespec='microseconds')


def cron_vectors():
    out = []
    for tzname, now_naive, over in CRON_CASES:
        sched = {
            'month': None, 'day': None, 'weekday': None, 'hour': None, 'minute': None,
            'second': [0], 'microsecond': 123_456,
        }
        sched.update(over)
        tz = ZoneInfo(tzname)
        now = now_naive.replace(tzinfo=tz)  # fold=0, as datetime(..., tzinfo=tz)
        kwargs = {k: (sched[k] if k == 'microsecond' or sched[k] is None else list(sched[k])) for k in sched}
        runs = []
        prev = now
        for _ in range(N_RUNS):
            prev = next_cron(prev, **kwargs)
            runs.append(prev)
        out.append({
            'tz': tzname,
            'now': wall(now),
            'schedule': sched,
            'next_runs': [wall(r) for r in runs],
            'ids': [f'{CRON_NAME}:{to_unix_ms(r)}' for r in runs],
        })
    return out


# ---------------------------------------------------------------------------


def write(name, items):
    text = '[\n' + ',\n'.join(json.dumps(i, ensure_ascii=False, sort_keys=True) for i in items) + '\n]\n'
    (OUT / name).write_text(text, encoding='utf-8', newline='\n')
    print(f'{name}: {len(items)} vectors', file=sys.stderr)


def main():
    write('pickle.json', pickle_vectors())
    mp, skipped = msgpack_vectors()
    write('msgpack.json', mp)
    for s in skipped:
        print(f'  msgpack skipped {s}', file=sys.stderr)
    write('cron.json', cron_vectors())


if __name__ == '__main__':
    # The iteration order of a set of str (and so its pickle/msgpack bytes) depends on hash
    # randomisation: pin it so regenerating gives identical files.
    if os.environ.get('PYTHONHASHSEED') != '0':
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, 'PYTHONHASHSEED': '0'})
    main()
