"""ensemble_byoc: a SageMaker container that trains and serves a CatBoost + XGBoost + LightGBM ensemble.

Importing the package imports no machine-learning library and reads no environment variable.
"""

__version__ = "0.1.0"
