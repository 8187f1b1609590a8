"""The local runtime: what the Dagster daemon does, done in this process for `vision-assets demo`/`ingest`
(daemon.py), runs created as the daemon creates them (launch.py), and recovery of runs whose process died
(recovery.py). dagster_internals.py is the only module of vision_assets that imports private Dagster APIs."""
