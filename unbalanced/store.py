"""The stored study: a finished run's records packed into the repository (records/<name>/), and unpacked into a run
folder that the stored notebooks read. Nothing is trained in an unpacked folder: a record it lacks is an error.

A store holds, per recipe (the part of a record's file name before "_split"), one gzip-compressed JSON file: every
record's fields but its scores and labels, the labels once, and the validation and test scores of all its records
as one float32 matrix each (float64 where float32 would round them), byte-shuffled and base64-encoded. The
experiment manifests are copied as they are, and index.json lists every file with its SHA-256. Unpacking writes each
record's JSON byte for byte as its training wrote it (tests/test_store.py checks), so every AP is recomputed from
exactly the scores the models produced. docs/records.md describes the format.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .locks import owned
from .results import MANIFESTS_DIRNAME, record_file
from .storage import PROJECT_ROOT, DataError, json_safe, resolve_path, write_atomic
from .tasks import RESULTS_DIRNAME, Record, read_record

FORMAT_VERSION = 1
STORE_ROOT = PROJECT_ROOT / "records"  # records/<name>/: the run runs/<name> packed
STORED_RUNS = "runs/stored"  # runs/stored/<name>/: records/<name> unpacked on first use, where stored notebooks read it
INDEX = "index.json"
MARK = "unpacked-from.json"  # in an unpacked run folder: the store and index digest it came from
SCORE_FIELDS = ("val_scores", "test_scores")
LABEL_FIELDS = ("val_labels", "test_labels")


def group_of(record_file: str) -> str:
    """The store file a record belongs to: its file name's recipe part (baseline, class-weight-10, baseline_2000to200)."""
    return record_file.rsplit("_split", 1)[0]


def _encode(matrix: np.ndarray) -> tuple[str, str]:
    """A score matrix as (dtype, base64 text): float32 where that keeps every value exactly, else float64; bytes
    shuffled (every value's first byte, then every second byte, ...) because deflate then finds the shared exponent
    bytes of probabilities; scores alone barely compress."""
    exact = np.array_equal(matrix.astype("<f4").astype(np.float64), matrix)
    dtype = "<f4" if exact else "<f8"
    raw = np.ascontiguousarray(matrix, dtype=dtype)
    shuffled = raw.view(np.uint8).reshape(-1, raw.itemsize).T.tobytes()
    return dtype, base64.b64encode(shuffled).decode("ascii")


def _decode(dtype: str, text: str, shape: tuple[int, int]) -> np.ndarray:
    """The score matrix `_encode` wrote, as float64."""
    itemsize = np.dtype(dtype).itemsize
    shuffled = np.frombuffer(base64.b64decode(text), np.uint8).reshape(itemsize, -1)
    return np.ascontiguousarray(shuffled.T).view(dtype).reshape(shape).astype(np.float64)


def _gzip(payload: Mapping[str, Any]) -> bytes:
    """Compact JSON, gzip-compressed with no time stamp, name or operating system in its header (GzipFile writes
    "unknown", where gzip.compress takes zlib's, which differs between systems), so the same records give the same
    bytes wherever zlib deflates alike."""
    text = json.dumps(json_safe(payload), sort_keys=True, separators=(",", ":")).encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buffer, mtime=0) as f:
        f.write(text)
    return buffer.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_group(records: Sequence[dict[str, Any]]) -> bytes:
    """One store file: the records (as written by Record.to_json) of one recipe, scores as matrices."""
    labels: list[dict[str, list[int]]] = []
    metas = []
    for d in records:
        own = {name: [int(v) for v in d[name]] for name in LABEL_FIELDS}
        if own not in labels:
            labels.append(own)
        metas.append({**{k: v for k, v in d.items() if k not in SCORE_FIELDS + LABEL_FIELDS}, "labels": labels.index(own)})
    scores = {}
    for name in SCORE_FIELDS:
        lengths = {len(d[name]) for d in records}
        if len(lengths) != 1:
            raise DataError(f"the records of {records[0]['recipe']} hold {name} of different lengths {sorted(lengths)}: "
                            "they were not scored on one held-out block")  # fmt: skip
        matrix = np.array([d[name] for d in records], dtype=np.float64)
        dtype, text = _encode(matrix)
        scores[name] = {"dtype": dtype, "shape": list(matrix.shape), "data": text}
    return _gzip({"format": FORMAT_VERSION, "labels": labels, "records": metas, "scores": scores})


def decode_group(data: bytes, name: str = "") -> list[dict[str, Any]]:
    """The records of one store file, each as Record.to_json gives it."""
    payload = json.loads(gzip.decompress(data))
    if payload.get("format") != FORMAT_VERSION:
        raise DataError(f"store file {name} has format {payload.get('format')!r}; this code reads format {FORMAT_VERSION}: "
                        "check out the code that packed it, or pack the run again")  # fmt: skip
    matrices = {k: _decode(v["dtype"], v["data"], tuple(v["shape"])) for k, v in payload["scores"].items()}
    out = []
    for i, meta in enumerate(payload["records"]):
        d = {k: v for k, v in meta.items() if k != "labels"}
        d.update(payload["labels"][meta["labels"]])
        d.update({k: matrices[k][i] for k in SCORE_FIELDS})
        out.append(d)
    return out


@dataclass
class Packed:
    """What pack wrote: the store folder, its records and files, and the records it left out (with why)."""

    store: Path
    records: int
    files: dict[str, str]  # name -> SHA-256
    left_out: list[str]

    @property
    def megabytes(self) -> float:
        """The store's size on disk."""
        return sum((self.store / name).stat().st_size for name in [*self.files, INDEX]) / 1e6


def _canonical(d: Mapping[str, Any]) -> bytes:
    """A record's file, as write_json_atomic writes Record.to_json."""
    return (json.dumps(json_safe(d), indent=1, sort_keys=True) + "\n").encode("utf-8")


def _read_json(path: Path, what: str) -> Any:
    """A JSON file, or an error naming it and what to do."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable {what} ({exc}): restore it with git, or pack the run again") from None


def _run_records(run_folder: Path, protocol: Mapping[str, Any] | None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """A run folder's records that a store can give back byte for byte, by key, and the files left out with why."""
    kept, left_out = {}, []
    for path in sorted((run_folder / RESULTS_DIRNAME).glob("*.json")):
        record = read_record(path, path.stem.rsplit("_", 1)[-1])
        if record is None:
            left_out.append(f"{path.name}: damaged or not a record")
            continue
        d = json.loads(path.read_text(encoding="utf-8"))
        if protocol is not None and d["protocol"] != protocol:
            left_out.append(f"{path.name}: made under another protocol than the run's manifests")
        elif _canonical(d) != path.read_bytes() or record_file(record) != path.name:
            left_out.append(f"{path.name}: not as its training wrote it (edited, or named by other code), so no store could give it back")
        else:
            kept[record.key] = d
    return kept, left_out


def _stored_records(store: Path) -> dict[str, dict[str, Any]]:
    """A store's records by key (none where there is no store)."""
    if not (store / INDEX).is_file():
        return {}
    check_store(store)
    return {d["key"]: d for name in read_index(store)["files"] if name.endswith(".json.gz")
            for d in decode_group((store / name).read_bytes(), name)}  # fmt: skip


def store_for(run_folder: Path | str) -> Path:
    """The store a run folder packs into: records/<the run folder's name>."""
    return STORE_ROOT / resolve_path(run_folder).name


def stored_run(store: Path) -> str:
    """The run folder, relative to the project, where stored notebooks read a store: runs/stored/<its name>."""
    return f"{STORED_RUNS}/{store.name}"


def pack(run_folder: Path, store: Path, partial: bool = False) -> Packed:
    """Pack a run folder's records and its manifests into `store`, losing none that the store already held.

    Records made under another protocol than the manifests' (a stale or foreign file), damaged files and files a
    store could not give back byte for byte are left out and listed. A run with no manifest yet can be packed only
    as `partial` (a study still training, packed so that a fresh clone resumes it); its records must share one
    protocol, and the store's records the run folder lacks are kept. A complete store (the one stored notebooks
    read) is never replaced by a partial one, and a finished run must hold every record its store held.
    """
    run_folder = resolve_path(run_folder)
    manifests = sorted((run_folder / MANIFESTS_DIRNAME).glob("*.json"))
    if not manifests and not partial:
        raise DataError(f"{run_folder} holds no experiment manifests: finish (or resume) the run before storing it")
    if partial and (store / INDEX).is_file() and read_index(store).get("complete"):
        raise DataError(f"{store} holds a complete stored run, which the stored notebooks may read: pack the new run "
                        "under another name (--out runs/<other name>), or remove the store first")  # fmt: skip
    found = [_read_json(p, "manifest").get("protocol") for p in manifests]
    records, left_out = _run_records(run_folder, found[0] if found else None)
    found = found or [d["protocol"] for d in records.values()]
    protocols = {json.dumps(p, sort_keys=True) for p in found}
    if not protocols:
        raise DataError(f"{run_folder} holds no records: give the run folder a study trains into (make study: runs/study)")
    if len(protocols) != 1:
        raise DataError(f"the {'manifests' if manifests else 'records'} of {run_folder} were made under {len(protocols)} protocols: "
                        "store one run at a time")  # fmt: skip
    protocol = json.loads(protocols.pop())
    stored = {k: d for k, d in _stored_records(store).items() if d["protocol"] == protocol}
    for key in stored.keys() & records.keys():
        if _canonical(stored[key]) != _canonical(records[key]):
            raise DataError(f"record {key} differs between {run_folder} and {store} (trained again on another machine?): "
                            "keep one of the two files, then pack again")  # fmt: skip
    lacking = sorted(stored.keys() - records.keys())
    if lacking and not partial:
        raise DataError(f"{run_folder} lacks {len(lacking)} record(s) that {store} holds (such as {lacking[0]}): copy them in "
                        f"first (run_series.py --reuse-records {store} --out {run_folder} --resume ...), or remove the store")  # fmt: skip
    groups: dict[str, list[dict[str, Any]]] = {}
    for d in sorted({**stored, **records}.values(), key=lambda d: (d["split_seed"], d["seed"], d["key"])):
        groups.setdefault(group_of(record_file(Record.from_json(d))), []).append(d)
    files: dict[str, bytes] = {f"{name}.json.gz": encode_group(members) for name, members in sorted(groups.items())}
    files |= {f"{MANIFESTS_DIRNAME}/{p.name}": p.read_bytes() for p in manifests}
    for name, data in files.items():  # checked before anything is replaced: the store must give back every byte
        if name.endswith(".json.gz") and [_canonical(d) for d in decode_group(data, name)] != [
                _canonical(d) for d in groups[name.removesuffix(".json.gz")]]:  # fmt: skip
            raise DataError(f"store file {name} does not decode to its records; nothing was written")
    digests = {name: _sha256(data) for name, data in sorted(files.items())}
    machines = sorted({json.dumps(d.get("trained_on", {}), sort_keys=True) for members in groups.values() for d in members})
    index = {"format": FORMAT_VERSION, "records": sum(map(len, groups.values())), "protocol": protocol, "complete": not partial,
             "trained_on": [json.loads(m) for m in machines], "files": digests}  # fmt: skip
    _replace_folder(store, {**files, INDEX: _canonical(index)})
    return Packed(store, index["records"], digests, left_out)


def _replace_folder(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write a folder's files beside it, then swap it into place: a reader sees the old folder or the new one whole."""
    folder = Path(folder)
    fresh = folder.with_name(f".{folder.name}.new")
    old = folder.with_name(f".{folder.name}.old")
    for leftover in (fresh, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    for name, data in files.items():
        write_atomic(fresh / name, data)
    if folder.exists():
        os.replace(folder, old)
    os.replace(fresh, folder)
    if old.exists():
        shutil.rmtree(old)


def read_index(store: Path) -> dict[str, Any]:
    """A store's index; a missing, unreadable or newer one is an error saying what to do."""
    path = store / INDEX
    if not path.is_file():
        raise DataError(f"{path} is missing: {store} is not a stored run (python run_series.py --store <run folder> makes one)")
    index = _read_json(path, "store index")
    if index.get("format") != FORMAT_VERSION:
        raise DataError(f"{path} has store format {index.get('format')!r}; this code reads format {FORMAT_VERSION}")
    return index


def index_digest(store: Path) -> str:
    """The SHA-256 of a store's index, which names every file's digest: it identifies the whole store."""
    return _sha256((store / INDEX).read_bytes())


def check_store(store: Path) -> None:
    """Refuse a store with a missing, extra or altered file, naming it."""
    index = read_index(store)
    present = {p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file()} - {INDEX}
    for name, digest in index["files"].items():
        path = store / name
        if not path.is_file():
            raise DataError(f"{path} is missing from the stored records: restore it with `git checkout -- {store.name}`")
        if _sha256(path.read_bytes()) != digest:
            raise DataError(f"{path} does not match the checksum in {store / INDEX}: restore it, or pack the run again")
    extra = sorted(present - set(index["files"]))
    if extra:
        raise DataError(f"{store} holds files its index does not list: {', '.join(extra)}; remove them or pack the run again")


def load_records(store: Path) -> list[Record]:
    """Every record of a store, checked against its index."""
    read_index(store)  # a clear error where there is no store
    return [Record.from_json(d) for d in _stored_records(store).values()]


def _unpacking(run_folder: Path) -> Any:
    """Hold the lock of a run folder being unpacked: beside it, as unpacking swaps the folder whole."""
    folder = resolve_path(run_folder)
    return owned(folder.with_name(f".{folder.name}.unpacking"), "the stored run being unpacked", wait_s=600, say=lambda _: None)


def unpack(store: Path, run_folder: Path) -> Path:
    """Write a store's records and manifests into a run folder, marked as unpacked so that nothing trains there;
    each record file is the one its training wrote. The folder must be absent, empty or unpacked before: a folder
    that trains is never overwritten. It is written beside and swapped in whole, by one process at a time."""
    with _unpacking(run_folder):
        return _unpack(store, run_folder)


def _unpack(store: Path, run_folder: Path) -> Path:
    check_store(store)
    run_folder = resolve_path(run_folder)
    if run_folder.exists() and any(run_folder.iterdir()) and unpacked_from(run_folder) is None:
        raise DataError(f"{run_folder} holds files of its own and was not unpacked from a store: unpack into an empty "
                        "folder (stored runs live in runs/stored/<name>)")  # fmt: skip
    files: dict[str, bytes] = {}
    for name in read_index(store)["files"]:
        data = (store / name).read_bytes()
        if name.startswith(f"{MANIFESTS_DIRNAME}/"):
            files[name] = data
            continue
        for d in decode_group(data, name):
            files[f"{RESULTS_DIRNAME}/{record_file(Record.from_json(d))}"] = _canonical(d)
    files[MARK] = _canonical({"store": _portable(store), "index_sha256": index_digest(store)})
    _replace_folder(run_folder, files)
    return run_folder


def seed_run(store: Path, run_folder: Path) -> int:
    """Copy into a run folder that trains every record of a partial store that it lacks (no manifest: its notebooks
    write their own), so that a study resumed on a fresh clone trains only what the store does not hold; return how
    many were copied. A complete store is the stored study: retraining it reuses none of its records."""
    if read_index(store).get("complete"):
        return 0
    copied = 0
    for d in _stored_records(store).values():
        path = resolve_path(run_folder) / RESULTS_DIRNAME / record_file(Record.from_json(d))
        if read_record(path, d["key"]) is None:
            write_atomic(path, _canonical(d))
            copied += 1
    return copied


def _portable(path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def unpacked_from(run_folder: Path) -> dict[str, str] | None:
    """The mark of an unpacked run folder (its store and index digest), or None for a folder that trains."""
    path = resolve_path(run_folder) / MARK
    return _read_json(path, "mark of an unpacked run folder") if path.is_file() else None


def ensure_unpacked(run_folder: Path) -> None:
    """For a stored run folder (runs/stored/<name>): unpack records/<name> into it when it is absent or came from
    other stored records. Any other run folder is left as it is. Two processes that need it at once (two stored
    notebooks opened together, tests in parallel) unpack it once: the second waits for the first, then finds it done."""
    folder = resolve_path(run_folder)
    if folder.parent != resolve_path(STORED_RUNS):
        return
    store = STORE_ROOT / folder.name
    read_index(store)  # a clear error where the store is missing

    def stale() -> bool:
        mark = unpacked_from(folder)
        return mark is None or mark.get("index_sha256") != index_digest(store) or not (folder / RESULTS_DIRNAME).is_dir()

    if stale():
        with _unpacking(folder):
            if stale():
                _unpack(store, folder)


def refuse_training(run_folder: Path, missing: Sequence[str]) -> None:
    """In an unpacked run folder, a training it lacks is an error naming it: the stored records do not match."""
    mark = unpacked_from(run_folder)
    if mark is None or not missing:
        return
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    store = PROJECT_ROOT / mark["store"]
    partial = (store / INDEX).is_file() and not read_index(store).get("complete")
    why = ("that store is a study still training (packed part-way)" if partial else
           "these notebooks or parameters do not match the stored study")  # fmt: skip
    raise DataError(f"{run_folder} was unpacked from the stored records in {mark['store']} and holds no record for {shown}: "
                    f"{why}. Run them into another folder to train (run_series.py --out runs/<name>), or store a run that "
                    "holds them (run_series.py --store <run folder>)")  # fmt: skip


def check_stored_manifest(run_folder: Path, experiment: str, groups: Mapping[str, tuple[str, Sequence[Record]]]) -> None:
    """In an unpacked run folder: refuse an experiment whose groups (name, role, records) differ from its stored manifest."""
    path = resolve_path(run_folder) / MANIFESTS_DIRNAME / f"{experiment}.json"
    if not path.is_file():
        raise DataError(f"{path} is missing: the stored records hold no experiment {experiment}; store a run that ran it")
    stored = _read_json(path, "manifest")["groups"]
    now = {name: {"role": role, "records": [record_file(r) for r in records]} for name, (role, records) in groups.items()}
    if now != stored:
        differ = sorted(n for n in now.keys() | stored.keys() if now.get(n) != stored.get(n))
        raise DataError(f"{experiment} compared other records than its stored manifest names ({', '.join(differ)}): these "
                        "notebooks do not reproduce the stored study; store the run again (run_series.py --store <run folder>)")  # fmt: skip
