"""The run's plan: which notebooks run, how many times (parameter sets), into which files, with which parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..storage import PROJECT_ROOT
from .params import ConfigError, notebook_parameters

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"


@dataclass(frozen=True)
class Planned:
    """One execution of the run: the notebook, the executed copy's file name, and the parameters it gets."""

    notebook: Path
    name: str
    parameters: dict[str, Any]


def select_notebooks(patterns: Sequence[str] | None) -> list[Path]:
    """Return the notebooks to run, in name order: names or globs inside notebooks/, or paths to .ipynb files."""
    found = sorted(NOTEBOOK_DIR.glob("[0-9]*.ipynb"))
    if patterns:
        chosen: set[Path] = set()
        for pat in patterns:
            if pat.endswith(".ipynb") and Path(pat).expanduser().is_file():
                chosen.add(Path(pat).expanduser().resolve())
            else:
                chosen |= set(NOTEBOOK_DIR.glob(pat if pat.endswith(".ipynb") else f"{pat}*.ipynb"))
        found = sorted(chosen, key=lambda p: p.name)
    if not found:
        raise ConfigError(f"no notebooks match {list(patterns or [])} in {NOTEBOOK_DIR}")
    return found


def notebook_variants(notebook: Path, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the parameter sets a notebook runs with: the config's, else its metadata's series.variants, else one."""
    if notebook.stem in overrides:
        variants = overrides[notebook.stem]
    else:
        variants = json.loads(notebook.read_text(encoding="utf-8"))["metadata"].get("series", {}).get("variants", [{}])
    if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants) or not variants:
        raise ConfigError(f"variants for {notebook.stem} must be a non-empty list of parameter mappings, got {variants!r}")
    return variants


def variant_name(notebook: Path, variant: dict[str, Any]) -> str:
    """Return the executed notebook's file name for one parameter set, e.g. 02_class_weights-positive_weight-10.ipynb."""
    suffix = "".join(f"-{k}-{v}" for k, v in variant.items())
    return f"{notebook.stem}{suffix}.ipynb"


def plan_runs(notebooks: Sequence[Path], given: dict[str, Any], overrides: dict[str, Any]) -> list[Planned]:
    """List every execution of the run, in order, with the given parameters each notebook declares."""
    plan = []
    for nb in notebooks:
        declared = notebook_parameters(nb)
        variants = notebook_variants(nb, overrides)
        for variant in variants:
            name = variant_name(nb, variant) if len(variants) > 1 or variant else nb.name
            plan.append(Planned(nb, name, {k: v for k, v in {**given, **variant}.items() if k in declared}))
    return plan
