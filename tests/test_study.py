"""Tests for unbalanced/study.py: parameters checked by name, the run folder, sweeps that reuse the baseline's
records, and reading a run folder back for the summary."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import demo_study

import unbalanced.study as study_module
from unbalanced.metrics import choose_setting
from unbalanced.storage import PROJECT_ROOT, DataError
from unbalanced.stats import BETTER, IDENTICAL, NO_DIFFERENCE, WORSE, Comparison, minimum_detectable, signed
from unbalanced.study import Sweep, output_dir_of, read_run, reliability_sentence, sweep, trend_sentence
from unbalanced.training import baseline, class_weight, sized


@pytest.mark.parametrize(
    ("change", "message"),
    [({"epochs": 0}, "epochs=0 must be a whole number above 0"), ({"patience": -1}, "patience=-1 must be a whole number, 0 or more"),
     ({"split_seeds": []}, r"split_seeds=\[\] must list at least one whole number"), ({"seeds": [1, 1]}, r"seeds=\[1, 1\] lists a seed twice"),
     ({"target_recall": 1.5}, "target_recall=1.5 must be above 0 and at most 1"),
     ({"negative_split_counts": [14, 8]}, "negative_split_counts=\\[14, 8\\] must be three whole numbers"),
     ({"positive_class": "birds"}, "positive_class='birds' is not a class folder")],
)  # fmt: skip
def test_bad_parameters_are_named_with_what_they_need(tiny_demo_root: Path, change: dict, message: str):
    with pytest.raises(DataError, match=message):
        demo_study(tiny_demo_root, **change)


def test_the_run_folder_is_the_parameter_else_the_environment_else_runs_notebooks(monkeypatch, tmp_path: Path):
    monkeypatch.delenv(study_module.OUTPUT_DIR_ENV, raising=False)
    assert output_dir_of("") == PROJECT_ROOT / "runs" / "notebooks"
    monkeypatch.setenv(study_module.OUTPUT_DIR_ENV, str(tmp_path / "env"))
    assert output_dir_of("") == tmp_path / "env" and output_dir_of(str(tmp_path / "given")) == tmp_path / "given"


@pytest.mark.slow
def test_a_study_trains_compares_saves_and_reads_back(tiny_demo_root: Path):
    study = demo_study(tiny_demo_root)
    assert "3 paired runs (3 splits × 1 seed)" in study.describe() and "synthetic" not in study.describe()
    search = study.tune([class_weight(3), class_weight(10)])
    assert sorted({r.split_seed for r in search}) == [100, 101] and {r.seed for r in search} == {100001, 101001}
    setting = choose_setting(search)
    records = study.train([baseline(), setting])
    assert sorted({r.split_seed for r in records}) == [0, 1, 2] and sorted({r.seed for r in records}) == [1, 1001, 2001]
    base = [r for r in records if r.recipe == baseline()]
    chosen = [r for r in records if r.recipe == setting]
    study.save("02_class_weights", {"baseline": ("baseline", base), "class weights": ("remedy", chosen),
                                    "class weights (tuning)": ("tuning", search)})  # fmt: skip
    run = read_run(study.output_dir)
    assert [r.key for r in run.baseline] == [r.key for r in base] and list(run.chosen) == ["class weights"]
    assert len(run.chosen["class weights"]) == 3 and run.protocol == study.protocol and len(run.searches["class weights (tuning)"]) == 4
    assert list(read_run(study.output_dir, ["02"]).chosen) == ["class weights"]  # only the named experiments
    with pytest.raises(DataError, match="holds no experiment named 05"):
        read_run(study.output_dir, ["05"])
    result = sweep(study, {("baseline", 14): sized(baseline(), 14, 4), ("baseline", 7): sized(baseline(), 7, 2),
                           ("w = 3", 14): sized(class_weight(3), 14, 4), ("w = 3", 7): sized(class_weight(3), 7, 2),
                           ("w = 1", 14): sized(class_weight(1), 14, 4), ("w = 1", 7): sized(class_weight(1), 7, 2)}, trend=True)  # fmt: skip
    assert [c.verdict for c in result.gains["w = 1"]] == [IDENTICAL, IDENTICAL]  # weight 1 trains the baseline: no comparison
    assert {c.family for c in result.gains["w = 3"]} == {2} and set(result.trends) == {"w = 3"}  # w = 1 has no trend to test
    assert result.trends["w = 3"].family == 1
    assert result.trend_sentences("ratio")[0].startswith("W = 3: its gain over the baseline changes by ")
    assert [r.key for r in result.records[("baseline", 14)]] == [r.key for r in base]  # the unbalanced set's records, reused
    assert len(result.ap["baseline"]) == 2 and len(result.gains["w = 3"]) == 2
    assert all(c.verdict != "pending" and not np.isnan(c.p_holm) for c in result.gains["w = 3"])  # corrected at each size
    sentence = result.sentences(lambda n: f"with {n}")[0]
    assert sentence.startswith("W = 3, with 14: ") and f"Holm-adjusted p = {result.gains['w = 3'][0].p_holm:.3f}" in sentence
    secondary = result.sentences(lambda n: f"with {n}", secondary=True)[0]  # uncorrected: its power is too
    c = result.gains["w = 3"][0]
    assert "uncorrected" in secondary and "after Holm's correction" not in secondary
    assert f"about ±{minimum_detectable(c.se, c.df):.3f} AP with 80 % power." in secondary
    change = result.change("baseline", "ROC-AUC")  # 1 : 14 against 1 : 7 over the same test images, paired by run
    assert change.metric == "ROC-AUC" and change.runs == 3 and len(result.values("baseline", "ROC-AUC")) == 2


def _verdicts(*verdicts: str) -> list[Comparison]:
    """Comparisons with these verdicts, their difference of the verdict's sign (0.01 for none)."""
    sign = {BETTER: 0.05, WORSE: -0.05}
    return [Comparison("r", 5, 5, sign.get(v, 0.01 * k), -0.1, 0.1, 0.01, 0.5, 0.02 if v in sign else 0.9, v) for k, v in enumerate(verdicts)]


def test_a_remedy_starts_to_matter_at_its_first_separated_ratio_and_the_counts_say_where():
    no = NO_DIFFERENCE
    gains = {"oversampling": _verdicts(no, no, BETTER, no, BETTER), "class weights": _verdicts(no, no, no, no, no),
             "undersampling": _verdicts(no, WORSE, no, no, no)}  # fmt: skip
    result = Sweep([1, 5, 10, 50, 100], {}, {}, gains)
    over, weights, under = result.onsets(lambda r: f"1 : {r}")
    assert over.startswith("Oversampling is first separated from the baseline at 1 : 10: better than the baseline, +0.050 AP") and over.endswith("also at 1 : 100 (better).")
    assert weights == ("Class weights is separated from the baseline at no value from 1 : 1 to 1 : 100; its largest mean difference, "
                       "+0.040 AP at 1 : 100, has a 95 % interval from -0.100 to +0.100 before correction.")  # fmt: skip
    assert Sweep([1, 2], {}, {}, {"w": _verdicts(NO_DIFFERENCE)[:1] * 2}).onsets(str)[0].endswith("none of its mean differences is above zero.")
    assert under.startswith("Undersampling is first separated from the baseline at 1 : 5: worse than the baseline") and under.endswith("at no other value.")
    counts = result.verdict_counts()
    assert counts["oversampling"] == {BETTER: 2, WORSE: 0, IDENTICAL: 0, "not separated": 3} and counts["undersampling"][WORSE] == 1
    same = Sweep([1, 10], {}, {}, {"w": _verdicts(IDENTICAL, WORSE)}).verdict_counts()  # at 1 : 1 it trains the baseline
    assert same["w"] == {BETTER: 0, WORSE: 1, IDENTICAL: 1, "not separated": 0}
    assert "w better at 0, worse at 1, not separated at 0, the baseline itself at 1." in reliability_sentence(same)
    text = reliability_sentence(counts)
    assert "over 5 values: oversampling better at 2, worse at 0, not separated at 3;" in text
    assert "Oversampling is better at the most values, in line with their finding; that is a count" in text
    tied = reliability_sentence(counts | {"class weights": counts["oversampling"]})
    assert "Oversampling and class weights are better at the most values, so the sweep does not single out oversampling" in tied
    assert "Oversampling is better at the most values, not undersampling as they found" in reliability_sentence(counts, "undersampling")
    assert "over 5 ratios:" in reliability_sentence(counts, unit="ratio") and "at no ratio from" in result.onsets(str, "ratio")[1]
    none = reliability_sentence({name: counts["class weights"] for name in counts})
    assert none.endswith("No remedy is better than the baseline anywhere in the sweep, so it cannot rank them.")


@pytest.mark.parametrize(("low", "high", "says"), [(-0.2, -0.1, "lower at the rarest ratio than at the most balanced one, the direction of the fall Buda"),
                                                   (0.1, 0.2, "higher at the rarest ratio than at the most balanced one, against the fall"),
                                                   (-0.1, 0.1, "the interval holds no difference between the two ends, so this run neither confirms")])  # fmt: skip
def test_a_trend_is_claimed_only_where_its_interval_excludes_zero(low: float, high: float, says: str):
    change = Comparison("baseline", 5, 5, (low + high) / 2, low, high, 0.04, 0.5, metric="ROC-AUC", se=0.03, df=4.0)
    text = trend_sentence(change, "Baseline ROC-AUC at 1 : 100 minus at 1 : 1")
    assert text.startswith(f"Baseline ROC-AUC at 1 : 100 minus at 1 : 1: {signed((low + high) / 2)} ROC-AUC (95 % interval") and says in text
    assert f"it would detect about ±{minimum_detectable(0.03, 4.0):.3f} ROC-AUC with 80 % power)" in text


def test_the_sweep_says_how_large_a_difference_it_could_detect():
    c = Comparison("w", 5, 5, -0.070, -0.111, -0.030, 0.0085, 0.0, 0.178, NO_DIFFERENCE, se=0.0146, df=4.0, family=19)
    identical = Comparison("w", 5, 5, 0.0, 0.0, 0.0, 1.0, 0.5, verdict=IDENTICAL, se=0.0, df=float("inf"))  # not in the family
    low, high = Sweep([1], {}, {}, {"w": [c] * 19 + [identical]}).separable()
    assert low == high == pytest.approx(minimum_detectable(0.0146, 4.0, 19))
    text = Sweep([1], {}, {}, {"w": [c] * 19 + [identical]}).separable_sentence()
    assert text.startswith(f"With 5 splits and Holm's correction over 19 comparisons, each comparison at one ratio detects a true difference of {low:.3f} to")


def test_a_trend_per_remedy_is_claimed_only_after_holm_over_the_remedies():
    slope = Comparison("oversampling", 5, 5, 0.02, 0.005, 0.035, 0.01, 0.8, 0.02, BETTER, se=0.005, df=4.0, family=3)
    flat = replace(slope, remedy="class weights", verdict=NO_DIFFERENCE, p_holm=0.4)
    grows, none = Sweep([1, 10], {}, {}, {}, {"oversampling": slope, "class weights": flat}).trend_sentences("ratio")
    assert grows.startswith("Oversampling: its gain over the baseline changes by +0.020 AP per tenfold ratio") and "its gain grows as the ratio rises" in grows
    assert "Holm-adjusted p = 0.400 over 3 remedies: no trend shown" in none


def test_the_frozen_setting_says_when_it_lies_at_an_end_of_the_settings_tried():
    from conftest import fake_record

    from unbalanced.study import frozen_sentence
    from unbalanced.training import focal_loss

    labels = np.array([0, 0, 1])

    def search(*recipes):
        return [fake_record(r, s, s, (labels, np.array([0.1, 0.2, 0.9])), (labels, np.array([0.1, 0.2, 0.9]))) for r in recipes for s in (100, 101)]

    grid = [class_weight(3), class_weight(10), class_weight(30)]
    assert "It is the largest of the 3 settings tried" in frozen_sentence(search(*grid), class_weight(30))
    assert "It is the smallest of the 3 settings tried" in frozen_sentence(search(*grid), class_weight(3))
    middle = frozen_sentence(search(*grid), class_weight(10))
    assert middle == "Frozen for the confirmation: w = 10, the best mean validation AP over 2 tuning runs."
    focal = [focal_loss(0.25, 2.0), focal_loss(0.75, 2.0), focal_loss(0.75, 1.0)]
    assert "settings tried" not in frozen_sentence(search(*focal), focal[1])  # two numbers vary: no end to speak of


def _metrics(recall_remedy: list[float], recall_plain: list[float]):
    import pandas as pd

    rows = [{"model": model, "operating point": point, "recall": r, "precision": 0.2, "accuracy": 0.9}
            for model, recalls in (("w", recall_remedy), ("baseline", recall_plain))
            for point in ("0.5", "best F1 on validation") for r in recalls]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("low", "high", "p", "moves", "says"),
                         [(0.01, 0.05, 0.001, None, "on photos like these class weights ranks the rare class better than plain"),
                          (-0.05, -0.01, 0.001, None, "on photos like these class weights costs ranking; to flag more dogs"),
                          (-0.05, -0.01, 0.039, None, "class weights may cost a little ranking, which only the summary's correction"),
                          (0.01, 0.05, 0.039, None, "class weights may help ranking a little, which only the summary's"),
                          (-0.02, 0.02, 0.5, True, "what it does change is recall at 0.5 (+0.300, 95 % interval +0.200 to +0.400)"),
                          (-0.02, 0.02, 0.5, False, "nor does it change recall at 0.5 measurably"),
                          (-0.02, 0.02, 0.5, None, "a threshold chosen on validation sets its operating point")])  # fmt: skip
def test_a_remedy_notebook_ends_with_advice_its_interval_allows(low: float, high: float, p: float, moves: bool | None, says: str):
    c = Comparison("w", 40, 40, (low + high) / 2, low, high, p, 0.5, se=0.01, df=39.0, family=6)
    at_half = None if moves is None else Comparison("w", 40, 40, 0.3, 0.2, 0.4, 0.001, 0.9) if moves else \
        Comparison("w", 40, 40, 0.01, -0.05, 0.07, 0.6, 0.5)  # fmt: skip
    metrics = _metrics([0.6, 0.8], [0.0, 0.0])
    text = study_module.lessons("class weights", c, metrics, "w", 0.091, at_half=at_half)
    assert len(text) == 4 and text[-1].startswith("What to take from it: ") and says in text[-1]
    if low < 0 < high:
        assert f"a true difference of about ±{minimum_detectable(0.01, 39.0, 6):.3f} AP would have shown" in text[-1]
        assert "could easily go unseen" in text[0] and "excludes zero" not in text[0]
    elif p * 6 < 0.05:  # Bonferroni's bound: no other remedy's result can undo the verdict
        assert "that the summary's correction keeps it whatever the others show: it ranks the dogs" in text[0]
    else:
        assert f"the interval excludes zero before that correction (p = {p:.3f}), but not by enough to be sure" in text[0]
    too_few = replace(c, splits=1)
    assert len(study_module.lessons("class weights", too_few, metrics, "w", 0.091)) == 3


def test_a_mean_carried_by_a_few_large_losses_is_said_to_be():
    metrics = _metrics([0.6, 0.8], [0.0, 0.0])
    few = Comparison("w", 40, 40, -0.031, -0.055, -0.008, 0.01, 17 / 40, se=0.012, df=39.0, family=6)
    assert "(though it was higher in 17 of 40 paired runs: the mean rests on large losses in some runs)" in \
        study_module.lessons("augmentation", few, metrics, "w", 0.091)[0]  # fmt: skip
    most = replace(few, improvement=7 / 40)
    assert "rests on" not in study_module.lessons("augmentation", most, metrics, "w", 0.091)[0]


def test_the_stopping_sentence_counts_trainings_that_stopped_before_the_budget():
    from conftest import scored_runs

    base, _ = scored_runs(0.0, runs=3)
    budget, patience = 20, 4
    protocol = replace(base[0].protocol, epochs=budget, patience=patience)
    ended = [(budget, budget), (2, 2 + patience), (3, 3 + patience)]  # (kept epoch, epochs run): two stopped early
    records = [replace(r, protocol=protocol, trained=replace(r.trained, best_epoch=kept, epochs_run=run))
               for r, (kept, run) in zip(base, ended)]  # fmt: skip
    text = study_module.stopping_sentence({"plain training": records, "again": records[:1]})
    assert text == (f"Every training had at most {budget} epochs and stopped after {patience} without a better validation AP, "
                    f"keeping its best epoch: plain training, a mean kept epoch of {(budget + 5) / 3:.1f}, stopped early in "
                    f"2 of 3; again, a mean kept epoch of {budget:.1f}, stopped early in 0 of 1.")  # fmt: skip
