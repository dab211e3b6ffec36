"""Publish a run folder's executed notebooks as Jekyll posts, plus one standalone HTML page each.

    python publish.py runs/demo --blog ~/my-blog                     # writes _posts/ and assets/posts/ into the blog
    python publish.py runs/demo --blog ~/my-blog --date 2026-11-28 --hide-parameters --assets-dir assets/img

Each post gets YAML front matter from the notebook's metadata (`blog`: title, tags, excerpt, feature-img, thumbnail;
without a feature-img, the post's first figure from the run), a table-of-contents marker, code and outputs, and its
figures extracted under <blog>/<assets-dir>/<post>_files/.
Cells tagged `hide` (or `remove_cell`) are left out; cells tagged `hide_input` (or `remove_input`) show their
output only. Papermill's injected parameters become a short "Parameters of this run" block (without the ones that
only say where it ran). Standard-error output, progress-bar redraws and the per-training progress lines are
dropped. The body is wrapped in {% raw %} so Jekyll never reads code as Liquid.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any, Sequence

import nbformat
import yaml

HIDE_CELL_TAGS = {"hide", "remove_cell"}
HIDE_INPUT_TAGS = {"hide_input", "remove_input"}
TOC_MARKER = "<b>Table of contents</b>\n* TOC\n{:toc}\n"
# Lines a study prints while it trains (unbalanced.tasks.progress_line, the cluster's estimate and its dashboard
# address): useful in a live run, noise in a post. The closing "N of M trainings ran in S s" line stays.
PROGRESS_LINE = re.compile(r"^(\[\d+/\d+\] .*: kept epoch \d+ of \d+, validation AP|\s*\d+ of \d+ trainings done on the cluster, about"
                           r"|Dask: \d+ worker\(s\) at )")
WHERE_ONLY = {"output_dir", "scheduler", "workers", "threads"}  # where a run wrote and trained, not what it computed


def slug_of(notebook: Path) -> str:
    """URL-friendly name of a notebook: 02_class_weights-positive_weight-10 -> 02-class-weights-positive-weight-10."""
    return re.sub(r"[^a-z0-9]+", "-", notebook.stem.lower()).strip("-")


def post_title(nb: Any, notebook: Path) -> str:
    """The post's title: metadata blog.title (with the run's variant, if any), else the first heading, else the name."""
    title = nb.metadata.get("blog", {}).get("title")
    if not title:
        headings = [line[2:] for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines() if line.startswith("# ")]
        title = headings[0] if headings else notebook.stem
    variant = notebook.stem.partition("-")[2]
    return f"{title} ({variant.replace('-', ' = ', 1).replace('-', ' ')})" if variant else title


def front_matter(nb: Any, notebook: Path, date: dt.date) -> dict[str, Any]:
    """YAML front matter for a post from the notebook's `blog` metadata."""
    blog = nb.metadata.get("blog", {})
    matter: dict[str, Any] = {"layout": "post", "title": post_title(nb, notebook), "date": date.isoformat(),
                              "tags": list(blog.get("tags", []))}  # fmt: skip
    for key in ("excerpt", "feature-img", "thumbnail"):
        if blog.get(key):
            matter[key] = blog[key]
    return matter


def clean_outputs(outputs: list[Any]) -> list[Any]:
    """Drop standard-error streams and per-training progress lines; keep only the last redraw of each progress bar."""
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream":
            if out.get("name") == "stderr":
                continue
            lines = [line.rsplit("\r", 1)[-1] for line in out["text"].split("\n")]
            out["text"] = "\n".join(line for line in lines if not PROGRESS_LINE.match(line))
            if not out["text"].strip():
                continue
        kept.append(out)
    return kept


NOTEBOOK_NAMED = re.compile(r"\b(?:[Tt]he )?(?:first notebook|notebook (\d\d))\b")


def name_posts(text: str, titles: dict[str, str]) -> str:
    """"notebook 06" (or "the first notebook") as a post's reader knows it: by the title of that post."""
    def title(match: re.Match[str]) -> str:
        found = titles.get(match.group(1) or "01")
        return f"the post “{found}”" if found else match.group(0)

    return NOTEBOOK_NAMED.sub(title, text)


def prepare(nb: Any, hide_parameters: bool, titles: dict[str, str] | None = None) -> Any:
    """Return the notebook as a reader should see it: hidden cells out, parameters summarised, noise removed, other
    notebooks named by their posts' titles."""
    titles = titles or {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = name_posts(cell.source, titles)
        for out in cell.get("outputs", []):
            if "text/markdown" in out.get("data", {}):
                out["data"]["text/markdown"] = name_posts(out["data"]["text/markdown"], titles)
    cells = []
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if tags & HIDE_CELL_TAGS:
            continue
        if "injected-parameters" in tags:
            if not hide_parameters:
                lines = [line for line in cell.source.splitlines() if line.strip() and not line.startswith("#")
                         and line.split("=", 1)[0].strip() not in WHERE_ONLY]  # fmt: skip
                if lines:  # a run with its notebooks' defaults, stored where it ran, has none to show
                    cells.append(nbformat.v4.new_markdown_cell("**Parameters of this run**\n\n```python\n" + "\n".join(lines) + "\n```"))
            continue
        if cell.cell_type == "code":
            cell.outputs = clean_outputs(cell.outputs)
            cell.source = "\n".join(line for line in cell.source.splitlines() if not line.startswith("# NBVAL_"))
            if tags & HIDE_INPUT_TAGS:
                cell.metadata["transient"] = {"remove_source": True}  # nbconvert's templates then skip the input
        cells.append(cell)
    first_md = next((c for c in cells if c.cell_type == "markdown"), None)
    if first_md is not None:  # the title lives in the front matter; the TOC goes after the introduction
        intro = re.sub(r"\A# .*\n*", "", first_md.source).rstrip().split("\n\n")
        if len(intro) > 1 and intro[-1].endswith(":"):  # a paragraph that leads into the next cell stays beside it
            intro.insert(len(intro) - 1, TOC_MARKER)
        else:
            intro.append(TOC_MARKER)
        first_md.source = "\n\n".join(intro)
    nb.cells = cells
    return nb


ENDRAW = re.compile(r"\{%-?\s*endraw\s*-?%\}")  # every spelling Liquid accepts as the end of a raw block


def raw(text: str) -> str:
    """Wrap text in {% raw %} so Jekyll prints {{ }} and {% %} instead of running them. An end-of-raw tag inside the
    text loses its first brace to a Liquid string printed outside the block, so the block sees no such tag (Liquid's
    tokenizer cannot hold a whole tag inside a string)."""
    return "{% raw %}" + ENDRAW.sub(lambda m: "{% endraw %}{{ '{' }}{% raw %}" + m.group(0)[1:], text) + "{% endraw %}"


def protect_liquid(body: str) -> str:
    """A post body wrapped in {% raw %}: code and outputs are printed as they are."""
    return raw("\n" + body + "\n") + "\n"


def export_markdown(nb: Any, post_name: str) -> tuple[str, dict[str, bytes]]:
    """Markdown body and extracted figures (name -> bytes) of a prepared notebook."""
    from nbconvert import MarkdownExporter

    exporter = MarkdownExporter()
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, resources = exporter.from_notebook_node(nb, resources={"output_files_dir": f"{post_name}_files"})
    return body, resources.get("outputs", {})


def export_html(nb: Any, title: str) -> str:
    """A standalone HTML page (figures embedded) of a prepared notebook."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    exporter.embed_images = True
    nb.metadata["title"] = title
    html, _ = exporter.from_notebook_node(nb)
    return html


def publish(
    run_folder: Path,
    blog: Path,
    date: dt.date,
    assets_dir: str = "assets/posts",
    html_dir: Path | None = None,
    hide_parameters: bool = False,
    base_url: str = "",
) -> list[Path]:
    """Write one post (and one HTML page) per executed notebook of a run folder; return the post paths."""
    notebooks = sorted(p for p in run_folder.glob("*.ipynb") if not p.name.startswith(".") and ".failed" not in p.name)
    if not notebooks:
        raise FileNotFoundError(f"no executed notebooks in {run_folder}: run `python run_series.py --out {run_folder}` first")
    html_dir = html_dir or blog / "html"
    posts: list[tuple[Path, str, str]] = []
    titles = {p.name[:2]: nbformat.read(p, as_version=4).metadata.get("blog", {}).get("title", "") for p in notebooks}
    for notebook in notebooks:
        nb = nbformat.read(notebook, as_version=4)
        post_name = f"{date.isoformat()}-{slug_of(notebook)}"
        matter = front_matter(nb, notebook, date)
        prepared = prepare(nb, hide_parameters, {k: v for k, v in titles.items() if v})
        body, figures = export_markdown(prepared, post_name)
        for name, data in figures.items():
            target = blog / assets_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        body = body.replace(f"]({post_name}_files/", f"]({base_url}/{assets_dir}/{post_name}_files/")
        if figures and "feature-img" not in matter:  # the run's own first figure, unless the notebook names one
            matter["feature-img"] = f"{assets_dir}/{next(iter(figures))}"
        post = blog / "_posts" / f"{post_name}.md"
        post.parent.mkdir(parents=True, exist_ok=True)
        post.write_text("---\n" + yaml.safe_dump(matter, sort_keys=False, allow_unicode=True) + "---\n\n" + protect_liquid(body), encoding="utf-8")
        html_dir.mkdir(parents=True, exist_ok=True)
        (html_dir / f"{post_name}.html").write_text(export_html(prepared, matter["title"]), encoding="utf-8")
        posts.append((post, post_name, matter["title"]))
    summary = [p for p in posts if "summary" in p[1]]
    for post, _, _ in summary:  # outside {% raw %}, so Jekyll resolves the links
        links = "\n".join(f"- [{raw(title)}]({{% post_url {name} %}})" for _, name, title in posts if (post, name, title) not in summary)
        post.write_text(post.read_text(encoding="utf-8") + "\n## The experiments\n\n" + links + "\n", encoding="utf-8")
    return [p for p, _, _ in posts]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_folder", help="a run folder written by run_series.py")
    parser.add_argument("--blog", required=True, help="the Jekyll site's folder (posts go to its _posts/)")
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="post date, YYYY-MM-DD (default: today)")
    parser.add_argument("--assets-dir", default="assets/posts", help="figures folder inside the site (default: assets/posts)")
    parser.add_argument("--html-dir", help="where the standalone HTML pages go (default: <blog>/html)")
    parser.add_argument("--hide-parameters", action="store_true", help="leave out the 'Parameters of this run' block")
    parser.add_argument("--base-url", default="", help="the site's baseurl, prefixed to figure links")
    args = parser.parse_args(argv)
    try:
        date = dt.date.fromisoformat(args.date)
        posts = publish(Path(args.run_folder), Path(args.blog), date, args.assets_dir.strip("/"),
                        Path(args.html_dir) if args.html_dir else None, args.hide_parameters, args.base_url.rstrip("/"))  # fmt: skip
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for post in posts:
        print(post)
    return 0


if __name__ == "__main__":
    sys.exit(main())
