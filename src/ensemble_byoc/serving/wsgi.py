"""gunicorn's application: the one module that does work at import, building the app around the model."""

import os
import sys

# Serving never uses scikit-learn, but LightGBM and XGBoost import it when it is installed, for their
# scikit-learn wrappers: about 1.5 s of cold start on 2 cores. Marked absent, both skip it.
sys.modules.setdefault("sklearn", None)  # type: ignore[arg-type]

from ensemble_byoc.serving.app import app_from_environment  # noqa: E402

app = app_from_environment(os.environ)
