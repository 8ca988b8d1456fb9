"""Python's `pickle.loads` on the same bytes benches/codecs.rs decodes: prints MB/s per file.

    python benches/python/pickle_loads.py target/codec-bench/*.pickle
"""
import pickle
import sys
import time

for path in sys.argv[1:]:
    data = open(path, 'rb').read()
    best = float('inf')
    for _ in range(7):
        t = time.perf_counter()
        pickle.loads(data)
        best = min(best, time.perf_counter() - t)
    name = path.rsplit('/', 1)[-1].removesuffix('.pickle')
    print(f'python pickle.loads {name}: {len(data) / best / 1e6:.0f} MB/s ({best * 1e3:.1f} ms for {len(data)} bytes)')
