"""A study as the notebooks run it: its parameters checked, its data, its protocol, its trainings and its records.

Every experiment notebook builds one `Study` from its parameters and runs in two phases. Tuning: each setting of its
remedy trains on the tuning split seeds, which nothing else uses, and the setting with the best mean validation AP is
frozen. Confirmation: the baseline and the frozen setting train on fresh split seeds (one training seed per split,
each split its own), and are compared on the shared test block. Records already in the run folder (the baseline's
among them) are reused; each notebook writes a manifest, and the summary reads the manifests back.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .cluster import DataSpec, executor_for
from .datasets import StudyData, load_study_data
from .files import describe_data_root, resolve_data_root
from .locks import owned
from .metrics import at_point
from .results import (
    check_one_protocol,
    groups_by_role,
    load_group,
    load_manifests,
    save_manifest,
)
from .runtime import progress, start_tensorflow, with_settings
from .splits import UNBALANCED, SplitCounts, split_table
from .stats import (
    ALPHA,
    BETTER,
    IDENTICAL,
    WORSE,
    Comparison,
    compare,
    contrast,
    holm,
    p_text,
    paired_differences,
    score_of,
    signed,
    slope_weights,
)
from .storage import PROJECT_ROOT, DataError, resolve_path
from .store import check_stored_manifest, ensure_unpacked, refuse_training, unpacked_from
from .tasks import RESULTS_DIRNAME, Protocol, Record, Task, make_protocol, read_record, record_path, run_tasks
from .training import Recipe

RUN_LOCK_ENV = "UNBALANCED_RUN_FOLDER_OWNED"  # set by the runner to the run folder it owns for its notebooks
OUTPUT_DIR_ENV = "UNBALANCED_OUTPUT_DIR"  # where notebooks run without an output_dir write (tests point it elsewhere)
DEFAULT_OUTPUT_DIR = "runs/notebooks"


def run_seed(split_seed: int, seed: int) -> int:
    """The training seed of a paired run: each split its own (seed + 1000 · split seed), shared by every recipe of
    that split, so paired trainings start from the same weights and different splits from different ones."""
    return seed + 1000 * split_seed


def output_dir_of(output_dir: str) -> Path:
    """The run folder: the parameter, else $UNBALANCED_OUTPUT_DIR, else runs/notebooks in the project."""
    return resolve_path(output_dir or os.environ.get(OUTPUT_DIR_ENV) or PROJECT_ROOT / DEFAULT_OUTPUT_DIR)


def check_parameters(p: Mapping[str, Any]) -> None:
    """Reject parameter values the study cannot run with, naming the parameter and what it needs."""
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise DataError(message)

    for name in ("image_size", "batch_size", "epochs"):
        need(isinstance(p[name], int) and p[name] > 0, f"{name}={p[name]!r} must be a whole number above 0")
    for name in ("patience", "steps_per_epoch"):
        need(isinstance(p[name], int) and p[name] >= 0, f"{name}={p[name]!r} must be a whole number, 0 or more")
    for name in ("split_seeds", "seeds", "tuning_split_seeds"):
        if name not in p:  # tuning_split_seeds: only the notebooks that tune a setting declare it
            continue
        values = p[name]
        need(isinstance(values, list) and len(values) > 0 and all(isinstance(v, int) for v in values),
             f"{name}={values!r} must list at least one whole number")  # fmt: skip
        need(len(set(values)) == len(values), f"{name}={values!r} lists a seed twice")
    need(all(0 <= s < 1000 for s in p["seeds"]), f"seeds={p['seeds']!r} must lie in 0-999: a run's training seed is seed + 1000 × its split seed")
    shared = sorted(set(p.get("tuning_split_seeds", [])) & set(p["split_seeds"]))
    need(not shared, f"tuning_split_seeds and split_seeds share {shared}: the confirmation needs split seeds the tuning never used")
    need(0 < p["target_recall"] <= 1, f"target_recall={p['target_recall']!r} must be above 0 and at most 1")
    need(isinstance(p.get("workers", 0), int) and p.get("workers", 0) >= 0, f"workers={p.get('workers')!r} must be 0 (this kernel) or more")
    need(isinstance(p.get("threads", 0), int) and p.get("threads", 0) >= 0, f"threads={p.get('threads')!r} must be 0 (all cores) or more")
    scheduler = p.get("scheduler", "")
    need(not scheduler or "://" in scheduler, f"scheduler={scheduler!r} must be a Dask scheduler address such as tcp://host:8786")


@dataclass
class Study:
    """The study a notebook runs: parameters, data, protocol, run folder."""

    parameters: dict[str, Any]
    data: StudyData
    protocol: Protocol
    output_dir: Path

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> Study:
        """Check the parameters, check and load the data (or read it from the image cache), and fix the protocol."""
        p = with_settings(parameters)
        check_parameters(p)
        counts = SplitCounts.of(p["negative_split_counts"], p["positive_split_counts"], p["more_positives"])
        if p.get("threads") and not (p.get("workers") or p.get("scheduler")):  # this kernel trains: pin its threads now,
            start_tensorflow(onednn=p.get("onednn", True), threads=p["threads"])  # before the data check runs TensorFlow
        root = resolve_data_root(p["data_root"])
        data = load_study_data(root, p["positive_class"], p["classes"] or None, p["image_size"], counts, p["split_seeds"])
        protocol = make_protocol(data, p["image_size"], p["batch_size"], p["epochs"], p["patience"], p["steps_per_epoch"],
                                 p.get("onednn", True), p.get("threads", 0))  # fmt: skip
        output_dir = output_dir_of(p["output_dir"])
        ensure_unpacked(output_dir)
        return cls(p, data, protocol, output_dir)

    def executor(self) -> Any:
        """Where the trainings run: None for this kernel, else the Dask cluster the parameters name."""
        spec = DataSpec(str(self.data.root), self.data.positive, tuple(self.parameters["classes"]), self.protocol.image_size,
                        self.data.counts, tuple(self.parameters["split_seeds"]))  # fmt: skip
        return executor_for(self.parameters, self.protocol, spec)

    @property
    def results_dir(self) -> Path:
        """Where the run's records are written."""
        return self.output_dir / RESULTS_DIRNAME

    def describe(self) -> str:
        """What the study runs on and under which budget, in two lines."""
        check = self.data.check
        skipped = f"; {len(check.skipped)} file(s) skipped, listed below" if check.skipped else ""
        runs = len(self.parameters["split_seeds"]) * len(self.parameters["seeds"])
        splits, seeds = len(self.parameters["split_seeds"]), len(self.parameters["seeds"])
        plural = lambda n, word: f"{n} {word}{'s' * (n != 1)}"  # noqa: E731
        return (f"Data: {describe_data_root(self.parameters['data_root'])}; {len(check.rows):,} usable images{skipped}.\n"
                f"Positive (rare) class: {self.data.positive}; negative: {self.data.negative}. "
                f"{plural(runs, 'paired run')} ({plural(splits, 'split')} × {plural(seeds, 'seed')}); {self.protocol.describe()}.")  # fmt: skip

    def skipped_files(self, limit: int = 20) -> list[str]:
        """The data check's skipped files, one line each."""
        return self.data.check.skipped_lines(limit=limit)

    def split_table(self) -> Any:
        """The sizes of every split (the same for every split seed)."""
        return split_table(self.data.plan(self.parameters["split_seeds"][0]), self.data.counts, self.data.negative, self.data.positive)

    def tasks(self, recipes: Sequence[Recipe], split_seeds: Sequence[int] | None = None) -> list[Task]:
        """Every recipe on every split seed (the confirmation's unless given) and seed, run by run."""
        splits = self.parameters["split_seeds"] if split_seeds is None else split_seeds
        return [Task(r, s, run_seed(s, seed)) for s in splits for seed in self.parameters["seeds"] for r in recipes]

    def train(self, recipes: Sequence[Recipe], split_seeds: Sequence[int] | None = None) -> list[Record]:
        """Train every recipe on every run (records already in the run folder are read back, not trained again).

        The run folder is owned while this trains, unless the runner that started this notebook owns it already.
        """
        tasks = self.tasks(recipes, split_seeds)
        if unpacked_from(self.output_dir):
            keys = {t: t.key(self.protocol) for t in tasks}
            refuse_training(self.output_dir, [t.describe() for t in tasks if read_record(record_path(self.results_dir, t, keys[t]), keys[t]) is None])
        executor = self.executor()
        if os.environ.get(RUN_LOCK_ENV) == str(self.output_dir):
            return run_tasks(tasks, self.protocol, self.data, self.results_dir, executor, progress)
        with owned(self.output_dir, "run folder"):
            return run_tasks(tasks, self.protocol, self.data, self.results_dir, executor, progress)

    def tune(self, recipes: Sequence[Recipe]) -> list[Record]:
        """The tuning phase: every setting on the tuning split seeds only, for choosing on validation."""
        return self.train(recipes, self.parameters["tuning_split_seeds"])

    def save(self, experiment: str, groups: Mapping[str, tuple[str, Sequence[Record]]]) -> None:
        """Write the experiment's manifest: which records it compared (name -> (role, records)), under which parameters.

        In a folder unpacked from stored records the stored manifest stays: the notebook must have compared exactly
        the records it names, or the stored notebooks do not reproduce the stored study."""
        if unpacked_from(self.output_dir):
            check_stored_manifest(self.output_dir, experiment, groups)
            return
        save_manifest(self.output_dir, experiment, self.parameters, self.protocol, self.parameters["split_seeds"],
                             self.parameters["seeds"], groups)  # fmt: skip


@dataclass
class RunResults:
    """A run folder read back for the summary: the baseline, each remedy's search and choice, and the references."""

    output_dir: Path
    manifests: dict[str, dict[str, Any]]
    baseline: list[Record]
    searches: dict[str, list[Record]]  # remedy -> its tuning phase: every setting's records on the tuning split seeds
    chosen: dict[str, list[Record]]  # remedy -> its confirmation runs: the setting frozen after tuning, on fresh splits
    references: dict[str, list[Record]]

    @property
    def protocol(self) -> Protocol:
        """The one protocol every record was made under."""
        return self.baseline[0].protocol

    def study(self, workers: int = 0, scheduler: str = "", splits: int = 0) -> Study:
        """The study these results came from (its data checked again, or read from the image cache), to train more,
        in this kernel or on the cluster named; on the first `splits` confirmation splits only when given."""
        parameters = next(iter(self.manifests.values()))["parameters"]
        split_seeds = parameters["split_seeds"][: splits or len(parameters["split_seeds"])]
        return Study.from_parameters({**parameters, "output_dir": str(self.output_dir), "workers": workers, "scheduler": scheduler,
                                      "split_seeds": split_seeds})  # fmt: skip


def read_run(output_dir: str | Path, experiments: Sequence[str] = ()) -> RunResults:
    """Read a run folder's manifests and records (only `experiments`' when given, by name prefix such as "01");
    refuse a folder whose experiments used different protocols."""
    folder = output_dir_of(str(output_dir))
    ensure_unpacked(folder)
    manifests = load_manifests(folder)
    if experiments:
        manifests = {name: m for name, m in manifests.items() if name.startswith(tuple(experiments))}
        if not manifests:
            raise DataError(f"{folder} holds no experiment named {', '.join(experiments)}*: run those notebooks into it first")
    # a sweep's manifest (notebook 08) holds no baseline, remedy or reference, and may train on fewer split seeds
    manifests = {name: m for name, m in manifests.items() if any(g["role"] != "sweep" for g in m["groups"].values())} or manifests
    check_one_protocol(manifests)
    baseline = groups_by_role(folder, manifests, "baseline")
    if len(baseline) != 1:
        raise DataError(f"{folder} holds {len(baseline)} baselines ({', '.join(baseline) or 'none'}); expected one")
    searches = groups_by_role(folder, manifests, "tuning")
    sizes = {name: len({r.recipe.setting for r in records}) for name, records in searches.items()}
    searched = {k for k in sizes.values() if k > 1}
    if len(searched) > 1:
        print("warning: the remedies' searches differ in size (" + ", ".join(f"{n} {k}" for n, k in sizes.items())
              + " settings): a larger search has more chances to find a lucky setting")  # fmt: skip
    chosen = groups_by_role(folder, manifests, "remedy")
    return RunResults(folder, manifests, next(iter(baseline.values())), searches, chosen, groups_by_role(folder, manifests, "reference"))


def compare_all(baseline: Sequence[Record], groups: Mapping[str, Sequence[Record]]) -> list[Comparison]:
    """Every group against the baseline, paired, with Holm's correction across the groups."""
    return holm([compare(baseline, records, name) for name, records in groups.items()])


POINT_METRICS = ("recall at 0.5", "recall at best F1 on validation", "precision at best F1 on validation")


def compare_points(baseline: Sequence[Record], groups: Mapping[str, Sequence[Record]]) -> dict[str, list[Comparison]]:
    """Secondary comparisons: each group against the baseline in recall and precision at the operating points (0.5,
    and the best-F1 threshold each model chose on its validation scores), paired, uncorrected."""
    return {metric: [compare(baseline, records, name, metric=metric) for name, records in groups.items()] for metric in POINT_METRICS}


def points_table(points: Mapping[str, Sequence[Comparison]]) -> Any:
    """The operating-point comparisons as a table (pandas DataFrame): per group, each metric's paired difference and
    its 95 % interval (uncorrected), or 'n/a' where a model flagged no photo in some run."""
    import pandas as pd

    def cell(c: Comparison) -> str:  # a share's difference lies within ±1, whatever a t interval with few splits says
        if not (c.judged and c.low == c.low):
            return "n/a"
        if c.low == c.high == c.difference == 0.0:
            return "the same in every run"
        return f"{signed(c.difference)} ({signed(max(c.low, -1.0))} to {signed(min(c.high, 1.0))})"

    names = [c.remedy for c in next(iter(points.values()))]
    return pd.DataFrame({metric: [cell(c) for c in comparisons] for metric, comparisons in points.items()}, index=pd.Index(names, name="remedy"))


def threshold_sentence(points: Mapping[str, Sequence[Comparison]], ranking: Sequence[Comparison]) -> str:
    """What the operating-point comparisons show: the range of the remedies' recall changes at 0.5, with how many
    intervals exclude zero before any correction. Set beside the ranking only in words: no test compares the two."""
    at_half = [c for c in points["recall at 0.5"] if c.judged and c.low == c.low]
    if not at_half or not [c for c in ranking if c.judged]:
        return "Too few runs to compare the remedies' operating points."
    moved = sum(c.low > 0 or c.high < 0 for c in at_half)
    return (f"At a threshold of 0.5 the remedies change the baseline's recall by {signed(min(c.difference for c in at_half))} to "
            f"{signed(max(c.difference for c in at_half))} (the interval excludes zero for {moved} of {len(at_half)}, before "
            "correction): a remedy moves where the model's scores cross 0.5, which a threshold chosen on validation can "
            "do for plain training too; whether it ranks the dogs better is the AP verdict above.")  # fmt: skip


ORIGINAL_POST = {  # the original post's test results at 0.5 (one run, four epochs, 1,000 cats and 100 dogs in test)
    "balanced": {"accuracy": 0.735, "precision": 0.150, "recall": 0.410},
    "unbalanced": {"accuracy": 0.909, "recall": 0.0},
    "oversampling": {"accuracy": 0.880, "precision": 0.224, "recall": 0.130},
}


def original_sentence(name: str) -> str:
    """What the original post reported for this model at 0.5 (one run of four epochs), restated."""
    if name == "class weights":  # its printed test figures are another model's (`model_balanced.evaluate`); its own figure showed this one
        return ("The original post trained its class-weights model (w = 10) once, for four epochs on 64-pixel photos, and "
                "concluded from its confusion matrix that the weighting overshoots, calling many cats dogs at 0.5; the test "
                "figures it printed beside that (no dog found, accuracy 0.909) are not that model's: its code evaluates "
                "another model there, and the figures are its unbalanced model's.")  # fmt: skip
    o = ORIGINAL_POST[name]
    found = f"found {100 * o['recall']:.0f} % of the test dogs" if o["recall"] else "found no test dog"
    precision = f" at a precision of {o['precision']:.3f}" if "precision" in o else ""
    return (f"The original post's {name} model, trained once for four epochs on 64-pixel photos, {found}{precision} with an "
            f"accuracy of {o['accuracy']:.3f} at 0.5.")


def lessons(name: str, comparison: Comparison, metrics: Any, model: str, chance: float, setting: str = "",
            at_half: Comparison | None = None) -> list[str]:  # fmt: skip
    """A remedy notebook's closing, from its results: the ranking against plain training with its interval and
    detectable difference, what the remedy does at 0.5 and at the threshold chosen on validation, accuracy's lesson,
    and what to take from it (`at_half`: its paired comparison in recall at 0.5, where the notebook made one)."""
    c, setting = comparison, f" at its frozen setting ({setting})" if setting else ""
    if c.judged:
        excludes = c.low > 0 or c.high < 0
        direction = "better" if c.difference > 0 else "worse"
        if settled(c):
            reading = (f"the interval excludes zero by so much ({p_text(c.p_value)}, under 0.05 even multiplied by the "
                       f"{c.family} remedies) that the summary's correction keeps it whatever the others show: it ranks the "
                       f"dogs {direction} than plain training")  # fmt: skip
        elif excludes:
            reading = (f"the interval excludes zero before that correction ({p_text(c.p_value)}), but not by enough to be sure "
                       f"it survives the correction over {c.family} remedies; the summary gives the verdict")  # fmt: skip
        else:
            reading = "the interval includes zero, so this run cannot tell the two apart"
        share = c.improvement if c.difference > 0 else 1 - c.improvement
        if excludes and share < 0.65:  # the mean's side won barely more than half the runs: a few large ones carry it
            reading += (f" (though it was higher in {c.wins} of {c.runs} paired runs: the mean rests on large "
                        f"{'gains' if c.difference > 0 else 'losses'} in some runs)")  # fmt: skip
        power = (f"True differences smaller than about ±{c.detectable:.3f} could easily go unseen in this run (80 % power, "
                 f"counting the summary's correction over {c.family} remedies, which the interval does not)." if not excludes else
                 f"From its own spread, this run would find a true difference of about ±{c.detectable:.3f} four times in five "
                 f"after the summary's correction over {c.family} remedies.")  # fmt: skip
        first = (f"Does training with {name} help the model rank the dogs? Training with {name}{setting} differs from plain training by "
                 f"a mean of {signed(c.difference)} test AP (95 % interval {signed(c.low)} to {signed(c.high)}, before the "
                 f"summary's correction across the remedies): {reading}. {power}")  # fmt: skip
    else:
        first = f"This run has too few splits to compare {name} with plain training."
    half, val = "0.5", "best F1 on validation"
    mine, plain = at_point(metrics, model, half, "recall"), at_point(metrics, "baseline", half, "recall")
    at_0_5 = ("Neither it nor plain training flags a dog at a threshold of 0.5" if mine == plain == "0.000 ± 0.000" else
              f"At a threshold of 0.5 it finds {mine} of the test dogs, where plain training finds {plain}")  # fmt: skip
    second = (f"{at_0_5}; at the threshold each model chose on validation the two find {at_point(metrics, model, val, 'recall')} "
              f"and {at_point(metrics, 'baseline', val, 'recall')}, at precisions of {at_point(metrics, model, val, 'precision')} "
              f"and {at_point(metrics, 'baseline', val, 'precision')}.")  # fmt: skip
    mine, plain = at_point(metrics, model, half, "accuracy"), at_point(metrics, "baseline", half, "accuracy")
    third = (f"Accuracy at 0.5 is {mine} for both, what flagging no photo at all scores ({1 - chance:.3f}): accuracy cannot "
             "judge a model of a rare class." if mine == plain else
             f"Accuracy at 0.5 is {mine} against plain training's {plain}; flagging no photo at all would score {1 - chance:.3f}, "
             "which is why accuracy cannot judge a model of a rare class.")  # fmt: skip
    return [first, second, third] + ([advice(name, c, at_half)] if c.judged else [])


def settled(comparison: Comparison) -> bool:
    """Whether a remedy's verdict is certain before the summary's Holm correction: Bonferroni's bound on its Holm-adjusted
    p, family × p, is already below the level, so no result of the other remedies can undo it."""
    c = comparison
    return c.judged and (c.low > 0 or c.high < 0) and c.family * c.p_value < ALPHA


def advice(name: str, comparison: Comparison, at_half: Comparison | None = None) -> str:
    """What a practitioner takes from one remedy's comparison: only what its interval, its power and (`at_half`) its
    paired recall at 0.5 allow; a verdict only where the summary's correction cannot undo it (`settled`)."""
    c, capital = comparison, name[:1].upper() + name[1:]
    if settled(c) and c.difference > 0:
        return (f"What to take from it: on photos like these {name} ranks the rare class better than plain training; "
                "it is worth trying on yours, checked with the same paired test.")  # fmt: skip
    if settled(c):
        return (f"What to take from it: on photos like these {name} costs ranking; to flag more dogs, choose plain "
                "training's threshold on validation instead.")  # fmt: skip
    if c.high < 0:
        return (f"What to take from it: {name} may cost a little ranking, which only the summary's correction across the "
                "remedies can confirm or dismiss; here it shows no gain to adopt it for.")  # fmt: skip
    if c.low > 0:
        return (f"What to take from it: {name} may help ranking a little, which only the summary's correction across the "
                "remedies can confirm or dismiss.")  # fmt: skip
    if at_half is not None and at_half.judged and at_half.low == at_half.low and (at_half.low > 0 or at_half.high < 0):
        rest = (f"what it does change is recall at 0.5 ({signed(at_half.difference)}, 95 % interval {signed(at_half.low)} to "
                f"{signed(at_half.high)}), which a threshold chosen on validation changes for plain training without "
                "retraining.")  # fmt: skip
    elif at_half is not None and at_half.judged and at_half.low == at_half.low:
        rest = "nor does it change recall at 0.5 measurably."
    else:
        rest = "a threshold chosen on validation sets its operating point, as it does plain training's."
    return (f"What to take from it: {capital} buys no measurable gain in ranking here (a true difference of about "
            f"±{c.detectable:.3f} AP would have shown four times in five); {rest}")


def stopping_sentence(groups: Mapping[str, Sequence[Record]]) -> str:
    """How the trainings ended under the budget and early stopping on validation AP: per group, the mean kept epoch
    and how many stopped before the budget ran out (a remedy can change when training stops, not only where)."""
    first = next(iter(groups.values()))[0].protocol
    parts = [f"{name}, a mean kept epoch of {np.mean([r.trained.best_epoch for r in records]):.1f}, stopped early in "
             f"{sum(r.trained.epochs_run < r.protocol.epochs for r in records)} of {len(records)}"
             for name, records in groups.items()]  # fmt: skip
    return (f"Every training had at most {first.epochs} epochs and stopped after {first.patience} without a better "
            f"validation AP, keeping its best epoch: {'; '.join(parts)}.")


def show_code(*functions: Callable[..., Any]) -> None:
    """Show the source of functions the series runs, as a Python code block: the code on the page is the code that
    trains, not a copy beside it."""
    import inspect

    source = "\n\n".join(inspect.getsource(f).rstrip() for f in functions)
    source = re.sub(r"  # (?:noqa|fmt|type: ignore)[^\n]*", "", source)  # the linters' marks are not for readers
    say("```python\n" + source + "\n```")


def say(text: str) -> None:
    """Show a sentence written from the results as prose in the notebook (Markdown), or print it outside one."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython comes with the notebooks' requirements
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))


@dataclass
class Sweep:
    """Models trained at several values of x (training-set sizes or ratios): test AP per run, and each remedy's paired
    comparison with the baseline at every x."""

    x: list[Any]
    records: dict[tuple[str, Any], list[Record]]
    ap: dict[str, list[list[float]]]
    gains: dict[str, list[Comparison]]
    trends: dict[str, Comparison] = field(default_factory=dict)  # each remedy's gain per tenfold x, Holm over remedies

    def sentences(self, name_x: Callable[[Any], str], secondary: bool = False) -> list[str]:
        """Each remedy's comparison at each x, in words: with its verdict, or (secondary) its numbers alone."""
        named = [(replace(c, remedy=f"{c.remedy}, {name_x(x)}")) for comparisons in self.gains.values()
                 for x, c in zip(self.x, comparisons)]  # fmt: skip
        return [c.provisional_sentence(secondary=True) if secondary else c.sentence() for c in named]

    def onsets(self, name_x: Callable[[Any], str], unit: str = "value") -> list[str]:
        """For each remedy, the first x at which Holm's correction separates it from the baseline (where it starts to
        matter) and the other x where it is separated, or that none is, with its largest mean gain."""
        out = []
        for name, comparisons in self.gains.items():
            name = name[:1].upper() + name[1:]
            separated = [(x, c) for x, c in zip(self.x, comparisons) if c.verdict in (BETTER, WORSE)]
            if not separated:
                x, c = max(zip(self.x, comparisons), key=lambda xc: xc[1].difference)
                largest = ("none of its mean differences is above zero" if signed(c.difference) == "+0.000" or c.difference < 0 else
                           f"its largest mean difference, {signed(c.difference)} AP at {name_x(x)}, has a 95 % interval from "
                           f"{signed(c.low)} to {signed(c.high)} before correction")  # fmt: skip
                out.append(f"{name} is separated from the baseline at no {unit} from {name_x(self.x[0])} to {name_x(self.x[-1])}; {largest}.")
                continue
            (x, c), rest = separated[0], separated[1:]
            others = f"; at no other {unit}" if not rest else "; also at " + ", ".join(f"{name_x(y)} ({d.verdict.split()[0]})" for y, d in rest)
            out.append(f"{name} is first separated from the baseline at {name_x(x)}: {c.verdict}, {signed(c.difference)} AP, Holm-adjusted "
                       f"{p_text(c.p_holm)}{others}.")  # fmt: skip
        return out

    def separable(self) -> tuple[float, float]:
        """The smallest and largest difference this sweep's comparisons detect with 80 % power after Holm's correction
        over the sweep (arms identical to the baseline by construction are not in the family)."""
        detectable = [c.detectable for comparisons in self.gains.values() for c in comparisons if c.judged and c.se > 0]
        return (min(detectable), max(detectable)) if detectable else (float("nan"), float("nan"))

    def separable_sentence(self) -> str:
        """`separable` in words: how large a difference this sweep could have seen at all."""
        low, high = self.separable()
        judged = [c for comparisons in self.gains.values() for c in comparisons if c.judged and c.se > 0]
        if not judged:
            return "No comparison in this sweep has enough splits, or any spread, to be judged."
        return (f"With {judged[0].splits} splits and Holm's correction over {judged[0].family} comparisons, each comparison at one "
                f"ratio detects a true difference of {low:.3f} to {high:.3f} AP with 80 % power, depending on its spread: smaller "
                "effects, gains or losses, go unseen there.")  # fmt: skip

    def trend_sentences(self, unit: str) -> list[str]:
        """Each remedy's pre-stated trend, its gain over the baseline per tenfold rise of x, with Holm's correction over
        the remedies: a trend is claimed only where the corrected test finds one."""
        out = []
        for name, c in self.trends.items():
            if not c.judged:
                out.append(f"{name}: too few splits to test a trend.")
                continue
            reading = ("no trend shown" if c.verdict not in (BETTER, WORSE) else
                       f"its gain grows as the {unit} rises" if c.difference > 0 else f"its gain shrinks as the {unit} rises")  # fmt: skip
            out.append(f"{name[:1].upper() + name[1:]}: its gain over the baseline changes by {signed(c.difference)} AP per tenfold "
                       f"{unit} (95 % interval {signed(c.low)} to {signed(c.high)}); Holm-adjusted {p_text(c.p_holm)} over "
                       f"{c.family} remed{'ies' if c.family != 1 else 'y'}: {reading}; from its own spread this run detects a "
                       f"trend of about ±{c.detectable:.3f} AP with 80 % power.")  # fmt: skip
        return out

    def verdict_counts(self) -> dict[str, dict[str, int]]:
        """How many x each remedy is better than, worse than, or not separated from the baseline at."""
        return {name: {v: sum(c.verdict == v for c in comparisons) for v in (BETTER, WORSE, IDENTICAL)}
                | {"not separated": sum(c.verdict not in (BETTER, WORSE, IDENTICAL) for c in comparisons)}
                for name, comparisons in self.gains.items()}  # fmt: skip

    def values(self, name: str, metric: str = "AP") -> list[list[float]]:
        """Test `metric` ("AP" or "ROC-AUC") of `name`'s runs at each x."""
        return [[score_of(r, metric) for r in self.records[(name, x)]] for x in self.x]

    def change(self, name: str, metric: str = "AP") -> Comparison:
        """`name` at the last x against itself at the first x, paired by run, in test `metric` ("AP" or "ROC-AUC"): a
        pre-stated trend, outside the remedies' Holm family, so its p is uncorrected."""
        first, last = self.x[0], self.x[-1]
        return compare(self.records[(name, first)], self.records[(name, last)], f"{name}, last against first", metric=metric)


BUDA = "Buda, Maki and Mazurowski (2018)"


def trend_sentence(change: Comparison, what: str) -> str:
    """A `Sweep.change` in words, set against Buda et al.'s finding that the metric falls as imbalance grows: a fall
    or a rise is claimed only where the interval excludes zero."""
    numbers = (f"{what}: {signed(change.difference)} {change.metric} (95 % interval {signed(change.low)} to "
               f"{signed(change.high)}, {change.splits} splits, {p_text(change.p_value)}"
               + (f"; it would detect about ±{change.detectable:.3f} {change.metric} with 80 % power)" if change.judged else ")"))  # fmt: skip
    if not change.judged:
        return f"{numbers}: too few splits to tell a trend."
    if change.high < 0:
        return f"{numbers}: lower at the rarest ratio than at the most balanced one, the direction of the fall {BUDA} found."
    if change.low > 0:
        return f"{numbers}: higher at the rarest ratio than at the most balanced one, against the fall {BUDA} found."
    return f"{numbers}: the interval holds no difference between the two ends, so this run neither confirms nor contradicts the fall {BUDA} found."


def reliability_sentence(counts: Mapping[str, Mapping[str, int]], reported: str = "oversampling", unit: str = "value") -> str:
    """Each remedy's verdicts counted over a sweep, set against the remedy Buda et al. found most reliable: a count of
    verdicts against the baseline, not a test between remedies, and said to be so."""
    total = sum(next(iter(counts.values())).values()) if counts else 0
    parts = "; ".join(f"{name} better at {c[BETTER]}, worse at {c[WORSE]}, not separated at {c['not separated']}"
                      + (f", the baseline itself at {c[IDENTICAL]}" if c.get(IDENTICAL) else "") for name, c in counts.items())  # fmt: skip
    head = f"{BUDA} found {reported} the most reliable remedy. Here, over {total} {unit}s: {parts}."
    most = max((c[BETTER] for c in counts.values()), default=0)
    if most == 0:
        return f"{head} No remedy is better than the baseline anywhere in the sweep, so it cannot rank them."
    leaders = [name for name, c in counts.items() if c[BETTER] == most]
    agreement = ("in line with their finding" if leaders == [reported] else f"so the sweep does not single out {reported}"
                 if reported in leaders else f"not {reported} as they found")  # fmt: skip
    leaders[0] = leaders[0][:1].upper() + leaders[0][1:]  # it opens a sentence
    return (f"{head} {' and '.join(leaders)} {'is' if len(leaders) == 1 else 'are'} better at the most {unit}s, {agreement}; "
            "that is a count of verdicts against the baseline, not a test between remedies.")


def identical(baseline: Sequence[Record], other: Sequence[Record]) -> bool:
    """Whether two arms trained the same models: bit-identical test scores in every paired run (a remedy at a setting
    that changes nothing, such as class weights on a balanced set). Such an arm leaves the Holm family."""
    by_run = {r.run: r for r in baseline}
    return bool(other) and all(r.run in by_run and np.array_equal(r.trained.test_scores, by_run[r.run].trained.test_scores) for r in other)


def sweep(study: Study, recipes: Mapping[tuple[str, Any], Recipe], trend: bool = False) -> Sweep:
    """Train (name, x) -> recipe on every paired run and compare each name with "baseline" at the same x, with
    Holm's correction across every name and every x (arms identical to the baseline left out), so that scanning the
    x for one that crosses the line finds nothing by chance. With `trend`, each remedy's pre-stated test is its gain's
    slope against log10(x), with Holm's correction over the remedies."""
    unbalanced = "{}:{}".format(*study.data.counts.train_counts(UNBALANCED))
    resolved = {k: replace(r, train_set=UNBALANCED) if r.train_set == unbalanced else r for k, r in recipes.items()}
    records = study.train(list(dict.fromkeys(resolved.values())))
    return analyse_sweep({k: [rec for rec in records if rec.recipe == r] for k, r in resolved.items()}, trend)


def analyse_sweep(by_key: Mapping[tuple[str, Any], list[Record]], trend: bool = False) -> Sweep:
    """The comparisons of a sweep's records, (name, x) -> records: see `sweep`."""
    xs = list(dict.fromkeys(x for _, x in by_key))
    names = list(dict.fromkeys(name for name, _ in by_key))
    ap = {n: [[score_of(r) for r in by_key[(n, x)]] for x in xs] for n in names}
    remedies = [n for n in names if n != "baseline"]
    pairs = {(n, x): (by_key[("baseline", x)], by_key[(n, x)]) for n in remedies for x in xs}
    same = {k for k, (b, r) in pairs.items() if identical(b, r)}
    family = dict(zip([k for k in pairs if k not in same], holm([compare(*pairs[k], k[0]) for k in pairs if k not in same])))
    family |= {k: replace(compare(*pairs[k], k[0], n_boot=0), verdict=IDENTICAL) for k in same}
    gains = {n: [family[(n, x)] for x in xs] for n in remedies}
    trends = {}
    if trend and len(xs) > 1:  # a remedy that trains the baseline at every x has no trend to test
        tested = [n for n in remedies if not all((n, x) in same for x in xs)]
        trends = dict(zip(tested, holm([contrast([pairs[(n, x)] for x in xs], slope_weights(xs), n) for n in tested])))
    return Sweep(xs, dict(by_key), ap, gains, trends)


RATIO_GROUP = " at 1 : "  # how notebook 08 names its groups: "<remedy> at 1 : <ratio>"


def read_ratio_sweep(output_dir: str | Path, experiment: str = "08") -> Sweep:
    """The ratio sweep of a run folder, analysed again from its records (nothing is trained): for comparing runs."""
    folder = output_dir_of(str(output_dir))
    ensure_unpacked(folder)
    manifests = {n: m for n, m in load_manifests(folder).items() if n.startswith(experiment)}
    if len(manifests) != 1:
        raise DataError(f"{folder} holds {len(manifests)} experiments named {experiment}*; expected the ratio sweep's one")
    manifest = next(iter(manifests.values()))
    by_key = {}
    for name, group in manifest["groups"].items():
        remedy, _, ratio = name.rpartition(RATIO_GROUP)
        if group["role"] == "sweep" and remedy:
            by_key[(remedy, int(ratio) if float(ratio).is_integer() else float(ratio))] = load_group(folder, manifest, name)
    return analyse_sweep(dict(sorted(by_key.items(), key=lambda kv: kv[0][1])), trend=True)


def best_on_validation(chosen: Mapping[str, Sequence[Record]]) -> str:
    """The remedy whose chosen settings have the best mean validation AP: picked without the test set."""
    from .metrics import average_precision

    return max(chosen, key=lambda name: np.mean([average_precision(r.val_labels, r.trained.val_scores) for r in chosen[name]]))


def beside_stored(run_folder: str | Path, stored_folder: str | Path) -> str:
    """A short paragraph for the end of a run: its baseline's test AP and each remedy's mean gain over it, beside the
    same figures of the stored study, with how many paired runs each rests on."""
    mine, stored = read_run(run_folder), read_run(stored_folder)

    def mean_ap(records: Sequence[Record]) -> float:
        return float(np.mean([score_of(r) for r in records]))

    def splits(run: RunResults) -> str:
        p = next(iter(run.manifests.values()))["parameters"]
        return f"{len(run.baseline)} paired runs, at most {p['epochs']} epochs"

    gains = [f"{name} {signed(float(np.mean(paired_differences(mine.baseline, records))))} against "
             f"{signed(float(np.mean(paired_differences(stored.baseline, stored.chosen[name]))))}"
             for name, records in mine.chosen.items() if name in stored.chosen]  # fmt: skip
    chance = float(np.mean(mine.baseline[0].val_labels))
    text = (f"Beside the stored study: this run ({splits(mine)}) brought plain training to a test AP of {mean_ap(mine.baseline):.3f}, "
            f"the stored study ({splits(stored)}) to {mean_ap(stored.baseline):.3f}, against a chance level of {chance:.3f}.")  # fmt: skip
    if gains:
        text += (" Mean gain over plain training, this run against the stored study: " + "; ".join(gains) + ". A mean over a few"
                 " paired runs moves by several hundredths of AP from one run to the next; the stored notebooks give each"
                 " comparison's interval and what it could detect.")  # fmt: skip
    return text


def frozen_sentence(search: Sequence[Record], setting: Recipe) -> str:
    """The tuning phase's choice in words; where the settings tried vary in one number, whether the choice lies at
    an end of them (the grid may then stop short of a better setting)."""
    settings = list(dict.fromkeys(r.recipe for r in search))
    text = f"Frozen for the confirmation: {setting.setting}, the best mean validation AP over {len({r.run for r in search})} tuning runs."
    varying = [f for f in ("positive_weight", "positive_share", "negatives_per_positive", "augment")
               if len({getattr(s, f) for s in settings}) > 1]  # fmt: skip
    if len(settings) > 1 and len(varying) == 1 and all(s.focal == settings[0].focal for s in settings):
        values = sorted(getattr(s, varying[0]) for s in settings)
        if getattr(setting, varying[0]) in (values[0], values[-1]):
            end = "largest" if getattr(setting, varying[0]) == values[-1] else "smallest"
            text += (f" It is the {end} of the {len(settings)} settings tried, so a setting beyond them might do better on "
                     "validation; the comparison below is of this one.")  # fmt: skip
    return text
