"""A sensor tick of the in-process daemon initializes the resources its sensor asks for, and those they need in
turn, and no others (initializing all of the project's cost ~65 ms CPU per tick)."""

import dagster as dg

from vision_assets.local.daemon import LocalDaemon


def test_a_sensor_tick_initializes_only_what_its_sensor_needs(instance):
    initialized = []

    @dg.resource
    def folder(_):
        initialized.append("folder")
        return "/data"

    @dg.resource(required_resource_keys={"folder"})
    def reader(context):
        initialized.append("reader")
        return f"reads {context.resources.folder}"

    @dg.resource
    def unrelated(_):
        raise RuntimeError("initialized for a sensor that never asked for it")

    @dg.op
    def noop():
        return None

    @dg.job
    def some_job():
        noop()

    @dg.sensor(job=some_job)
    def reading_sensor(context, reader: dg.ResourceParam[str]):
        return dg.SkipReason(reader)

    defs = dg.Definitions(jobs=[some_job], sensors=[reading_sensor],
                          resources={"folder": folder, "reader": reader, "unrelated": unrelated})
    seen = []
    assert LocalDaemon(defs, instance, log=seen.append).sensor_tick("reading_sensor") == 0
    assert seen == ["reading_sensor: reads /data"]
    assert sorted(initialized) == ["folder", "reader"]
