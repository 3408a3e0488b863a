"""The training job: configuration, data channels, units (one library on one fold), blending, scores and
metric lines, checkpoints, stopping, reports, the job itself and its entry point."""
