"""The SageMaker contract: the /opt/ml paths and configuration files, logging, usable cores and the
OpenMP wait, disk space and atomic file writes. Imports nothing of the package but ``errors``."""
