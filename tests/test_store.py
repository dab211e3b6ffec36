"""Tests for unbalanced/store.py: a run's records packed into the repository give back every byte, a damaged store
is refused by name, and nothing trains in a folder unpacked from it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import PROTOCOL, at_once, demo_study, fake_record

import unbalanced.training
from unbalanced import store
from unbalanced.results import save_manifest
from unbalanced.storage import DataError, write_json_atomic
from unbalanced.tasks import Task, record_path
from unbalanced.training import average_precision, baseline, class_weight


def _run_folder(folder: Path, splits: int = 4, n: int = 500) -> list:
    """A run folder of baseline and class-weight records with float32 scores, as models give them, and a manifest."""
    rng = np.random.default_rng(0)
    labels = (np.arange(n) % 10 == 0).astype(int)
    records = []
    for split in range(splits):
        for recipe in (baseline(), class_weight(10)):
            val, test = (rng.random(n).astype(np.float32).astype(float) for _ in range(2))
            record = fake_record(recipe, split, 42 + 1000 * split, (labels, val), (labels, test))
            record.trained_on = {"commit": "abc", "processor": "test", "processor_kind": "AVX2", "platform": "x"}
            write_json_atomic(record_path(folder / "results", Task(recipe, split, record.seed), record.key), record.to_json())
            records.append(record)
    save_manifest(folder, "02_class_weights", {"epochs": 2}, PROTOCOL, list(range(splits)), [42],
                  {"baseline": ("baseline", records[::2]), "class weights": ("remedy", records[1::2])})  # fmt: skip
    return records


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.json")) if p.name != store.MARK}


def test_a_packed_run_unpacks_to_the_same_bytes_and_the_same_average_precision(tmp_path: Path):
    records = _run_folder(tmp_path / "run")
    packed = store.pack(tmp_path / "run", tmp_path / "store")
    assert packed.records == 8 and packed.left_out == [] and set(packed.files) == {
        "baseline.json.gz", "class-weights-w-10.json.gz", "experiments/02_class_weights.json"}  # fmt: skip
    store.unpack(tmp_path / "store", tmp_path / "back")
    assert _files(tmp_path / "back") == _files(tmp_path / "run")  # every record and manifest, byte for byte
    loaded = {r.key: r for r in store.load_records(tmp_path / "store")}
    for r in records:
        assert average_precision(loaded[r.key].test_labels, loaded[r.key].trained.test_scores) == average_precision(r.test_labels, r.trained.test_scores)
    assert store.unpacked_from(tmp_path / "back")["index_sha256"] == store.index_digest(tmp_path / "store")
    assert store.unpacked_from(tmp_path / "run") is None


def test_float32_scores_are_stored_in_four_bytes_and_others_at_full_precision(tmp_path: Path):
    _run_folder(tmp_path / "run", splits=3, n=2000)
    packed = store.pack(tmp_path / "run", tmp_path / "store")
    raw = 3 * 2 * 2 * 2000 * 4  # records x (val, test) x scores x float32
    assert packed.megabytes * 1e6 < 1.05 * raw  # float32, not text: base64's third is won back by compression
    first = next((tmp_path / "run" / "results").glob("baseline_split0_*.json"))
    d = json.loads(first.read_text())
    d["test_scores"][0] = 0.1  # not a float32 value
    write_json_atomic(first, d)
    with pytest.raises(DataError, match="differs between"):  # the store's copy of that record is another one
        store.pack(tmp_path / "run", tmp_path / "store")
    store.pack(tmp_path / "run", tmp_path / "store2")
    store.unpack(tmp_path / "store2", tmp_path / "back")
    assert json.loads(next((tmp_path / "back" / "results").glob("baseline_split0_*.json")).read_text())["test_scores"][0] == 0.1


def test_packing_twice_gives_the_same_bytes_with_no_time_or_system_in_the_gzip_header(tmp_path: Path):
    _run_folder(tmp_path / "run")
    first = {n: (tmp_path / "a" / n).read_bytes() for n in store.pack(tmp_path / "run", tmp_path / "a").files}
    second = {n: (tmp_path / "b" / n).read_bytes() for n in store.pack(tmp_path / "run", tmp_path / "b").files}
    assert first == second and (tmp_path / "a" / "index.json").read_bytes() == (tmp_path / "b" / "index.json").read_bytes()
    header = first["baseline.json.gz"][:10]
    assert header[4:8] == b"\0\0\0\0" and header[9] == 255  # no time stamp; operating system "unknown"


def test_a_partial_pack_keeps_the_stores_records_and_never_replaces_a_complete_store(tmp_path: Path):
    _run_folder(tmp_path / "run", splits=2)
    store.pack(tmp_path / "run", tmp_path / "store", partial=True)
    for path in list((tmp_path / "run" / "results").glob("*split1_*.json")):
        path.unlink()  # a fresh machine's run folder, not seeded from the store
    assert store.pack(tmp_path / "run", tmp_path / "store", partial=True).records == 4  # nothing the store held is lost
    with pytest.raises(DataError, match="lacks 2 record.s. that .* holds .*--reuse-records"):
        store.pack(tmp_path / "run", tmp_path / "store")  # a finished run must hold them all
    store.seed_run(tmp_path / "store", tmp_path / "run")
    assert store.pack(tmp_path / "run", tmp_path / "store").records == 4
    with pytest.raises(DataError, match="holds a complete stored run"):
        store.pack(tmp_path / "run", tmp_path / "store", partial=True)
    assert store.seed_run(tmp_path / "store", tmp_path / "fresh") == 0  # retraining a stored study reuses nothing


def test_a_record_file_no_store_could_give_back_is_left_out_by_name(tmp_path: Path):
    _run_folder(tmp_path / "run", splits=1)
    path = next((tmp_path / "run" / "results").glob("baseline_*.json"))
    path.write_text(json.dumps(json.loads(path.read_text()), indent=2, sort_keys=True) + "\n")  # the same record, other bytes
    packed = store.pack(tmp_path / "run", tmp_path / "store")
    assert packed.records == 1 and len(packed.left_out) == 1 and path.name in packed.left_out[0]


def test_unpacking_never_overwrites_a_folder_that_trains(tmp_path: Path):
    _run_folder(tmp_path / "run", splits=1)
    store.pack(tmp_path / "run", tmp_path / "store")
    with pytest.raises(DataError, match="holds files of its own"):
        store.unpack(tmp_path / "store", tmp_path / "run")
    assert len(list((tmp_path / "run" / "results").glob("*.json"))) == 2
    store.unpack(tmp_path / "store", tmp_path / "back")
    store.unpack(tmp_path / "store", tmp_path / "back")  # an unpacked folder is unpacked again, whole
    assert len(list((tmp_path / "back" / "results").glob("*.json"))) == 2


def test_the_stored_records_stay_within_15_mb():
    from unbalanced.storage import PROJECT_ROOT

    sizes = sum(p.stat().st_size for p in (PROJECT_ROOT / "records").rglob("*") if p.is_file())
    assert 0 < sizes <= 15e6


def test_records_of_another_protocol_and_damaged_files_are_left_out_by_name(tmp_path: Path):
    _run_folder(tmp_path / "run", splits=1)
    other = fake_record(baseline(), 9, 9042, (np.array([0, 1]), np.array([0.2, 0.8])), (np.array([0, 1]), np.array([0.3, 0.6])),
                        protocol=replace(PROTOCOL, epochs=99))  # fmt: skip
    write_json_atomic(record_path(tmp_path / "run" / "results", Task(baseline(), 9, 9042), other.key), other.to_json())
    (tmp_path / "run" / "results" / "baseline_split8_seed1_0123456789.json").write_text("{")
    packed = store.pack(tmp_path / "run", tmp_path / "store")
    assert packed.records == 2 and len(packed.left_out) == 2
    assert any("another protocol" in line and "split9" in line for line in packed.left_out)
    assert any("damaged" in line and "split8" in line for line in packed.left_out)
    with pytest.raises(DataError, match="holds no experiment manifests"):
        store.pack(tmp_path / "empty", tmp_path / "store2")


@pytest.mark.parametrize("damage", ["missing", "altered", "extra"])
def test_a_damaged_store_is_refused_naming_the_file(tmp_path: Path, damage: str):
    _run_folder(tmp_path / "run", splits=1)
    store.pack(tmp_path / "run", tmp_path / "store")
    target = tmp_path / "store" / "class-weights-w-10.json.gz"
    if damage == "missing":
        target.unlink()
    elif damage == "altered":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 1
        target.write_bytes(bytes(data))
    else:
        (tmp_path / "store" / "stray.json.gz").write_bytes(b"x")
    with pytest.raises(DataError, match="stray.json.gz" if damage == "extra" else "class-weights-w-10.json.gz"):
        store.unpack(tmp_path / "store", tmp_path / "back")
    assert not (tmp_path / "back").exists()  # nothing unpacked from a damaged store


@pytest.mark.slow
def test_an_unpacked_run_reads_its_records_back_and_refuses_to_train(tiny_demo_root: Path, tmp_path: Path, monkeypatch):
    study = demo_study(tiny_demo_root, output_dir=str(tmp_path / "run"))
    records = study.train([baseline()])
    study.save("01_balanced_vs_unbalanced", {"baseline": ("baseline", records)})
    store.pack(tmp_path / "run", tmp_path / "store")
    store.unpack(tmp_path / "store", tmp_path / "stored")
    monkeypatch.setattr(unbalanced.training, "train_recipe", lambda *a, **k: pytest.fail("an unpacked run trained"))
    again = demo_study(tiny_demo_root, output_dir=str(tmp_path / "stored"))
    assert [list(r.trained.test_scores) for r in again.train([baseline()])] == [list(r.trained.test_scores) for r in records]
    with pytest.raises(DataError, match=r"unpacked from the stored records .* holds no record for class weights \(w = 3\), split 0"):
        again.train([baseline(), class_weight(3)])


def test_a_stored_run_folder_is_unpacked_from_its_store_on_first_use_and_again_when_the_store_changes(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(store, "STORE_ROOT", tmp_path / "records")
    monkeypatch.setattr(store, "STORED_RUNS", str(tmp_path / "stored"))
    _run_folder(tmp_path / "quick", splits=1)
    assert store.store_for(tmp_path / "quick") == tmp_path / "records" / "quick"
    assert store.stored_run(tmp_path / "records" / "quick") == f"{tmp_path}/stored/quick"
    store.pack(tmp_path / "quick", store.store_for(tmp_path / "quick"))
    stored = tmp_path / "stored" / "quick"
    store.ensure_unpacked(stored)
    assert len(list((stored / "results").glob("*.json"))) == 2
    store.ensure_unpacked(tmp_path / "elsewhere")  # any other folder is left as it is
    assert not (tmp_path / "elsewhere").exists()
    _run_folder(tmp_path / "quick", splits=2)
    store.pack(tmp_path / "quick", store.store_for(tmp_path / "quick"))
    store.ensure_unpacked(stored)
    assert len(list((stored / "results").glob("*.json"))) == 4
    with pytest.raises(DataError, match="is not a stored run"):
        store.ensure_unpacked(tmp_path / "stored" / "other")


def test_two_users_of_a_stored_run_at_once_unpack_it_once(tmp_path: Path, monkeypatch):
    import time

    monkeypatch.setattr(store, "STORE_ROOT", tmp_path / "records")
    monkeypatch.setattr(store, "STORED_RUNS", str(tmp_path / "stored"))
    _run_folder(tmp_path / "quick", splits=1)
    store.pack(tmp_path / "quick", store.store_for(tmp_path / "quick"))
    real, calls = store._unpack, []

    def slow_unpack(source: Path, folder: Path) -> Path:  # long enough for the other to arrive while it writes
        calls.append(folder)
        time.sleep(0.5)
        return real(source, folder)

    monkeypatch.setattr(store, "_unpack", slow_unpack)
    errors = at_once(lambda: store.ensure_unpacked(tmp_path / "stored" / "quick"))
    assert not errors and len(calls) == 1
    assert len(list((tmp_path / "stored" / "quick" / "results").glob("*.json"))) == 2


def test_a_study_still_training_is_packed_partial_and_seeds_a_fresh_run_folder(tmp_path: Path):
    records = _run_folder(tmp_path / "run", splits=2)
    for manifest in (tmp_path / "run" / "experiments").glob("*.json"):
        manifest.unlink()  # no notebook has finished yet
    with pytest.raises(DataError, match="finish \\(or resume\\) the run"):
        store.pack(tmp_path / "run", tmp_path / "store")
    packed = store.pack(tmp_path / "run", tmp_path / "store", partial=True)
    assert packed.records == 4 and store.read_index(tmp_path / "store")["complete"] is False
    fresh = tmp_path / "fresh"
    kept = record_path(fresh / "results", Task(records[0].recipe, 0, records[0].seed), records[0].key)
    write_json_atomic(kept, records[0].to_json())  # a whole record the run folder has is left as it is
    inode = kept.stat().st_ino
    assert store.seed_run(tmp_path / "store", fresh) == 3
    assert kept.stat().st_ino == inode and not (fresh / "experiments").exists()
    assert store.unpacked_from(fresh) is None  # a seeded folder trains what it lacks
