"""The published HGGT label format (SPEC section 5), read strictly and written exactly.

One JSON file per set and annotator, named after the original patch
(``labels/<annotator>/<image>-<row>-<col>.json``): ``Picture_1`` .. ``Picture_5``, each
``{"Name": file name, "File": "original" | "01".."04", "Label": null for the original, else
"Positive" | "Similar" | "Negative"}``, and ``Time_cost: {"Start": "YYYY-MM-DD HH:MM:SS",
"End": ..., "Total": seconds}``. The published dataset keeps images in
``images/<range>/{original,01,02,03,04}/`` and labels in ``labels/<range>/{A,B,C}/``.

hggt's sets may have 2 to 8 versions (``enhancers.versions``): their files hold ``Picture_1`` (the
original) and ``Picture_2`` .. ``Picture_{n+1}``, the versions in name order. The authors' loaders
expect exactly four versions (Picture_2..5), so only four-version datasets load there unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hggt.core.annotation.labels import LABELS, MAX_VERSIONS, MIN_VERSIONS, VERSIONS, is_version

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
FILES = ("original", *VERSIONS)  # the published dataset's


def is_file(name: str) -> bool:
    """Whether ``name`` can be an image of a set: the original or a version."""
    return name == "original" or is_version(name)


class LabelFileError(ValueError):
    """A label file that cannot be ingested; the message says why."""


@dataclass(frozen=True)
class LabelFile:
    set_id: str
    labels: dict[str, str]  # version -> label
    start: dt.datetime | None
    end: dt.datetime | None
    seconds: float | None


def image_name(set_id: str, file: str) -> str:
    return f"{set_id}.png" if file == "original" else f"{set_id}_{file}.png"


def parse_label_file(data: bytes, set_id: str) -> LabelFile:
    """Parse and validate one label file of the set ``set_id`` (the file's stem)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LabelFileError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise LabelFileError("not a JSON object")
    # Picture_1 .. Picture_n without gaps, n - 1 versions (the published files: n = 5).
    numbers = [int(k[8:]) for k in doc if k.startswith("Picture_") and k[8:].isdigit()]
    count = max([*numbers, 1 + MIN_VERSIONS])
    if count > 1 + MAX_VERSIONS:
        raise LabelFileError(f"Picture_{count}: a set has the original and at most {MAX_VERSIONS} versions")
    missing = [f"Picture_{i}" for i in range(1, count + 1) if f"Picture_{i}" not in doc]
    if missing:
        raise LabelFileError(f"missing {', '.join(missing)}")
    labels: dict[str, str] = {}
    seen: set[str] = set()
    for i in range(1, count + 1):
        pic = doc[f"Picture_{i}"]
        if not isinstance(pic, dict) or not {"Name", "File", "Label"} <= set(pic):
            raise LabelFileError(f"Picture_{i} must be an object with Name, File and Label")
        file, name, label = pic["File"], pic["Name"], pic["Label"]
        if not isinstance(file, str) or not is_file(file):
            raise LabelFileError(f"Picture_{i}: File {file!r} is not one of 'original' or a version name (01, 02, ...)")
        if file in seen:
            raise LabelFileError(f"Picture_{i}: File {file!r} appears twice")
        seen.add(file)
        if name != image_name(set_id, file):
            raise LabelFileError(f"Picture_{i}: Name {name!r} does not match File {file!r} of set {set_id} (expected {image_name(set_id, file)!r})")
        if file == "original":
            if label is not None:
                raise LabelFileError(f"Picture_{i}: the original must have Label null, not {label!r}")
        elif label not in LABELS:
            raise LabelFileError(f"Picture_{i}: unknown label {label!r}; expected one of {', '.join(LABELS)}")
        else:
            labels[file] = label
    if "original" not in seen:
        raise LabelFileError("no Picture_ entry is the original")
    start, end, seconds = _time_cost(doc.get("Time_cost"))
    return LabelFile(set_id, labels, start, end, seconds)


def _time_cost(cost) -> tuple[dt.datetime | None, dt.datetime | None, float | None]:
    if cost is None:
        return None, None, None
    try:
        start = dt.datetime.strptime(cost["Start"], TIME_FORMAT) if cost.get("Start") else None
        end = dt.datetime.strptime(cost["End"], TIME_FORMAT) if cost.get("End") else None
        total = float(cost["Total"]) if cost.get("Total") is not None else None
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise LabelFileError(f"malformed Time_cost: {exc}") from None
    return start, end, total


def total_seconds(seconds: float | None) -> int | None:
    """``Time_cost.Total`` as the published files hold it: whole seconds, rounded half up
    (28.5 -> 29), where Python's round() would round halves to even (28.5 -> 28, 29.5 -> 30)."""
    return None if seconds is None else int(math.floor(seconds + 0.5))


def format_label_file(
    set_id: str, labels: dict[str, str], start: dt.datetime | None, end: dt.datetime | None, seconds: float | None
) -> bytes:
    """A label file in the published format. Picture_1 is the original and Picture_2.. are the
    versions in name order (01..04 for the paper's), whatever order the annotator saw them in
    (that order stays in assignments.parquet): the authors' loaders read the labels by position
    and ignore File."""
    doc = {"Picture_1": {"Name": image_name(set_id, "original"), "File": "original", "Label": None}}
    for i, version in enumerate(sorted(labels), start=2):
        doc[f"Picture_{i}"] = {"Name": image_name(set_id, version), "File": version, "Label": labels[version]}
    doc["Time_cost"] = {"Start": start.strftime(TIME_FORMAT) if start else None, "End": end.strftime(TIME_FORMAT) if end else None,
                        "Total": total_seconds(seconds)}
    return json.dumps(doc, indent=2).encode()


def label_file_from_votes(set_id: str, votes: Iterable[Mapping], versions: Iterable[str] = VERSIONS) -> bytes:
    """The label file of one annotator's votes on one set (rows of votes.parquet: version, label,
    started_at, ended_at, seconds); a file needs exactly one vote on each of the set's ``versions``."""
    votes, versions = list(votes), sorted(versions)
    labels = {v["version"]: v["label"] for v in votes}
    if len(votes) != len(versions) or set(labels) != set(versions):
        raise LabelFileError(f"votes on versions {', '.join(sorted(labels)) or 'none'} of set {set_id}; a label file needs one "
                             f"vote on each of {', '.join(versions)}")
    first = votes[0]
    return format_label_file(set_id, labels, first.get("started_at"), first.get("ended_at"), first.get("seconds"))


@dataclass(frozen=True)
class LabelPath:
    annotator: str
    set_id: str


def label_path(relpath: str) -> LabelPath | None:
    """Annotator and set of ``labels/<annotator>/<set>.json`` or ``labels/<range>/<annotator>/<set>.json``."""
    parts = relpath.split("/")
    if "labels" not in parts or not relpath.endswith(".json"):
        return None
    rest = parts[parts.index("labels") + 1 :]
    if len(rest) not in (2, 3):
        return None
    return LabelPath(annotator=rest[-2], set_id=posixpath.splitext(rest[-1])[0])


def image_path(relpath: str) -> tuple[str, str] | None:
    """(set_id, file) of ``images/<range>/{original,01..04}/<name>.png`` in the published layout
    (any version name, as hggt's exports of sets with other versions have; not the copy that
    `hggt annotate export` makes under annotation/)."""
    parts = relpath.split("/")
    if len(parts) < 4 or parts[-4] != "images" or not is_file(parts[-2]) or not relpath.endswith(".png"):
        return None
    if len(parts) > 4 and parts[-5] == "annotation":
        return None
    stem, file = posixpath.splitext(parts[-1])[0], parts[-2]
    if file == "original":
        return stem, file
    suffix = f"_{file}"
    return (stem[: -len(suffix)], file) if stem.endswith(suffix) else None
