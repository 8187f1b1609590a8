"""What "the same weights" means: a hash of the tensors, not of the checkpoint file.

An Ultralytics .pt pickles the model together with a timestamp, the training arguments (absolute paths
included) and the results table, so two runs that learn bit-identical weights still write different files.
`weights_sha256` hashes only the model's state_dict: every tensor in key order, as name, dtype, shape and raw
bytes. The checkpoint file's own sha256 (`checkpoint_sha256`) stays what lineage and the lake use."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vision_assets.core.errors import InvalidInput


def weights_sha256(path: Path) -> str:
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    model = checkpoint.get("model") or checkpoint.get("ema") if isinstance(checkpoint, dict) else checkpoint
    if model is None:
        raise InvalidInput(object=str(path), problem="no model in this checkpoint")
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
