"""gunicorn settings, from SageMaker's serving variables (see ``serving/settings.py``)."""

import os

from ensemble_byoc.serving.settings import ServeSettings

_settings = ServeSettings.from_env(os.environ)

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.workers
worker_class = "sync"
timeout = _settings.timeout
graceful_timeout = 20  # SageMaker sends SIGKILL 30 s after SIGTERM
preload_app = True  # the model is loaded and verified once, before any worker accepts a request
loglevel = _settings.log_level.lower()
accesslog = None
control_socket_disable = True  # its default socket path fails on read-only file systems (serverless)
