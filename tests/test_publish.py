"""Tests for publish.py: posts from an executed notebook the test makes, a real Jekyll build and a browser check."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import http.server
import io
import re
import shutil
import subprocess
import threading
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image

import publish

DATE = dt.date(2026, 11, 28)


def _png() -> str:
    buf = io.BytesIO()
    Image.fromarray(np.full((20, 30, 3), 120, np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _cell(source: str, outputs: list, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = new_code_cell(source, outputs=outputs, execution_count=1)
    cell.metadata["tags"] = list(tags)
    return cell


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    """A run folder with two small executed notebooks: an experiment (with one variant name) and a summary."""
    folder = tmp_path / "run"
    folder.mkdir()
    stream = lambda name, text: new_output("stream", name=name, text=text)  # noqa: E731
    figure = new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"})
    cells = [
        new_markdown_cell("# Oversampling the rare class\n\nWhy oversampling helps."),
        _cell("# NBVAL_IGNORE_OUTPUT\nimport helpers as h", [stream("stderr", "WARNING: TensorFlow start-up noise")]),
        _cell('epochs = 15', [], ("parameters",)),
        _cell('# Parameters\nepochs = 2\noutput_dir = "/home/me/runs/x"\nscheduler = "tcp://10.0.0.1:8786"\n', [], ("injected-parameters",)),
        _cell("secret_cell = 'HIDDEN_WHOLE_CELL'", [stream("stdout", "HIDDEN_OUTPUT")], ("hide",)),
        _cell("secret_input = 'HIDDEN_INPUT'", [stream("stdout", "shown output\n")], ("hide_input",)),
        _cell("template = '{{ site.title }} {% if x %}'", [stream("stdout", "rendered {{ page.title }}\n")]),
        _cell("ends = '{%endraw%} and {%- endraw -%}'", [stream("stdout", "printed {% endraw %} here {{ 1 | plus: 1 }}\n")]),
        _cell("progress()", [stream("stdout", "10%\r50%\r100% done\n")]),
        _cell("train()", [stream("stdout", "Dask: 2 worker(s) at tcp://127.0.0.1:1; dashboard http://127.0.0.1:2/status\n"),
                          stream("stdout", "  1 of 2 trainings done on the cluster, about 41 min left\n"
                                           "[1/2] baseline, split 0, seed 42: kept epoch 3 of 6, validation AP 0.117\n"
                                           "2 of 2 trainings ran in 80 s; 0 were read back from the run folder\n")]),
        new_markdown_cell("## The figure"),
        _cell("plot()", [figure]),
    ]
    for name, title in (("03_oversampling-positive_fraction-0.5", "Oversampling the rare class {{ site.title }}"), ("99_summary", "Summary")):
        nb = new_notebook(cells=cells)
        nb.metadata["blog"] = {"title": title, "tags": ["Python", "imbalanced data"], "excerpt": f"About {name[:2]}."}
        if name.startswith("03"):
            nb.metadata["blog"]["feature-img"] = "assets/img/x.jpg"
        nbformat.write(nb, folder / f"{name}.ipynb")
    (folder / "04_broken.failed.ipynb").write_text("{}")  # failed copies are not published
    return folder


def _post(blog: Path, name: str) -> tuple[dict, str]:
    text = (blog / "_posts" / f"2026-11-28-{name}.md").read_text()
    _, matter, body = text.split("---\n", 2)
    return yaml.safe_load(matter), body


def test_posts_have_front_matter_figures_and_nothing_hidden(run_folder: Path, tmp_path: Path):
    blog = tmp_path / "blog"
    posts = publish.publish(run_folder, blog, DATE)
    assert sorted(p.name for p in posts) == ["2026-11-28-03-oversampling-positive-fraction-0-5.md", "2026-11-28-99-summary.md"]
    matter, body = _post(blog, "03-oversampling-positive-fraction-0-5")
    assert matter == {"layout": "post", "title": "Oversampling the rare class {{ site.title }} (positive_fraction = 0.5)",
                      "date": "2026-11-28", "tags": ["Python", "imbalanced data"], "excerpt": "About 03.",
                      "feature-img": "assets/img/x.jpg"}  # fmt: skip
    summary_matter, _ = _post(blog, "99-summary")
    assert summary_matter["feature-img"].startswith("assets/posts/2026-11-28-99-summary_files/")  # the run's first figure
    assert (blog / summary_matter["feature-img"]).is_file()
    assert "* TOC\n{:toc}" in body and "Why oversampling helps." in body and "# Oversampling" not in body
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", body)
    assert links and all(link.startswith("/assets/posts/") and (blog / link.lstrip("/")).is_file() for link in links)
    assert all(Image.open(blog / link.lstrip("/")).format == "PNG" for link in links)
    for hidden in ("HIDDEN_WHOLE_CELL", "HIDDEN_OUTPUT", "HIDDEN_INPUT", "TensorFlow start-up noise", "NBVAL_", "10%",
                   "Dask:", "trainings done on the cluster", "kept epoch", "/home/me/runs", "tcp://"):  # fmt: skip
        assert hidden not in body
    assert "shown output" in body and "100% done" in body and "2 of 2 trainings ran in 80 s" in body
    assert "**Parameters of this run**" in body and "epochs = 2" in body
    html = (blog / "html" / "2026-11-28-99-summary.html").read_text()
    assert "shown output" in html and "data:image/png;base64" in html
    for hidden in ("HIDDEN_WHOLE_CELL", "HIDDEN_INPUT", "TensorFlow start-up noise"):
        assert hidden not in html


def _outside_raw(body: str) -> str:
    """The text Jekyll would run as Liquid: everything outside raw blocks, ended by any spelling of endraw."""
    outside, rest = [], body
    while "{% raw %}" in rest:
        before, _, rest = rest.partition("{% raw %}")
        outside.append(before)
        end = publish.ENDRAW.search(rest)
        assert end, "a raw block is never closed"
        rest = rest[end.end():]
    return "".join(outside + [rest])


def test_liquid_like_text_stays_inside_raw_blocks_even_when_it_spells_endraw(run_folder: Path, tmp_path: Path):
    blog = tmp_path / "blog"
    publish.publish(run_folder, blog, DATE)
    _, body = _post(blog, "03-oversampling-positive-fraction-0-5")
    outside = _outside_raw(body)
    for liquid in ("site.title", "{% if x %}", "page.title", "plus: 1"):
        assert liquid not in outside
    assert outside.count("{{ '{' }}") == outside.count("{{") == 3  # only the three end-of-raw tags' first braces
    _, summary = _post(blog, "99-summary")
    assert "site.title" not in _outside_raw(summary)  # a link title is raw too; its post_url link is not
    assert "{% post_url 2026-11-28-03-oversampling-positive-fraction-0-5 %}" in _outside_raw(summary)


def test_summary_links_to_every_experiment_and_parameters_can_be_hidden(run_folder: Path, tmp_path: Path):
    blog = tmp_path / "blog"
    publish.publish(run_folder, blog, DATE, hide_parameters=True)
    _, body = _post(blog, "99-summary")
    assert body.rstrip().endswith("- [{% raw %}Oversampling the rare class {{ site.title }} (positive_fraction = 0.5){% endraw %}]"
                                  "({% post_url 2026-11-28-03-oversampling-positive-fraction-0-5 %})")  # fmt: skip
    assert "Parameters of this run" not in body


def test_a_stored_notebook_and_its_post_carry_no_training_lines(tmp_path: Path):
    # Headless runs send progress to the terminal only; publishing still strips such lines from notebooks run by hand.
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(publish.Path(__file__).parents[1] / "notebooks" / "99_summary.ipynb", run)
    assert "kept epoch" not in (run / "99_summary.ipynb").read_text()
    publish.publish(run, tmp_path / "blog", DATE)
    _, body = _post(tmp_path / "blog", "99-summary")
    assert "kept epoch" not in body and "trainings ran in" not in body and "Holm" in body


def test_publishing_an_empty_folder_says_what_to_do(tmp_path: Path, capsys):
    assert publish.main([str(tmp_path), "--blog", str(tmp_path / "blog")]) == 2
    assert "run_series.py" in capsys.readouterr().err


LAYOUT = """<html><head><title>{{ page.title }}</title></head><body>
<h1>{{ page.title }}</h1>{{ content }}
<script>window.addEventListener('load', () => { document.body.setAttribute('data-images',
  Array.from(document.images).map(i => (i.complete && i.naturalWidth > 0 ? 'ok' : 'broken')).join(' ')); });</script>
</body></html>
"""


def _build_site(run_folder: Path, tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "_layouts").mkdir(parents=True)
    (site / "_config.yml").write_text("title: Test blog\nmarkdown: kramdown\n")
    (site / "_layouts" / "post.html").write_text(LAYOUT)
    publish.publish(run_folder, site, DATE)
    result = subprocess.run(["jekyll", "build", "--source", str(site), "--destination", str(site / "_site")],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0 and "Error" not in result.stderr and "Warning" not in result.stderr, result.stdout + result.stderr
    return site / "_site"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("jekyll") is None, reason="jekyll is not installed (apt-get install jekyll)")
def test_jekyll_builds_the_posts_with_their_figures(run_folder: Path, tmp_path: Path):
    built = _build_site(run_folder, tmp_path)
    page = next(built.rglob("03-oversampling-positive-fraction-0-5.html")).read_text()
    images = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert images and all((built / src.lstrip("/")).is_file() for src in images)
    assert "{{ page.title }}" in page and 'id="markdown-toc"' in page  # Liquid printed, not run; the TOC built
    for literal in ("{%endraw%} and {%- endraw -%}", "printed {% endraw %} here {{ 1 | plus: 1 }}"):
        assert literal in page.replace("&#39;", "'")
    summary = next(built.rglob("99-summary.html")).read_text()
    assert re.search(r'href="/2026/11/28/03-oversampling-positive-fraction-0-5.html">Oversampling the rare class \{\{ site.title \}\}', summary)


def _image_states(built: Path, pages: list[Path], tmp_path: Path) -> dict[str, list[str]]:
    """Each page's images as Chromium loads them from a local server: "ok" or "broken" per image."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom"]  # fmt: skip
    states = {}
    try:
        for page in pages:
            url = f"http://127.0.0.1:{server.server_port}/{page.relative_to(built).as_posix()}"
            dom = subprocess.run(["chromium", *flags, url], capture_output=True, text=True, timeout=120).stdout
            found = re.search(r'data-images="([^"]*)"', dom)
            assert found, dom[-2000:]
            states[page.name] = found.group(1).split()
    finally:
        server.shutdown()
    return states


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("jekyll") is None or shutil.which("chromium") is None,
                    reason="jekyll and chromium are not both installed")  # fmt: skip
def test_every_image_loads_in_a_browser(run_folder: Path, tmp_path: Path):
    built = _build_site(run_folder, tmp_path)
    page = next(built.rglob("03-oversampling-positive-fraction-0-5.html"))
    assert _image_states(built, [page], tmp_path) == {page.name: ["ok"]}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("jekyll") is None or shutil.which("chromium") is None,
                    reason="jekyll and chromium are not both installed")  # fmt: skip
def test_the_stored_notebooks_build_as_posts_whose_every_figure_loads(tmp_path: Path):
    """What `make publish` does by default: the stored notebooks, built by Jekyll with no warning, every figure of
    every post loading in Chromium, and no plumbing (the stored-run folder, the run folder parameter) in the posts."""
    stored = publish.Path(__file__).parents[1] / "notebooks"
    built = _build_site(stored, tmp_path)
    pages = sorted((built / str(DATE.year)).rglob("*.html"))  # the posts (the standalone pages are checked apart)
    assert len(pages) == len(list(stored.glob("*.ipynb")))
    for page in pages:
        assert "runs/stored" not in page.read_text() and "output_dir" not in page.read_text(), page.name
    states = _image_states(built, pages, tmp_path)
    assert all(found and set(found) == {"ok"} for found in states.values()), states


def test_other_notebooks_are_named_by_their_posts_titles():
    titles = {"01": "Balanced or unbalanced?", "06": "Initial bias and the decision threshold"}
    assert publish.name_posts("see notebook 06 for the thresholds", titles) == "see the post “Initial bias and the decision threshold” for the thresholds"
    assert publish.name_posts("(see the first notebook for how)", titles) == "(see the post “Balanced or unbalanced?” for how)"
    assert publish.name_posts("notebook 42 and notebooks 01", titles) == "notebook 42 and notebooks 01"  # no such post; a plural is left


def test_the_table_of_contents_never_separates_a_sentence_from_what_it_introduces():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title\n\nWhy this matters.\n\nCopies of one dog:")])
    assert publish.prepare(nb, False).cells[0].source == f"Why this matters.\n\n{publish.TOC_MARKER}\n\nCopies of one dog:"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title\n\nWhy this matters.")])
    assert publish.prepare(nb, False).cells[0].source == f"Why this matters.\n\n{publish.TOC_MARKER}"
