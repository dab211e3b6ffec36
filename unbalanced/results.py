"""A run folder's results: one record per training (written by tasks.py) and, per experiment notebook, a manifest
naming the records it compared; the summary reads the manifests back and refuses to mix protocols."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from .storage import DataError, write_json_atomic
from .tasks import RESULTS_DIRNAME, Protocol, Record, read_record

MANIFESTS_DIRNAME = "experiments"


ROLES = ("baseline", "remedy", "tuning", "reference", "sweep")  # how the summary uses a group of records


def save_manifest(output_dir: Path, experiment: str, parameters: Mapping[str, Any], protocol: Protocol, split_seeds: Sequence[int],
                  seeds: Sequence[int], groups: Mapping[str, tuple[str, Sequence[Record]]]) -> Path:  # fmt: skip
    """Record which trainings an experiment compared: its parameters, protocol, runs, and each group's role and records.

    A remedy's group holds every setting of its validation search; the summary repeats the choice from them.
    """
    for name, (role, _) in groups.items():
        if role not in ROLES:
            raise ValueError(f"group {name!r} has role {role!r}; use one of {ROLES}")
    payload = {"experiment": experiment, "parameters": {k: v for k, v in parameters.items() if k != "output_dir"},
               "protocol": asdict(protocol), "split_seeds": list(split_seeds), "seeds": list(seeds),
               "groups": {name: {"role": role, "records": [record_file(r) for r in records]}
                          for name, (role, records) in groups.items()}}  # fmt: skip
    return write_json_atomic(output_dir / MANIFESTS_DIRNAME / f"{experiment}.json", payload)


def record_file(record: Record) -> str:
    """The file name of a record in the results folder."""
    from .tasks import Task, record_path

    return record_path(Path("."), Task(record.recipe, record.split_seed, record.seed), record.key).name


def load_manifests(output_dir: Path) -> dict[str, dict[str, Any]]:
    """Every experiment manifest of a run folder, by experiment name."""
    folder = output_dir / MANIFESTS_DIRNAME
    found = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
    if not found:
        raise DataError(f"no experiment results in {output_dir}: run the experiment notebooks into this run folder first "
                        "(python run_series.py --out <folder> runs them all, the summary last)")  # fmt: skip
    return found


PROTOCOL_WORDS = {"data_root": "data root", "data_fingerprint": "usable images", "image_size": "image size",
                  "negative_split_counts": "negative split counts", "positive_split_counts": "positive split counts",
                  "steps_per_epoch": "updates per epoch", "epochs": "epochs", "patience": "patience"}  # fmt: skip


def check_one_protocol(manifests: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse manifests made under different protocols or runs, naming the experiments and what differs."""
    items = list(manifests.items())
    first_name, first = items[0]
    for name, other in items[1:]:
        differences = [PROTOCOL_WORDS.get(k, k.replace("_", " ")) for k in first["protocol"] if first["protocol"][k] != other["protocol"].get(k)]
        differences += [k.replace("_", " ") for k in ("split_seeds", "seeds") if first[k] != other[k]]
        if differences:
            raise DataError(f"experiments {first_name!r} and {name!r} were run under different protocols ({', '.join(differences)}); "
                            "run every notebook with the same parameters into one run folder")  # fmt: skip


def load_group(output_dir: Path, manifest: Mapping[str, Any], group: str) -> list[Record]:
    """The records of one group of a manifest; a missing or damaged record is an error naming the file."""
    records = []
    for name in manifest["groups"][group]["records"]:
        path = output_dir / RESULTS_DIRNAME / name
        key = name.rsplit("_", 1)[-1].removesuffix(".json")
        record = read_record(path, key) if path.exists() else None
        if record is None:
            raise DataError(f"{path} is missing or damaged: run {manifest['experiment']} again into {output_dir}")
        records.append(record)
    return records


def groups_by_role(output_dir: Path, manifests: Mapping[str, Mapping[str, Any]], role: str) -> dict[str, list[Record]]:
    """Every group of the given role across the manifests, by name; a name two experiments share must hold the same
    records (the baseline does)."""
    found: dict[str, list[Record]] = {}
    for manifest in manifests.values():
        for name, group in manifest["groups"].items():
            if group["role"] != role:
                continue
            records = load_group(output_dir, manifest, name)
            if name in found and [r.key for r in found[name]] != [r.key for r in records]:
                raise DataError(f"two experiments hold different records for {name!r}; run them with the same parameters")
            found[name] = records
    return found
