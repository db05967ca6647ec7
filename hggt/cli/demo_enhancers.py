"""`make demo-enhancers`: ship the enhancers of a dataset as the demo's ready enhancers.

The demo's own schedule (tens of iterations) leaves its tiny enhancers blurring and tinting the
photos, so no version would ever be labelled Positive. `make demo-enhancers` trains them once,
longer, on the bundled photos; this copies each `enhancers/<version>/model.pt` to
`hggt/core/demo_enhancers/<version>.pt` and writes `record.json` (the training record of each:
iterations, final losses, time, device, config hash, and the schedule used) beside them.
"""

from __future__ import annotations

import json
import sys

from hggt.core import catalog, manifests, storage
from hggt.core.enhancement import DEMO_ENHANCERS

RECORD_COLUMNS = ("iterations", "config_hash", "parameters", "perceptual", "final_l1", "final_perceptual", "final_gan",
                  "final_d_real", "final_d_fake", "seconds", "device")


def ship(dataset: str, schedule: list[str], dest: str = str(DEMO_ENHANCERS)) -> dict:
    root = storage.normalize_root(dataset)
    record: dict = {"schedule": schedule, "trained_in": dataset}
    for row in manifests.read(root, "enhancers").to_pylist():
        data = storage.read_bytes(storage.resolve(root, row["checkpoint_uri"]))
        if storage.sha256_bytes(data) != row["sha256"]:
            raise ValueError(f"{row['checkpoint_uri']} does not match its enhancers.parquet row: train the enhancers again")
        storage.atomic_write(storage.join(dest, catalog.pretrained_model(row["version"])), data)
        record[row["version"]] = {k: row[k] for k in RECORD_COLUMNS}
    storage.atomic_write(storage.join(dest, catalog.PRETRAINED_RECORD), (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return record


if __name__ == "__main__":
    shipped = ship(sys.argv[1], sys.argv[2:])
    print(json.dumps(shipped, indent=2))
