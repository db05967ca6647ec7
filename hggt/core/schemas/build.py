"""The manifests of the dataset build: ingested photos, patches, synthesised LQ images, enhancers
and their outputs, the selected sets, their annotation, splits and maps."""

from __future__ import annotations

import pyarrow as pa

from hggt.core.degradation.settings import RECORD_COLUMNS
from hggt.core.schemas.spec import ManifestSpec, manifest_spec

IMAGES = manifest_spec(
    "images", 1, ("image_id",), "hggt ingest",
    [
        pa.field("image_id", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("relpath", pa.string(), nullable=False),
        pa.field("bytes", pa.int64()),
        pa.field("sha256", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("format", pa.string()),
        pa.field("source_mode", pa.string()),
        pa.field("conversion", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("reason", pa.string()),
    ],
)

PATCHES = manifest_spec(
    "patches", 1, ("patch_id",), "hggt patches",
    [
        pa.field("patch_id", pa.string(), nullable=False),
        pa.field("image_id", pa.string(), nullable=False),
        pa.field("row", pa.int32(), nullable=False),
        pa.field("col", pa.int32(), nullable=False),
        pa.field("size", pa.int32(), nullable=False),
        pa.field("gray_std", pa.float64(), nullable=False),
        pa.field("lap_var", pa.float64(), nullable=False),
        pa.field("texture_ok", pa.bool_(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
    ],
)


def _synthesis_spec(name: str, produced_by: str, extra: list[pa.Field]) -> ManifestSpec:
    """One row per synthesised LQ image: its ids, its complete degradation record, its file."""
    record = [pa.field(n, pa.bool_() if kind == "bool" else getattr(pa, kind)(), nullable=False) for n, kind in RECORD_COLUMNS]
    ids = [pa.field(n, pa.string(), nullable=False) for n in ("sample_id", "patch_id", "setting")]
    artifact = [pa.field("uri", pa.string(), nullable=False), pa.field("sha256", pa.string(), nullable=False),
                pa.field("bytes", pa.int64(), nullable=False)]
    return manifest_spec(name, 1, ("sample_id",), produced_by, [*ids, *extra, *record, *artifact])


DEGRADATIONS = _synthesis_spec("degradations", "hggt degrade", [])
LR_TEST = _synthesis_spec("lr_test", "hggt synthesize-lr", [pa.field("scale", pa.int32(), nullable=False)])

ENHANCERS = manifest_spec(
    "enhancers", 3, ("version",), "hggt train-enhancers",
    [
        pa.field("version", pa.string(), nullable=False),
        pa.field("arch", pa.string(), nullable=False),  # declared: the architecture Spandrel detected (ESRGAN, SwinIR ...)
        pa.field("setting", pa.string()),  # null for a declared enhancer
        pa.field("iterations", pa.int64(), nullable=False),
        pa.field("checkpoint_uri", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("config_hash", pa.string(), nullable=False),
        pa.field("parameters", pa.int64(), nullable=False),
        pa.field("perceptual", pa.bool_(), nullable=False),
        pa.field("final_l1", pa.float64()),
        pa.field("final_perceptual", pa.float64()),
        pa.field("final_gan", pa.float64()),
        pa.field("final_d_real", pa.float64()),
        pa.field("final_d_fake", pa.float64()),
        pa.field("seconds", pa.float64()),
        pa.field("device", pa.string()),
        pa.field("source", pa.string()),  # 'trained', or the ready file it came from (enhancers.pretrained, a declared model)
        pa.field("kind", pa.string()),  # v3: 'declared' (a model file loaded through Spandrel); null: trained by hggt
        pa.field("scale", pa.int32()),  # v3: a declared model's scale (its input is the HR image downscaled by it); null: 1
    ],
)

ENHANCED = manifest_spec(
    "enhanced", 1, ("patch_id", "version"), "hggt enhance",
    [
        pa.field("patch_id", pa.string(), nullable=False),
        pa.field("version", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("mean_abs_diff", pa.float64(), nullable=False),
        pa.field("gray_std", pa.float64(), nullable=False),
        pa.field("lap_var", pa.float64(), nullable=False),
        pa.field("texture_ok", pa.bool_(), nullable=False),
    ],
)

SETS = manifest_spec(
    "sets", 1, ("set_id",), "hggt select",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("patch_id", pa.string(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("max_diff", pa.float64()),  # null for sets imported from the published dataset
    ],
)

SET_IMAGES = manifest_spec(
    "set_images", 1, ("set_id", "file"), "hggt select / hggt annotate ingest",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("file", pa.string(), nullable=False),  # original, 01 .. 04
        pa.field("uri", pa.string(), nullable=False),
    ],
)

SET_SOURCES = manifest_spec(
    "set_sources", 1, ("set_id",), "hggt annotate ingest --input PUBLISHED",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("side", pa.string()),  # train / test: the published tree (Train/, Test/) it came from; null in a bare images/ tree
        pa.field("range", pa.string(), nullable=False),  # its range folder there, e.g. 0-20193
        pa.field("source_uri", pa.string(), nullable=False),  # its original's full URL in the input, as provenance (like images.uri)
        pa.field("transfer", pa.string(), nullable=False),  # link (hard links), copy, or reference (images left at the input)
    ],
)

ASSIGNMENTS = manifest_spec(
    "assignments", 1, ("set_id", "annotator"), "hggt annotate export",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("annotator", pa.string(), nullable=False),
        pa.field("batch", pa.int32(), nullable=False),
        pa.field("position", pa.int32(), nullable=False),
        pa.field("display_order", pa.string(), nullable=False),
    ],
)

VOTES = manifest_spec(
    "votes", 1, ("set_id", "version", "annotator"), "hggt annotate ingest",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("version", pa.string(), nullable=False),
        pa.field("annotator", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("started_at", pa.timestamp("ms", tz="UTC")),
        pa.field("ended_at", pa.timestamp("ms", tz="UTC")),
        pa.field("seconds", pa.float64()),
        pa.field("source", pa.string(), nullable=False),  # app, files, published, proxy
    ],
)

LABELS = manifest_spec(
    "labels", 1, ("set_id", "version"), "hggt annotate ingest",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("version", pa.string(), nullable=False),
        pa.field("effective_label", pa.string(), nullable=False),
        pa.field("vote_count", pa.int32(), nullable=False),
        pa.field("usable", pa.bool_(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # human or proxy
    ],
)

SPLITS = manifest_spec(
    "splits", 1, ("set_id",), "hggt split",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("image_id", pa.string(), nullable=False),  # the source photo: a photo's sets are all on one side
        pa.field("split", pa.string(), nullable=False),  # train, test or excluded (see hggt.core.splits)
        pa.field("positives", pa.int32(), nullable=False),  # versions whose effective label is Positive
        pa.field("usable", pa.bool_(), nullable=False),
    ],
)

MAPS = manifest_spec(
    "maps", 1, ("set_id", "pos_version", "neg_version"), "hggt maps",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("pos_version", pa.string(), nullable=False),  # 'original' when the set has no positive
        pa.field("neg_version", pa.string(), nullable=False),
        pa.field("n_pos", pa.int32(), nullable=False),
        pa.field("n_neg", pa.int32(), nullable=False),
        pa.field("nonzero_fraction", pa.float64(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("figure_uri", pa.string()),
    ],
)
