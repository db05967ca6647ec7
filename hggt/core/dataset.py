"""An hggt dataset as a library: manifests as pandas tables, one row per set, and the sets a
training mode uses.

    ds = open_dataset("data/demo")            # or memory://..., s3://bucket/ds
    ds.table("labels")                        # a manifest as a DataFrame, artifact URIs as full URLs
    ds.sets()                                 # sets with their images, labels, split side and maps

Everything is read through :mod:`hggt.core.manifests`, so schema versions are checked (older
manifests with fewer columns are upgraded) and a missing manifest names the stage that makes it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from hggt.core import catalog, manifests, storage
from hggt.core.annotation.labels import VERSIONS
from hggt.core.annotation.pairs import gt_versions
from hggt.core.schemas import MANIFESTS
from hggt.core.splits import image_of

if TYPE_CHECKING:  # pandas is imported where used: the config imports this module's modes on every CLI start
    import pandas as pd

FILES = ("original", *VERSIONS)  # the paper's; a dataset's own: HGGTDataset.files()
TRAIN_MODES = ("psnr", "ori", "pos", "posneg")


class HGGTDataset:
    """A dataset root (any fsspec URL). Nothing is cached: every call reads the manifests as they
    are now, so a dataset can be inspected while a stage is writing it."""

    def __init__(self, root: str):
        self.root = storage.normalize_root(root)

    def __repr__(self) -> str:
        return f"HGGTDataset({self.root!r}, manifests={self.manifests()})"

    def has(self, name: str) -> bool:
        manifests.spec(name)  # an unknown name is an error, not a silent False
        return storage.exists(manifests.manifest_url(self.root, name))

    def manifests(self) -> list[str]:
        """The manifests this dataset has so far."""
        return [name for name in MANIFESTS if storage.exists(manifests.manifest_url(self.root, name))]

    def url(self, uri: str) -> str:
        """A manifest's artifact URI (relative to the root, or a full URL) as a full URL."""
        return storage.resolve(self.root, uri)

    def rows(self, name: str) -> list[dict]:
        """A manifest as plain rows, URIs as written (relative to the root)."""
        return manifests.read(self.root, name).to_pylist()

    def table(self, name: str) -> pd.DataFrame:
        """A manifest as a DataFrame; every URI column (``uri``, ``checkpoint_uri``, ``figure_uri``,
        ``sr_uri`` ...) holds full URLs that fsspec, PIL or torch can open directly. Integer and
        boolean columns have pandas' nullable dtypes (``Int64``, ``boolean``)."""
        import pandas as pd

        import pyarrow as pa

        # Nullable integer and boolean dtypes, so that a column's dtype does not depend on whether
        # it holds a null, and large integers (seeds, byte counts) never pass through float64.
        nullable = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
        df = manifests.read(self.root, name).to_pandas(types_mapper=nullable.get)
        for column in df.columns:
            if catalog.is_uri_column(column):
                # object dtype: pandas 3 would infer its string dtype and turn None into NaN
                df[column] = pd.Series([None if pd.isna(u) else self.url(u) for u in df[column]], index=df.index, dtype=object)
        return df

    def versions(self) -> tuple[str, ...]:
        """The versions of the dataset's sets (2 to 8, in name order; ``enhancers.versions``), as
        set_images.parquet holds them; the paper's four before `hggt select` has run."""
        if not self.has("set_images"):
            return VERSIONS
        found = sorted(set(manifests.read(self.root, "set_images").column("file").to_pylist()) - {"original"})
        return tuple(found) or VERSIONS

    def files(self) -> tuple[str, ...]:
        return ("original", *self.versions())

    def sets(self) -> pd.DataFrame:
        """One row per set (sorted by set id): ``set_id, patch_id, image_id, rank, max_diff``; the
        image URLs ``original`` and one column per version (``01 .. 04`` by default; see
        :meth:`versions`); ``label_<v>`` (effective label) and
        ``votes_<v>`` per version, ``positives`` and ``negatives`` (lists of versions), ``usable``
        and ``label_source``; ``split`` (train, test, excluded); ``maps`` (the indication maps'
        .npz URLs), ``map_pairs`` (their ``(positive, negative)`` versions, in the same order) and
        ``map_figure``. Columns of stages not run yet (annotate, split, maps) are empty (NA)."""
        import pandas as pd

        versions = self.versions()
        sets = self.rows("sets")
        images: dict[str, dict[str, str]] = defaultdict(dict)
        for r in self.rows("set_images"):
            images[r["set_id"]][r["file"]] = self.url(r["uri"])
        labels: dict[str, dict[str, dict]] = defaultdict(dict)
        for r in self.rows("labels") if self.has("labels") else []:
            labels[r["set_id"]][r["version"]] = r
        splits = {r["set_id"]: r for r in self.rows("splits")} if self.has("splits") else {}
        photos = {r["patch_id"]: r["image_id"] for r in self.rows("patches")} if self.has("patches") else {}
        maps: dict[str, list[dict]] = defaultdict(list)
        for r in sorted(self.rows("maps") if self.has("maps") else [], key=lambda r: (r["pos_version"], r["neg_version"])):
            maps[r["set_id"]].append(r)
        out = []
        for s in sorted(sets, key=lambda r: r["set_id"]):
            sid = s["set_id"]
            row = {**s, "image_id": (splits.get(sid) or {}).get("image_id") or photos.get(s["patch_id"]) or image_of(sid)}
            row.update({f: images[sid].get(f) for f in ("original", *versions)})
            own = labels.get(sid, {})
            for v in versions:
                row[f"label_{v}"] = own[v]["effective_label"] if v in own else None
                row[f"votes_{v}"] = own[v]["vote_count"] if v in own else None
            row["positives"] = [v for v in versions if row[f"label_{v}"] == "Positive"] if own else None
            row["negatives"] = [v for v in versions if row[f"label_{v}"] == "Negative"] if own else None
            row["usable"] = any(r["usable"] for r in own.values()) if own else None
            row["label_source"] = next(iter(own.values()))["source"] if own else None
            row["split"] = splits[sid]["split"] if sid in splits else None
            row["maps"] = [self.url(m["uri"]) for m in maps[sid]] if self.has("maps") else None
            row["map_pairs"] = [(m["pos_version"], m["neg_version"]) for m in maps[sid]] if self.has("maps") else None
            row["map_figure"] = next((self.url(m["figure_uri"]) for m in maps[sid] if m["figure_uri"]), None)
            out.append(row)
        df = pd.DataFrame(out, columns=_set_columns(versions))
        for v in versions:
            df[f"votes_{v}"] = df[f"votes_{v}"].astype("Int64")
        df["usable"] = df["usable"].astype("boolean")
        return df

    def training_sets(self, mode: str, split: str | None = "train") -> tuple[list[dict], dict[str, dict[str, str]]]:
        """The sets a Real-ISR mode trains on, as train-sr plans them and as the authors' dataset
        classes choose them: ``psnr`` and ``ori`` every labelled set on ``split``
        (``PosNegGTOriDataset``), ``pos`` the sets with at least one effective Positive
        (``PosNegGTPosDataset``: its model always trains towards a positive), ``posneg`` the usable
        ones, with a Positive or a Negative (``PosNegGTPosNeg_Dataset``). Each is ``{"set_id",
        "positive": [(version, votes)], "negative": [...]}``, sorted by set id (``pos`` keeps the
        negatives too; it never uses them); and the full URLs of their images, ``{set_id: {file:
        url}}``. ``split=None`` takes every labelled set whatever its side (no held-out split needed)."""
        if mode not in TRAIN_MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {TRAIN_MODES}")
        label_rows = self.rows("labels")
        side: set[str] | None = None
        split_rows: list[dict] = []
        if split is not None:
            if not self.has("splits"):
                raise ValueError("no held-out split yet: run `hggt split` (build-dataset does) so that training never sees the test sets")
            split_rows = self.rows("splits")
            side = {r["set_id"] for r in split_rows if r["split"] == split}
        if mode in ("psnr", "ori"):
            chosen = side if side is not None else {r["set_id"] for r in label_rows}
            entries = {s: {"positive": [], "negative": []} for s in chosen}
        else:
            entries = {s: e for s, e in gt_versions(label_rows).items() if side is None or s in side}
            if mode == "pos":
                entries = {s: e for s, e in entries.items() if e["positive"]}
        images: dict[str, dict[str, str]] = defaultdict(dict)
        for r in self.rows("set_images"):
            if r["set_id"] in entries:
                images[r["set_id"]][r["file"]] = self.url(r["uri"])
        if not entries:
            where = (f"{len(split_rows)} sets in splits.parquet, {len(side or ())} {split}" if split is not None
                     else f"{len({r['set_id'] for r in label_rows})} labelled sets")
            kind = {"pos": "labelled sets with a positive version", "posneg": "usable labelled sets"}.get(mode, "labelled sets")
            raise ValueError(f"no {kind} on the {split or 'any'} side "
                             f"to train {mode} on ({where}): annotate more sets, or lower split.test_sets and run `hggt split` again")
        return [{"set_id": s, **entries[s]} for s in sorted(entries)], dict(images)


def _set_columns(versions: tuple[str, ...]) -> list[str]:
    return [
        "set_id", "patch_id", "image_id", "rank", "max_diff", "original", *versions, *(f"label_{v}" for v in versions),
        *(f"votes_{v}" for v in versions), "positives", "negatives", "usable", "label_source", "split", "maps", "map_pairs",
        "map_figure",
    ]


def open_dataset(root: str) -> HGGTDataset:
    """An hggt dataset at ``root`` (a local folder or any fsspec URL: memory://, s3://, gs://)."""
    ds = HGGTDataset(root)
    if not ds.manifests():
        raise FileNotFoundError(f"{ds.root} holds no hggt manifests ({catalog.MANIFESTS_DIR}/*.parquet): "
                                "is it a dataset root? `hggt ingest --out ROOT` starts one")
    return ds
