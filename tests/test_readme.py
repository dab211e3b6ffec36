"""The README as a newcomer meets it: short, the two commands on the first screen, an answer of at most 250 words
whose every figure a reader can find in the stored notebooks it links to."""

from __future__ import annotations

import re

import nbformat

from unbalanced.storage import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
FIGURE = re.compile(r"(?<![\w.])[−+-]?\d+\.\d+")  # a decimal: the README's reported figures, not counts or versions


def _section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _words(text: str) -> int:
    return len(re.sub(r"\]\([^)]*\)", "]", text).split())  # a link's address is not words a reader reads


def _stored_outputs() -> str:
    texts = []
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                texts.append(output.get("text", "") + data.get("text/markdown", "") + data.get("text/plain", "")
                             + data.get("text/html", ""))  # fmt: skip
    return "\n".join(texts).replace("−", "-")


def test_the_readme_fits_a_newcomer_with_the_two_commands_on_its_first_screen():
    assert _words(README) <= 1500
    first_screen = "\n".join(README.splitlines()[:30])
    assert "make run" in first_screen and "make test" in first_screen


def test_the_answer_is_at_most_250_words_and_names_what_it_could_detect():
    answer = _section("The answer, in short")
    assert _words(answer.split("\n| notebook |")[0]) <= 250
    assert "detect" in answer


def test_every_figure_of_the_answer_is_in_a_stored_notebook_it_links_to():
    answer = _section("The answer, in short").split("\n| notebook |")[0]
    outputs = _stored_outputs()
    figures = [f.replace("−", "-").lstrip("+-") for f in FIGURE.findall(answer)]
    assert figures, "the answer states no figure"
    assert [f for f in figures if f not in outputs] == []
    for paragraph in (p for p in answer.split("\n\n") if FIGURE.search(p)):
        assert re.search(r"\]\((notebooks/\d\d_\w+\.ipynb|docs/results\.md)[^)]*\)", paragraph), paragraph
