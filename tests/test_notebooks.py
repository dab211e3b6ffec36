"""Static checks of the stored notebooks and of what nbval masks in them: plain parameters, plumbing tagged out of
posts, the stored records they were executed from, and sanitizers that leave every number from those records compared."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import get_sanitize_patterns

from unbalanced.storage import PROJECT_ROOT

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


def test_no_cell_is_masked_whole():
    masked = [(p.stem, c.source[:60]) for p in NOTEBOOKS for c in nbformat.read(p, as_version=4).cells
              if {"nbval-ignore-output", "nbval-skip"} & set(c.metadata.get("tags", []))]  # fmt: skip
    assert masked == []  # executed from stored records, every output is the same on every machine


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_notebooks_read_the_stored_records_they_name_and_those_match(path: Path):
    from unbalanced.store import check_store, index_digest, read_index, stored_run

    nb = nbformat.read(path, as_version=4)
    named = nb.metadata.get("stored_records")
    assert named, "store the notebooks from a run's records: python run_series.py --store runs/<name>"
    store = PROJECT_ROOT / named["store"]
    check_store(store)  # every file there, none altered
    assert named["index_sha256"] == index_digest(store), f"{path.name} was executed from other records than {store}: store it again"
    assert read_index(store)["complete"] is True
    assert nb.metadata.papermill.parameters["output_dir"] == stored_run(store)


def test_the_first_notebook_shows_real_photos():
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "the bundled Kaggle cat and dog photos" in text and "synthetic" not in text


@pytest.mark.parametrize(
    "text",
    ["oversampling: +0.021 AP (95 % interval −0.030 to +0.072), higher in 2 of 3 paired runs; no difference shown",
     "0.400 ± 0.030, n/a in 1 of 3", "Frozen for the confirmation: w = 10, the best mean validation AP over 2 tuning runs.",
     "unbalanced    1000   100    1100    9.1 %", "With 1,000 cats: Focal loss: -0.015 AP"],
)  # fmt: skip
def test_sanitizers_leave_every_number_from_the_records_compared(text: str):
    assert _sanitize(text) == text


def test_sanitizers_mask_what_the_machine_decides():
    assert _sanitize("2 worker(s) at tcp://127.0.0.1:35191; dashboard http://127.0.0.1:41755/status") == "2 worker(s) at <address>; dashboard <address>"


def test_no_sanitizer_can_backtrack_without_end():
    """Nested quantifiers such as (a+)+ make a regular expression's time explode on long non-matching text."""
    for regex, _ in get_sanitize_patterns(SANITIZE.read_text()):
        re.compile(regex)
        assert not re.search(r"\([^()]*[+*][^()]*\)[+*{]", regex), regex
