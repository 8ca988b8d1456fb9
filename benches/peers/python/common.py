# Shared by the Python peer drivers (see ../README.md).
import json
import os
import sys
import time

T0 = time.monotonic()
URL = os.environ.get('BENCH_REDIS_URL', 'redis://127.0.0.1:6379')


def args():
    mode, n = sys.argv[1], int(sys.argv[2])
    conc = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    return mode, n, conc


def report_and_exit(n):
    """Prints the JSON line and ends the process at once (no worker shutdown timed)."""
    sys.stdout.write(json.dumps({'jobs': n, 'seconds': time.monotonic() - T0}) + '\n')
    sys.stdout.flush()
    os._exit(0)
