#!/usr/bin/env python3
"""Vectors for the stdlib types and shared references, pickled by the REAL CPython at
protocols 0-5. Writes pickle_types.json next to this file (CPython 3.11 and 3.13 write identical bytes).

    PY="$(bash tests/python/ensure-venv.sh)"; "$PY" tests/vectors/generate_types.py
    VENV=target/pyvenv313 PYTHON=python3.13 bash tests/python/ensure-venv.sh   # then run it too

Format: one JSON object per line in a list:
{"name", "protocol", "hex", "value": <tagged>, "exact": bool}; `exact` means our protocol-4
encoder must reproduce the bytes (protocol 4 only). Tags beyond tests/vectors/README.md:
datetime/time carry "fold" and "tz" (null, {"offset_s", "name"} or {"zone": key});
{"time": {...}}, {"decimal": "1.10"}, {"uuid": "<32 hex>"}, {"bytearray": "<hex>"},
{"strs": "<hex of the str's UTF-8 with surrogatepass>"} (a str with lone surrogates).
"""

import datetime as dt
import decimal
import json
import math
import pickle
import sys
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

OUT = Path(__file__).resolve().parent


def tz_tag(tz):
    if tz is None:
        return None
    if isinstance(tz, ZoneInfo):
        return {'zone': tz.key}
    args = tz.__getinitargs__()  # (offset,) or (offset, name), what pickle carries
    return {'offset_s': int(args[0].total_seconds()), 'name': args[1] if len(args) > 1 else None}


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
        return {'float': v}
    if isinstance(v, str):
        try:
            v.encode('utf-8')
            return {'str': v}
        except UnicodeEncodeError:
            return {'strs': v.encode('utf-8', 'surrogatepass').hex()}
    if isinstance(v, bytearray):
        return {'bytearray': bytes(v).hex()}
    if isinstance(v, bytes):
        return {'bytes': v.hex()}
    if isinstance(v, list):
        return {'list': [tag(x) for x in v]}
    if isinstance(v, tuple):
        return {'tuple': [tag(x) for x in v]}
    if isinstance(v, dict):
        return {'dict': [[tag(k), tag(x)] for k, x in v.items()]}
    if isinstance(v, decimal.Decimal):
        return {'decimal': str(v)}
    if isinstance(v, uuid.UUID):
        return {'uuid': v.hex}
    if isinstance(v, dt.datetime):
        return {'datetime': {'year': v.year, 'month': v.month, 'day': v.day, 'hour': v.hour,
                             'minute': v.minute, 'second': v.second,
                             'microsecond': v.microsecond, 'fold': v.fold,
                             'tz': tz_tag(v.tzinfo)}}
    if isinstance(v, dt.date):
        return {'date': {'year': v.year, 'month': v.month, 'day': v.day}}
    if isinstance(v, dt.time):
        return {'time': {'hour': v.hour, 'minute': v.minute, 'second': v.second,
                         'microsecond': v.microsecond, 'fold': v.fold, 'tz': tz_tag(v.tzinfo)}}
    if isinstance(v, dt.timedelta):
        return {'timedelta': {'days': v.days, 'seconds': v.seconds,
                              'microseconds': v.microseconds}}
    raise TypeError(type(v))


BERLIN = ZoneInfo('Europe/Berlin')
NY = ZoneInfo('America/New_York')
IST = dt.timezone(dt.timedelta(hours=5, minutes=30), 'IST')
row = {f'col{i}': i for i in range(50)}
big = 'x' * 1000


def cases():
    return [
        ('decimal', decimal.Decimal('1.10')),
        ('decimal_neg_exp', decimal.Decimal('-1.5E-10')),
        ('decimal_big', decimal.Decimal('123456789012345678901234567890.000000001')),
        ('decimal_nan', decimal.Decimal('NaN')),
        ('decimal_inf', decimal.Decimal('-Infinity')),
        ('decimal_zero', decimal.Decimal('-0')),
        ('uuid', uuid.UUID('12345678-1234-5678-1234-567812345678')),
        ('uuid_small', uuid.UUID(int=5)),
        ('uuid_max', uuid.UUID(int=2**128 - 1)),
        ('time', dt.time(1, 2, 3, 4)),
        ('time_utc_fold', dt.time(1, 2, 3, 4, tzinfo=dt.timezone.utc, fold=1)),
        ('time_ist', dt.time(23, 59, 59, 999999, tzinfo=IST)),
        ('datetime_berlin', dt.datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN)),
        ('datetime_ny_fold', dt.datetime(2026, 11, 1, 1, 30, tzinfo=NY, fold=1)),
        ('datetime_naive_fold', dt.datetime(2026, 10, 25, 2, 30, fold=1)),
        ('datetime_ist', dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=IST)),
        ('datetime_minus', dt.datetime(2026, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=-3)))),
        ('datetime_utc_named', dt.datetime(2026, 1, 2, tzinfo=dt.timezone(dt.timedelta(0), 'UTC'))),
        ('datetime_nonascii_state', dt.datetime(2026, 10, 10, 10, 10, 10, 10)),
        ('two_berlin', [dt.datetime(2026, 1, 1, tzinfo=BERLIN), dt.datetime(2026, 7, 1, tzinfo=BERLIN)]),
        ('two_utc', [dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2026, 7, 1, tzinfo=dt.timezone.utc)]),
        ('bytearray', bytearray(b'ab\xff\x00')),
        ('bytearray_empty', bytearray()),
        ('bytes_and_bytearray', [b'ab', bytearray(b'ab')]),
        ('str_nonascii', 'h\xe9llo \u20ac \U0001f600 \\ \n'),
        ('str_surrogate', '\ud83d'),
        ('str_surrogates_mixed', 'a\udc80b\ud800'),
        ('date', dt.date(2026, 12, 31)),
        ('shared_rows', [row] * 50),
        ('shared_big_str', [big] * 10),
        ('shared_tuple', ((1, 2), ) * 3),
        ('mixed', {'amount': decimal.Decimal('9.99'), 'id': uuid.UUID(int=42),
                   'at': dt.datetime(2026, 6, 1, 12, tzinfo=BERLIN), 'raw': bytearray(b'x')}),
    ]


def main():
    ver = f'{sys.version_info.major}{sys.version_info.minor}'
    out = []
    for name, obj in cases():
        for proto in range(6):
            b = pickle.dumps(obj, protocol=proto)
            back = pickle.loads(b)
            out.append({'name': name, 'protocol': proto, 'hex': b.hex(), 'value': tag(back),
                        'exact': proto == 4})
    path = OUT / 'pickle_types.json'  # 3.11 and 3.13 write identical bytes
    path.write_text('[\n' + ',\n'.join(json.dumps(v, sort_keys=True) for v in out) + '\n]\n')
    print(f'wrote {len(out)} vectors to {path}', file=sys.stderr)


if __name__ == '__main__':
    main()
