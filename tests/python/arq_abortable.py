"""The Python reference worker (benches/python/arq_reference.py, on PYTHONPATH) with arq's
allow_abort_jobs=True, for fleet tests of job.abort()."""
from arq_reference import WorkerSettings as Reference

# arq reads a settings class's own __dict__, not inherited attributes: copy them.
WorkerSettings = type(
    'WorkerSettings',
    (),
    {**{k: v for k, v in vars(Reference).items() if not k.startswith('__')}, 'allow_abort_jobs': True},
)
