"""gunicorn's application: the one module that does work at import, building the app around the model."""

import os

from ensemble_byoc.serving.app import app_from_environment

app = app_from_environment(os.environ)
