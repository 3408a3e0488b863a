"""The served ensemble and the model directory that holds it (manifest, save, load, verify): what training
writes and serving reads."""
