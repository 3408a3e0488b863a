"""The SageMaker contract: the /opt/ml paths and configuration files, logging, usable cores, the OpenMP
wait and CatBoost's allocator setting, disk space and atomic file writes. Imports nothing of the package
but ``errors``."""
