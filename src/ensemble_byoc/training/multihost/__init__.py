"""Multi-host training on Dask: the hosts' layout, the cluster, and the unit runners that plug into the job.
The only place that imports Dask; the job never imports it (only the entry point does, lazily)."""
