"""Tests for benchmarks/replication.py: a significant verdict that the other photos contradict in direction fails
the check; runs that differ in more than their photos, or compare other models, are refused."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import replication  # noqa: E402

from unbalanced.stats import BETTER, NO_DIFFERENCE, Comparison  # noqa: E402

PROTOCOL = {"data_root": "/a", "data_fingerprint": "x", "epochs": 20}


def _c(name: str, difference: float, verdict: str, splits: int = 5) -> Comparison:
    return Comparison(name, splits, splits, difference, difference - 0.05, difference + 0.05, 0.5, 0.5, 0.5, verdict)


def _runs(monkeypatch: pytest.MonkeyPatch, first: list[Comparison], second: list[Comparison], **protocol: object) -> None:
    runs = {"a": ({c.remedy: c for c in first}, PROTOCOL),
            "b": ({c.remedy: c for c in second}, {**PROTOCOL, "data_root": "/b", "data_fingerprint": "y", **protocol})}
    monkeypatch.setattr(replication, "verdicts", lambda folder, experiments: runs[folder])


def test_a_significant_verdict_the_other_photos_reverse_fails(monkeypatch, capsys):
    _runs(monkeypatch, [_c("balanced", +0.08, BETTER), _c("weights", -0.02, NO_DIFFERENCE)],
          [_c("balanced", -0.01, NO_DIFFERENCE), _c("weights", +0.01, NO_DIFFERENCE)])
    assert replication.main(["a", "b"]) == 1
    assert "| balanced | +0.080 (+0.030 to +0.130), better than the baseline | -0.010 (-0.060 to +0.040), no difference shown | **no** |" in capsys.readouterr().out


def test_a_sweeps_significant_trend_that_the_other_photos_reverse_fails(monkeypatch, capsys):
    trends = {"a": {"oversampling: gain per tenfold ratio": _c("oversampling: gain per tenfold ratio", +0.03, BETTER)},
              "b": {"oversampling: gain per tenfold ratio": _c("oversampling: gain per tenfold ratio", -0.01, NO_DIFFERENCE)}}
    monkeypatch.setattr(replication, "sweep_verdicts", lambda folder: (trends[folder], {**PROTOCOL, "data_root": folder}))
    assert replication.main(["a", "b", "--sweep"]) == 1
    assert "| oversampling: gain per tenfold ratio | +0.030 (-0.020 to +0.080), better than the baseline | -0.010 (-0.060 to +0.040)" in capsys.readouterr().out
    trends["b"]["oversampling: gain per tenfold ratio"] = _c("oversampling: gain per tenfold ratio", +0.01, NO_DIFFERENCE)
    assert replication.main(["a", "b", "--sweep"]) == 0


def test_same_direction_passes_and_unsignificant_flips_do_not_count(monkeypatch, capsys):
    spread = replace(_c("weights", +0.01, NO_DIFFERENCE), se=0.02, df=4.0, family=2)
    _runs(monkeypatch, [_c("balanced", +0.08, BETTER), _c("weights", -0.02, NO_DIFFERENCE)],
          [_c("balanced", +0.01, NO_DIFFERENCE), spread])
    assert replication.main(["a", "b", "--experiments", "01"]) == 0
    out = capsys.readouterr().out
    assert "contradicts in direction: 0." in out
    assert f"| weights | -0.020 (-0.070 to +0.030), no difference shown | +0.010 (-0.040 to +0.060), no difference shown, detectable ±{spread.detectable:.3f} | no (neither significant) |" in out
    assert 0.05 < spread.detectable < 0.2  # a verdict without one says what the run could have seen


@pytest.mark.parametrize(
    ("second", "protocol", "why"),
    [([_c("balanced", 0.01, NO_DIFFERENCE)], {"epochs": 6}, "differ in epochs (20 vs 6)"),
     ([_c("weights", 0.01, NO_DIFFERENCE)], {}, "compare different models"),
     ([_c("balanced", 0.01, NO_DIFFERENCE, splits=1)], {}, "too few splits to judge")],
)  # fmt: skip
def test_runs_that_cannot_be_compared_are_refused(monkeypatch, capsys, second, protocol, why):
    _runs(monkeypatch, [_c("balanced", +0.08, BETTER)], second, **protocol)
    assert replication.main(["a", "b"]) == 2
    assert why in capsys.readouterr().err


def test_a_missing_experiment_is_refused_with_its_name(tmp_path: Path, capsys):
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "01_balanced_vs_unbalanced.json").write_text("{}")
    assert replication.main([str(tmp_path), str(tmp_path), "--experiments", "05"]) == 2
    assert "holds no experiment named 05*" in capsys.readouterr().err


def test_the_check_is_written_as_data_with_both_runs_and_their_machines(monkeypatch, tmp_path: Path, capsys):
    _runs(monkeypatch, [_c("balanced", +0.08, BETTER), _c("weights", -0.02, NO_DIFFERENCE)],
          [_c("balanced", -0.01, NO_DIFFERENCE), _c("weights", -0.03, NO_DIFFERENCE)])
    monkeypatch.setattr(replication, "machines", lambda folder: [{"processor_kind": f"AVX2 ({folder})"}])
    out = tmp_path / "replication.json"
    assert replication.main(["a", "b", "--json", str(out)]) == 1
    data = json.loads(out.read_text())
    assert data["contradicted"] == 1 and data["first"]["trained_on"] == [{"processor_kind": "AVX2 (a)"}]
    balanced, weights = data["comparisons"]
    assert balanced["comparison"] == "balanced" and balanced["first"]["verdict"] == BETTER and balanced["second"]["difference"] == -0.01
    assert balanced["significant_in_either"] and not balanced["same_direction"]
    assert not weights["significant_in_either"] and weights["same_direction"]


def test_the_machines_are_read_from_the_records_and_an_undefined_figure_is_written_as_null(monkeypatch, tmp_path: Path):
    for i, kind in enumerate(["AVX2", "AVX-512", "AVX2"]):
        (tmp_path / "results").mkdir(exist_ok=True)
        (tmp_path / "results" / f"baseline_split{i}.json").write_text(json.dumps({"trained_on": {"processor_kind": kind}}))
    assert replication.machines(str(tmp_path)) == [{"processor_kind": "AVX-512"}, {"processor_kind": "AVX2"}]
    _runs(monkeypatch, [_c("balanced", +0.08, BETTER)], [_c("balanced", +0.02, NO_DIFFERENCE)])
    monkeypatch.setattr(replication, "machines", lambda folder: [])
    out = tmp_path / "replication.json"
    assert replication.main(["a", "b", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["comparisons"][0]["first"]["detectable"] is None  # no se in _c: NaN, not a bare NaN in the file
