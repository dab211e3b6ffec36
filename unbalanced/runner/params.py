"""The run's parameters: read from the command line and YAML, checked against what the notebooks declare."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..files import class_roles, find_class_files, resolve_data_root
from ..splits import SplitCounts, cut_split, ratio_sizes, same_ratio_sizes
from ..storage import DataError


class ConfigError(ValueError):
    """Raised for a parameter or configuration the series cannot run with."""


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse one `name=value` command-line parameter; the value is read as YAML (numbers, lists, strings)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"parameter {text!r} is not of the form name=value (for example -p epochs=10)")
    return name.strip(), yaml.safe_load(value) if value.strip() else ""


def load_config(path: str | None) -> dict[str, Any]:
    """Read a YAML mapping of parameter names to values (an empty mapping when no file is given)."""
    if not path:
        return {}
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {file} does not exist")
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {file} must hold a mapping of parameter names to values, not {type(data).__name__}")
    return data


def inspect(notebook: Path) -> dict[str, dict[str, Any]]:
    """Return the parameters a notebook takes: papermill's view of its parameters cell (name -> default as source
    text, and help comment) and, for a notebook that trains (it declares data_root), the study's settings."""
    import papermill

    from ..runtime import SETTINGS

    declared = papermill.inspect_notebook(str(notebook))
    if "data_root" not in declared:
        return declared
    shared = {name: {"name": name, "default": repr(default), "inferred_type_name": "None", "help": meaning}
              for name, (default, meaning) in SETTINGS.items()}  # fmt: skip
    return {**shared, **declared}


def notebook_parameters(notebook: Path) -> dict[str, Any]:
    """Return the parameters a notebook declares in its cell tagged `parameters`, with their defaults (source text)."""
    return {name: info["default"] for name, info in inspect(notebook).items()}


TYPE_NAMES = {"int": int, "float": float, "str": str, "list": list, "bool": bool, "dict": dict}


def accepted_types(info: dict[str, Any]) -> tuple[type, ...]:
    """Types a parameter accepts: its default's, or those a `# type: float | str` comment names (int and float mix)."""
    declared = info.get("inferred_type_name")
    if declared in TYPE_NAMES:  # papermill reads `# type: float`; further `| str` alternatives stay in its help text
        kinds = [TYPE_NAMES[declared]] + [TYPE_NAMES[t] for t in re.findall(r"\|\s*(\w+)", info.get("help") or "") if t in TYPE_NAMES]
    else:
        kinds = [type(ast.literal_eval(info["default"]))]
    return tuple(dict.fromkeys(k for kind in kinds for k in ((int, float) if kind in (int, float) else (kind,))))


def type_error(name: str, value: Any, info: dict[str, Any]) -> str | None:
    """Describe why `value` does not fit parameter `name` (papermill's inspection `info`), or return None when it does."""
    types = accepted_types(info)
    default_source = info["default"]
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        wanted = " or ".join(t.__name__ for t in types)
        return f"{name}={value!r} is a {type(value).__name__}, expected {wanted} (default {default_source})"
    default = ast.literal_eval(default_source)
    if isinstance(value, list) and isinstance(default, list) and default:
        item_types = (int, float) if isinstance(default[0], (int, float)) else (type(default[0]),)
        bad = [v for v in value if not isinstance(v, item_types) or isinstance(v, bool)]
        if bad:
            return f"{name}={value!r} holds {bad!r}; expected a list of {item_types[0].__name__} like {default_source}"
    return None


def check_known(notebooks: Sequence[Path], given: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
    """Fail when a given parameter is declared by none of the notebooks (papermill alone would only warn) or mistyped."""
    inspected = {nb: inspect(nb) for nb in notebooks}
    declared = {name for info in inspected.values() for name in info}
    stems = {nb.stem for nb in notebooks}
    for stem, variants in (overrides or {}).items():
        if stem not in stems:
            raise ConfigError(f"variants name notebook {stem!r}, which is not in this run: {sorted(stems)}")
        given = {**given, **{k: v for variant in variants if isinstance(variant, dict) for k, v in variant.items()}}
    unknown = sorted(set(given) - declared)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(unknown)}; the notebooks take: {', '.join(sorted(declared))}")
    problems = {problem for info in inspected.values() for name, i in info.items()
                if name in given and (problem := type_error(name, given[name], i))}  # fmt: skip
    if problems:
        defaults = {n: i["default"] for info in inspected.values() for n, i in info.items()}
        listing = ", ".join(f"{n}={d}" for n, d in sorted(defaults.items()))
        raise ConfigError("; ".join(sorted(problems)) + f". Valid parameters and defaults: {listing}")


def preflight_data(given: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Check the data root's layout and that the split counts fit the files found, before any notebook starts.

    `defaults` are the notebooks' own values for what the run does not set. Files are counted, not decoded: a
    split that only fails once unusable files are dropped is reported by the notebook's own data check.
    """
    p = {**defaults, **given}
    try:
        root = resolve_data_root(p.get("data_root", ""))
        files = find_class_files(root, p.get("classes") or None)
        negative, positive = class_roles(list(files), p.get("positive_class", "dogs"))
        if {"negative_split_counts", "positive_split_counts", "more_positives"} <= set(p):
            counts = SplitCounts.of(p["negative_split_counts"], p["positive_split_counts"], p["more_positives"])
            for split_seed in p.get("split_seeds") or [0]:
                plan = cut_split(files, negative, positive, counts, split_seed)
                for name, (n, k) in sweep_sizes(p, counts):
                    try:
                        plan.training_set(n, k)
                    except DataError as exc:
                        raise DataError(f"{name}: {exc}") from exc
    except DataError as exc:
        raise ConfigError(str(exc)) from exc


def sweep_sizes(p: dict[str, Any], counts: SplitCounts) -> list[tuple[str, tuple[int, int]]]:
    """The training sets the sweeps of notebooks 08 and 99 ask for: (parameter, (negatives, positives))."""
    sizes = [("data_sizes", same_ratio_sizes(counts, int(n))) for n in p.get("data_sizes") or []]
    return sizes + [("ratios", ratio_sizes(counts, r)) for r in p.get("ratios") or [] if r > 0]


def notebook_defaults(notebooks: Sequence[Path]) -> dict[str, Any]:
    """The notebooks' default parameter values (the first notebook that declares a name wins)."""
    defaults: dict[str, Any] = {}
    for nb in notebooks:
        for name, source in notebook_parameters(nb).items():
            defaults.setdefault(name, ast.literal_eval(source))
    return defaults
