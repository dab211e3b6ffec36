"""Static checks of the stored notebooks and of what nbval masks in them: plain parameters, plumbing tagged out of
posts, nothing masked without a reason, and sanitizers that mask only trained numbers."""

from __future__ import annotations

from dataclasses import replace

import ast
import re
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import get_sanitize_patterns

from unbalanced.stats import BETTER, NO_DIFFERENCE, PENDING, WORSE, Comparison
from unbalanced.storage import PROJECT_ROOT
from unbalanced.study import Sweep, reliability_sentence, threshold_sentence, trend_sentence

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
SANITIZE = PROJECT_ROOT / "tests" / "nbval_sanitize.cfg"


def _sanitize(text: str) -> str:
    for regex, replacement in get_sanitize_patterns(SANITIZE.read_text()):
        text = re.sub(regex, replacement, text)
    return text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_notebooks_are_executed_quiet_and_tagged_for_posts(path: Path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "re-store the notebook: a cell was never executed"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], "a cell writes to stderr"
    assert {"title", "excerpt", "tags"} <= set(nb.metadata.blog)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")  # the question comes first
    assert "hide" in code[0].metadata.get("tags", []) and "import helpers as h" in code[0].source  # plumbing out of posts
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "hide" in params[0].metadata.tags


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_parameters_cell_holds_plain_values_only(path: Path):
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.unparse(node)
        ast.literal_eval(node.value)  # a literal, nothing computed
    for line in cell.source.splitlines():
        assert line.count("=") <= 1, f"papermill skips a parameter line with two '=': {line}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_masked_cell_says_why_in_its_metadata_and_no_source_carries_an_nbval_comment(path: Path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        assert "NBVAL_" not in cell.source, cell.source  # nbval's cell tags, not comments a reader would see
        if "nbval-ignore-output" in cell.metadata.get("tags", []):
            assert len(cell.metadata.get("nbval_reason", "")) > 30, cell.source


def test_only_the_summarys_two_verdict_lists_are_masked_whole():
    masked = [p.stem for p in NOTEBOOKS for c in nbformat.read(p, as_version=4).cells if "nbval-ignore-output" in c.metadata.get("tags", [])]
    assert masked == ["99_summary", "99_summary"]  # which remedies a verdict names; the rest is compared, trained numbers sanitized


def test_the_first_notebook_shows_real_photos():
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "the bundled Kaggle cat and dog photos" in text and "synthetic" not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("baseline, split 0, seed 42: kept epoch 7 of 10, validation AP 0.412", "baseline, split 0, seed 42: kept epoch <n> of <n>, validation AP <trained>"),
     ("oversampling: +0.021 AP (95 % interval −0.030 to +0.072), higher in 2 of 3 paired runs; no difference shown",
      "oversampling: <trained> AP (95 % interval <trained> to <trained>), higher in <n> of <n> paired runs; <verdict>"),
     ("0.400 ± 0.030, n/a in 1 of 3", "<trained> ± <trained>, <trained> in <n> of <n>"),
     ("12 of 18 trainings ran in 301 s; 6 were read back from the run folder", "<trainings>"),
     ("unbalanced    1000   100    1100    9.1 %", "unbalanced 1000 100 1100 9.1 %"),  # stable counts stay compared
     ("3 paired runs (3 splits x 1 seeds); 32 x 32 px, batch 32, at most 10 epochs of 35 updates, patience 3.",
      "3 paired runs (3 splits x 1 seeds); 32 x 32 px, batch 32, at most 10 epochs of 35 updates, patience 3.")],
)  # fmt: skip
def test_sanitizers_mask_trained_numbers_and_keep_the_rest(text: str, expected: str):
    assert _sanitize(text) == expected


def test_no_sanitizer_can_backtrack_without_end():
    """Nested quantifiers such as (a+)+ make a regular expression's time explode on long non-matching text."""
    for regex, _ in get_sanitize_patterns(SANITIZE.read_text()):
        re.compile(regex)
        assert not re.search(r"\([^()]*[+*][^()]*\)[+*{]", regex), regex


def _comparison(verdict: str, difference: float = 0.01, low: float = -0.1, high: float = 0.1) -> Comparison:
    return Comparison("oversampling", 3, 3, difference, low, high, 0.01, 0.5, 0.02, verdict, se=0.01, df=2.0)


def _sweep(*verdicts: str) -> Sweep:
    return Sweep([10, 50], {}, {}, {"oversampling": [_comparison(v, {BETTER: 0.05, WORSE: -0.05}.get(v, -0.01)) for v in verdicts]})


@pytest.mark.parametrize(
    "forms",
    [[_comparison(v).sentence() for v in (BETTER, WORSE, NO_DIFFERENCE)],
     [trend_sentence(_comparison(NO_DIFFERENCE, d, lo, hi), "ROC-AUC") for d, lo, hi in ((-0.2, -0.3, -0.1), (0.2, 0.1, 0.3), (0, -0.1, 0.1))],
     [_sweep(*v).onsets(str, "ratio")[0] for v in ((BETTER, WORSE), (NO_DIFFERENCE, WORSE), (NO_DIFFERENCE, NO_DIFFERENCE))]
     + [Sweep([10, 50], {}, {}, {"oversampling": [_comparison(NO_DIFFERENCE, 0.03)] * 2}).onsets(str, "ratio")[0]],
     [reliability_sentence({"oversampling": {BETTER: b, WORSE: 0, "not separated": 2 - b}, "class weights": {BETTER: c, WORSE: 1, "not separated": 1 - c}},
                           unit="ratio") for b, c in ((0, 0), (1, 0), (1, 1), (0, 1))],
     [threshold_sentence({"recall at 0.5": [_comparison(PENDING, d, d - 0.1, d + 0.1)]}, [_comparison(PENDING, 0.02)]) for d in (0.5, 0.03)],
     [Sweep([1, 10], {}, {}, {}, {"oversampling": replace(_comparison(v, d), p_holm=0.01)}).trend_sentences("ratio")[0]
      for v, d in ((BETTER, 0.02), (WORSE, -0.02), (NO_DIFFERENCE, 0.01))]],
    ids=["verdict", "trend", "onset", "ranking", "threshold", "slope"],
)  # fmt: skip
def test_every_form_of_a_generated_sentence_masks_alike(forms: list[str]):
    """What trained numbers decide (a verdict, a trend's direction, where a remedy starts to matter, the ranking) must
    not change what nbval compares, or the stored notebooks fail on a machine whose numbers differ."""
    assert len(set(forms)) == len(forms) and len({_sanitize(f) for f in forms}) == 1, [_sanitize(f) for f in forms]


@pytest.mark.parametrize(
    "forms",
    [["Frozen for the confirmation: w = 10, the best mean validation AP over 2 tuning runs.",
      "Frozen for the confirmation: α = 0.25, γ = 2, the best mean validation AP over 2 tuning runs."],
     ["The best remedy on validation: focal loss (α = 0.75, γ = 2).", "The best remedy on validation: undersampling (1 negative per positive)."],
     ["With 1,000 cats: Focal loss: -0.015 AP", "With 1,000 cats: Oversampling + augmentation: +0.015 AP"],
     ["Focal loss with 1,000 cats, against the baseline with 2,000: -0.011 AP",
      "Oversampling + augmentation with 1,000 cats, against the baseline with 2,000: +0.031 AP"],
     ["initial bias  the same in every run", "initial bias  +0.333 (-1.000 to +1.000)"],
     ["class weights at its frozen setting (w = 10) differs", "class weights at its frozen setting (w = 3) differs"]],
    ids=["frozen", "best", "size sweep", "size against baseline", "points", "lessons"],
)  # fmt: skip
def test_what_validation_chooses_masks_alike(forms: list[str]):
    """Which setting tuning freezes and which remedy is best on validation depend on trained scores, which differ
    between processors; so does whether an operating point moved at all."""
    assert len({_sanitize(f) for f in forms}) == 1, [_sanitize(f) for f in forms]
