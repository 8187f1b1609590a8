"""The model chain's records, kept in the lake so each asset loads exactly the record its upstream materialized
(never "the latest model" found some other way), typed on the way in: dataset_split gives a DatasetVersion,
trained_checkpoint a Checkpoint, eval_report an Evaluation, registered_model a Registration (core/records.py).
The lake holds their JSON, the same JSON as ever."""

import dagster as dg

from vision_assets.core.records import Checkpoint, DatasetVersion, Evaluation, Record, Registration
from vision_assets.defs import keys
from vision_assets.defs.resources import LakeResource

RECORD_TYPES: dict[dg.AssetKey, type[Record]] = {
    keys.DATASET_SPLIT: DatasetVersion,
    keys.TRAINED_CHECKPOINT: Checkpoint,
    keys.EVAL_REPORT: Evaluation,
    keys.REGISTERED_MODEL: Registration,
}


class LakeJsonIOManager(dg.ConfigurableIOManager):
    lake: dg.ResourceDependency[LakeResource]

    def _relpath(self, asset_key: dg.AssetKey) -> str:
        return f"assets/{'/'.join(asset_key.path)}.json"

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        if context.has_partition_key:
            raise dg.DagsterInvariantViolationError("LakeJsonIOManager stores unpartitioned records only")
        self.lake.lake().write_json(self._relpath(context.asset_key), obj.to_json() if isinstance(obj, Record) else obj)

    def load_input(self, context: dg.InputContext) -> object:
        lake = self.lake.lake()
        relpath = self._relpath(context.asset_key)
        if not lake.exists(relpath):
            raise FileNotFoundError(f"{lake.path(relpath)}: {context.asset_key.to_user_string()} was never materialized")
        record_type = RECORD_TYPES.get(context.asset_key)
        data = lake.read_json(relpath)
        return record_type.from_json(data) if record_type else data
