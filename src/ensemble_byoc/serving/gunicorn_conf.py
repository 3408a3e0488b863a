"""gunicorn settings, from SageMaker's serving variables (see ``serving/settings.py``).

This module is an entry point (gunicorn reads it with ``--config python:...``), so it reads the
environment once, here.
"""

import logging
import os

from ensemble_byoc.contract.openmp import apply_openmp_wait
from ensemble_byoc.serving.settings import ServeSettings

# Before the app (and with it the libraries' OpenMP runtime) is loaded: libgomp reads its variables once,
# when it loads, and the workers forked later inherit both the environment and the loaded runtime.
_openmp = apply_openmp_wait(os.environ)
_settings = ServeSettings.from_env(os.environ)

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.workers
worker_class = "sync"  # one request at a time per worker; the libraries run on one thread each
timeout = _settings.timeout
# A worker is replaced after max_requests (+ jitter) requests, so memory one request grew is given back.
max_requests = _settings.max_requests
max_requests_jitter = _settings.max_requests_jitter if _settings.max_requests else 0
graceful_timeout = 20  # SageMaker sends SIGKILL 30 s after SIGTERM; requests in flight finish first
preload_app = True  # the model is loaded, merged and verified once, before the workers fork (see README)
loglevel = _settings.log_level.lower()
logger_class = "ensemble_byoc.serving.access_log.QuietPingLogger"
accesslog = "-" if _settings.access_log else None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus'
control_socket_disable = True  # its default socket path fails on read-only file systems (serverless)
# The workers' heartbeat files: in memory when /dev/shm exists (a disk-backed /tmp can stall them).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def on_starting(server: object) -> None:
    """gunicorn's hook in the master, once, after the app is loaded: say which OpenMP wait is in effect."""
    _openmp.log(logging.getLogger("ensemble_byoc.serving"))
