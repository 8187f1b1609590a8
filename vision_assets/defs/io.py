"""Small JSON records for the unpartitioned chain, kept in the lake so each asset loads exactly the record
its upstream materialized (never "the latest model" found some other way)."""

import dagster as dg

from vision_assets.defs.resources import LakeResource


class LakeJsonIOManager(dg.ConfigurableIOManager):
    lake: dg.ResourceDependency[LakeResource]

    def _relpath(self, asset_key: dg.AssetKey) -> str:
        return f"assets/{'/'.join(asset_key.path)}.json"

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        if context.has_partition_key:
            raise dg.DagsterInvariantViolationError("LakeJsonIOManager stores unpartitioned records only")
        self.lake.lake().write_json(self._relpath(context.asset_key), obj)

    def load_input(self, context: dg.InputContext) -> object:
        lake = self.lake.lake()
        relpath = self._relpath(context.asset_key)
        if not lake.exists(relpath):
            raise FileNotFoundError(f"{lake.path(relpath)}: {context.asset_key.to_user_string()} was never materialized")
        return lake.read_json(relpath)
