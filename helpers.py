"""Shared data pipeline, model, evaluation, plots and result records for the notebook series.

Functions are grouped in the order data flows:
setup -> find files -> demo data -> split -> pipeline -> model -> train -> evaluate -> plot -> record results.
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of notebook outputs

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parent
DEMO_ROOT = PROJECT_ROOT / "data" / "demo"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
SPLIT_NAMES = ("train_balanced", "train_unbalanced", "val", "test")
RESULTS_DIRNAME = "results"


class DataError(ValueError):
    """Raised when the data root, a class folder or a split request cannot be used."""


# --------------------------------------------------------------------------- setup


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """Return `path` as an absolute path; relative paths are taken from the project root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (PROJECT_ROOT / p).resolve()


def collect_parameters(namespace: Mapping[str, Any], names_before: Iterable[str]) -> dict[str, Any]:
    """Return the public names a notebook defined since `names_before` was taken: its parameters, injected ones included."""
    before = set(names_before)
    return {k: v for k, v in namespace.items() if k not in before and not k.startswith("_")}


def configure_gpus() -> list[str]:
    """Turn on memory growth for every visible GPU and return their names (empty on CPU)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    return [gpu.name for gpu in gpus]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow ops deterministic."""
    import keras
    import tensorflow as tf

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


# --------------------------------------------------------------------------- find files


def find_class_files(data_root: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """Map each class folder under `<data_root>/train/` (sorted by name) to its sorted image files."""
    root = Path(data_root)
    train_dir = root / "train"
    if not root.is_dir():
        raise DataError(f"data root {root} does not exist: pass the folder that holds train/<class>/ images")
    if not train_dir.is_dir():
        raise DataError(f"{train_dir} is missing: the data root must hold train/<class>/<image files>")
    class_dirs = sorted(p for p in train_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"{train_dir} has no class folders: expected train/<class>/<image files>")
    files = {
        d.name: sorted(
            f for f in d.iterdir() if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_EXTENSIONS
        )
        for d in class_dirs
    }
    empty = [name for name, fs in files.items() if not fs]
    if empty:
        raise DataError(f"class folder(s) {', '.join(str(train_dir / e) for e in empty)} hold no image files")
    return files


def class_roles(class_names: Sequence[str], positive_class: str) -> tuple[str, str]:
    """Return (negative, positive) class names for a two-class folder, checking the positive one exists."""
    names = list(class_names)
    if len(names) != 2:
        raise DataError(f"expected exactly two class folders under train/, found {len(names)}: {names}")
    if positive_class not in names:
        raise DataError(f"positive_class={positive_class!r} is not a class folder; choose one of {names}")
    negative = next(n for n in names if n != positive_class)
    return negative, positive_class


def count_table(files_by_class: Mapping[str, Sequence[Path]]) -> pd.DataFrame:
    """Return a table of the number of image files per class."""
    return pd.DataFrame({"class": list(files_by_class), "files": [len(v) for v in files_by_class.values()]}).set_index(
        "class"
    )


# --------------------------------------------------------------------------- demo data


def _demo_image(rng: np.random.Generator, positive: bool, size: int) -> np.ndarray:
    """Draw one synthetic RGB image: a noisy textured background with a blob whose hue depends on the class."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    background = rng.uniform(0.2, 0.8, 3).astype(np.float32)
    gradient = rng.uniform(-0.3, 0.3, (2, 3)).astype(np.float32)
    img = background + yy[..., None] * gradient[0] + xx[..., None] * gradient[1]
    # Class signal: a hue score drawn from overlapping Gaussians (d' = 1.6), so no classifier is perfect.
    score = rng.normal(1.6 if positive else 0.0, 1.0)
    warmth = 1.0 / (1.0 + math.exp(-(score - 0.8)))
    colour = np.array([0.25 + 0.7 * warmth, 0.35, 0.95 - 0.7 * warmth], dtype=np.float32)
    cy, cx = rng.uniform(0.25, 0.75, 2)
    ry, rx = rng.uniform(0.12, 0.28, 2)
    blob = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) <= 1.0
    img[blob] = colour
    # A distractor blob of random colour, so the signal is not simply the mean colour.
    dy, dx = rng.uniform(0.1, 0.9, 2)
    distractor = (((yy - dy) / 0.12) ** 2 + ((xx - dx) / 0.12) ** 2) <= 1.0
    img[distractor] = rng.uniform(0.0, 1.0, 3)
    img += rng.normal(0.0, 0.06, img.shape).astype(np.float32)
    return (np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)


def make_demo_dataset(
    root: str | os.PathLike[str] = DEMO_ROOT,
    per_class: int = 2500,
    classes: tuple[str, str] = ("cats", "dogs"),
    seed: int = 0,
) -> Path:
    """Write the synthetic two-class JPEG dataset to `<root>/train/<class>/` once; return the root."""
    from PIL import Image

    root = Path(root)
    marker = root / f".complete-{per_class}-{seed}"
    if marker.exists():
        return root
    for label, name in enumerate(classes):
        out = root / "train" / name
        out.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, label])
        for i in range(per_class):
            size = int(rng.integers(56, 97))
            Image.fromarray(_demo_image(rng, positive=label == 1, size=size)).save(out / f"{name[:-1]}.{i}.jpg", quality=90)
    marker.touch()
    return root


def data_root_or_demo(data_root: str) -> Path:
    """Return the data root to use: the given folder, or the built-in demo dataset when it is empty."""
    return make_demo_dataset() if not data_root else resolve_path(data_root)


# --------------------------------------------------------------------------- split


@dataclass(frozen=True)
class Split:
    """Image files of one split and their labels (1 = positive class)."""

    files: tuple[str, ...]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.files)

    @property
    def positives(self) -> int:
        """Number of positive-class files in the split."""
        return int(self.labels.sum())


def split_files(
    files_by_class: Mapping[str, Sequence[Path]],
    counts: Mapping[str, Sequence[int]],
    positive_class: str,
    seed: int,
    split_names: Sequence[str] = SPLIT_NAMES,
) -> dict[str, Split]:
    """Shuffle each class's files with `seed` and cut disjoint splits of the given sizes per class."""
    per_split: dict[str, list[tuple[str, int]]] = {name: [] for name in split_names}
    for class_name in sorted(counts):
        wanted = list(counts[class_name])
        if class_name not in files_by_class:
            raise DataError(f"split counts name class {class_name!r}, which is not a class folder: {sorted(files_by_class)}")
        if len(wanted) != len(split_names):
            raise DataError(f"class {class_name!r}: give {len(split_names)} split counts {list(split_names)}, got {wanted}")
        if any(int(c) < 0 for c in wanted):
            raise DataError(f"class {class_name!r}: split counts must not be negative, got {wanted}")
        available = sorted(files_by_class[class_name])
        if sum(wanted) > len(available):
            raise DataError(
                f"class {class_name!r}: the splits ask for {sum(wanted)} files {wanted} but only {len(available)} "
                "were found; lower the split counts"
            )
        order = np.random.default_rng(seed).permutation(len(available))
        label = int(class_name == positive_class)
        start = 0
        for split_name, n in zip(split_names, wanted):
            chosen = [available[i] for i in order[start : start + int(n)]]
            per_split[split_name].extend((str(f), label) for f in chosen)
            start += int(n)
    return {
        name: Split(tuple(f for f, _ in items), np.array([lab for _, lab in items], dtype=np.int32))
        for name, items in per_split.items()
    }


def split_table(splits: Mapping[str, Split], negative: str, positive: str) -> pd.DataFrame:
    """Return a table of negatives, positives, total and positive share per split."""
    rows = [
        {
            "split": name,
            negative: len(s) - s.positives,
            positive: s.positives,
            "total": len(s),
            "positive share": round(s.positives / len(s), 3) if len(s) else float("nan"),
        }
        for name, s in splits.items()
    ]
    return pd.DataFrame(rows).set_index("split")


# --------------------------------------------------------------------------- pipeline


def decode_image(path: Any, image_size: int) -> Any:
    """Read an image file and return it resized to image_size x image_size as uint8 RGB."""
    import tensorflow as tf

    raw = tf.io.read_file(path)
    img = tf.io.decode_image(raw, channels=3, expand_animations=False)
    img = tf.image.resize(img, (image_size, image_size))
    return tf.cast(tf.clip_by_value(tf.round(img), 0.0, 255.0), tf.uint8)


def make_dataset(split: Split, image_size: int, batch_size: int, shuffle: bool, seed: int) -> Any:
    """Build a tf.data pipeline: decode once (cached), optionally shuffle each epoch, scale to [0, 1], batch, prefetch."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((list(split.files), split.labels.astype(np.float32)))
    ds = ds.map(lambda p, y: (decode_image(p, image_size), y), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------- model


def build_cnn(image_size: int, output_bias: float | None = None) -> Any:
    """Build the original post's 3-conv CNN (32/64/128 filters, dropout 0.15/0.15/0.4, dense 64, sigmoid)."""
    import keras
    from keras import layers

    bias = keras.initializers.Constant(output_bias) if output_bias is not None else "zeros"
    conv = dict(kernel_size=(3, 3), padding="same", kernel_initializer="he_uniform", activation="relu")
    return keras.Sequential(
        [
            keras.Input(shape=(image_size, image_size, 3)),
            layers.Conv2D(32, **conv),
            layers.MaxPool2D((2, 2)),
            layers.Dropout(0.15),
            layers.Conv2D(64, **conv),
            layers.MaxPool2D((2, 2)),
            layers.Dropout(0.15),
            layers.Conv2D(128, **conv),
            layers.MaxPool2D((2, 2)),
            layers.Flatten(),
            layers.Dense(64, activation="relu", kernel_initializer="he_uniform"),
            layers.Dropout(0.4),
            layers.Dense(1, activation="sigmoid", bias_initializer=bias),
        ],
        name="cnn",
    )


def training_metrics() -> list[Any]:
    """Return the metrics tracked during training: counts, accuracy, precision, recall, ROC-AUC and PR-AUC."""
    from keras import metrics

    return [
        metrics.TruePositives(name="tp"),
        metrics.FalsePositives(name="fp"),
        metrics.TrueNegatives(name="tn"),
        metrics.FalseNegatives(name="fn"),
        metrics.BinaryAccuracy(name="accuracy"),
        metrics.Precision(name="precision"),
        metrics.Recall(name="recall"),
        metrics.AUC(name="roc_auc", curve="ROC"),
        metrics.AUC(name="pr_auc", curve="PR"),
    ]


def compile_model(model: Any, learning_rate: float = 1e-3) -> Any:
    """Compile `model` with Adam, binary cross-entropy and the training metrics; return it."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=training_metrics(),
    )
    return model


# --------------------------------------------------------------------------- train


def train_model(
    model: Any,
    train_ds: Any,
    val_ds: Any,
    epochs: int,
    class_weight: Mapping[int, float] | None = None,
    verbose: int = 2,
) -> dict[str, list[float]]:
    """Fit `model` and return its per-epoch history (train and validation metrics)."""
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=epochs,
        class_weight=dict(class_weight) if class_weight else None,
        shuffle=False,  # the tf.data pipeline shuffles each epoch itself
        verbose=verbose,
    )
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


# --------------------------------------------------------------------------- evaluate


def predict_scores(model: Any, ds: Any) -> np.ndarray:
    """Return the model's positive-class probabilities for an unshuffled dataset, in dataset order."""
    return np.asarray(model.predict(ds, verbose=0), dtype=np.float64).reshape(-1)


def evaluation_row(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Compute counts and scikit-learn metrics for one model's scores at `threshold`."""
    from sklearn import metrics as skm

    labels = np.asarray(labels).astype(int)
    predicted = (np.asarray(scores) >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    both_classes = len(np.unique(labels)) == 2
    return {
        "TP": int(tp),
        "FP": int(fp),
        "TN": int(tn),
        "FN": int(fn),
        "accuracy": skm.accuracy_score(labels, predicted),
        "precision": skm.precision_score(labels, predicted, zero_division=0),
        "recall": skm.recall_score(labels, predicted, zero_division=0),
        "F1": skm.f1_score(labels, predicted, zero_division=0),
        "balanced accuracy": skm.balanced_accuracy_score(labels, predicted),
        "ROC-AUC": skm.roc_auc_score(labels, scores) if both_classes else float("nan"),
        "PR-AUC": skm.average_precision_score(labels, scores) if both_classes else float("nan"),
    }


def evaluation_table(labels: np.ndarray, scores_by_model: Mapping[str, np.ndarray], threshold: float = 0.5) -> pd.DataFrame:
    """Return one row of test metrics per model (threshold metrics at `threshold`, plus ROC-AUC and PR-AUC)."""
    table = pd.DataFrame({name: evaluation_row(labels, s, threshold) for name, s in scores_by_model.items()}).T
    table.index.name = "model"
    counts = ["TP", "FP", "TN", "FN"]
    return table.astype({c: int for c in counts})


def fast_roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC from the rank sum of the positives (ties share ranks); equals sklearn's roc_auc_score."""
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fast_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """PR-AUC as average precision over distinct thresholds; equals sklearn's average_precision_score."""
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    s, y = np.asarray(scores)[order], np.asarray(labels)[order].astype(np.int64)
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(y)[last_of_tie]
    fp = np.cumsum(1 - y)[last_of_tie]
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * tp / (tp + fp)))


def paired_bootstrap(
    labels: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    metric: str = "PR-AUC",
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Return metric(a) - metric(b) on the test set and its 95% paired, class-stratified bootstrap interval."""
    fn = {"PR-AUC": fast_average_precision, "ROC-AUC": fast_roc_auc}[metric]
    labels = np.asarray(labels).astype(int)
    a, b = np.asarray(scores_a), np.asarray(scores_b)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])  # both classes in every resample
        diffs[i] = fn(labels[idx], a[idx]) - fn(labels[idx], b[idx])
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(fn(labels, a) - fn(labels, b)), float(low), float(high)


def describe_difference(name_a: str, name_b: str, diff: float, low: float, high: float, metric: str = "PR-AUC") -> str:
    """Say in one sentence whether a paired difference is larger than test-set noise."""
    verdict = (
        "larger than test-set noise (the 95% interval excludes 0)"
        if low > 0 or high < 0
        else "within test-set noise (the 95% interval includes 0)"
    )
    return f"{metric} {name_a} − {name_b}: {diff:+.3f} (95% CI {low:+.3f} to {high:+.3f}), {verdict}."


# --------------------------------------------------------------------------- plot


def plot_loss(history: Mapping[str, Sequence[float]], title: str, ax: Any = None) -> Any:
    """Plot training vs validation loss per epoch."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax.plot(epochs, history["loss"], label="train")
    ax.plot(epochs, history["val_loss"], "--", label="validation")
    ax.set(title=title, xlabel="epoch", ylabel="loss")
    ax.legend()
    return ax


def plot_confusion_matrix(
    labels: np.ndarray, scores: np.ndarray, class_names: Sequence[str], title: str, threshold: float = 0.5, ax: Any = None
) -> Any:
    """Draw the confusion matrix at `threshold` as a seaborn heatmap (rows: truth, columns: prediction)."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from sklearn.metrics import confusion_matrix

    ax = ax or plt.subplots(figsize=(4, 3.5))[1]
    cm = confusion_matrix(np.asarray(labels).astype(int), (np.asarray(scores) >= threshold).astype(int), labels=[0, 1])
    sns.heatmap(cm, annot=True, fmt="d", cmap="rocket_r", cbar=False, ax=ax, xticklabels=class_names, yticklabels=class_names)
    ax.set(title=f"{title} @ {threshold:.2f}", xlabel="predicted", ylabel="truth")
    return ax


def plot_sample_grid(files_by_class: Mapping[str, Sequence[Path]], per_class: int = 6, seed: int = 0) -> Any:
    """Show `per_class` randomly chosen images of each class, one row per class."""
    import matplotlib.pyplot as plt
    from PIL import Image

    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(files_by_class), per_class, figsize=(1.6 * per_class, 1.8 * len(files_by_class)), squeeze=False)
    for row, (name, files) in zip(axes, files_by_class.items()):
        picks = rng.choice(len(files), size=min(per_class, len(files)), replace=False)
        for ax, i in zip(row, picks):
            with Image.open(files[i]) as im:
                ax.imshow(im.convert("RGB"))
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(name)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- record results


def _json_safe(value: Any) -> Any:
    """Convert NumPy/pandas scalars and arrays (recursively) into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> Path:
    """Write `payload` as JSON to `path` through a temporary file and a rename, so no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_json_safe(payload), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def save_results(
    output_dir: str | os.PathLike[str],
    experiment: str,
    parameters: Mapping[str, Any],
    test: Split,
    data_root: Path,
    scores_by_model: Mapping[str, np.ndarray],
    table: pd.DataFrame,
    histories: Mapping[str, Mapping[str, Sequence[float]]],
) -> Path:
    """Record one experiment's parameters, metrics table, test labels and scores as `<output_dir>/results/<experiment>.json`."""
    payload = {
        "experiment": experiment,
        "parameters": {k: v for k, v in parameters.items() if k != "output_dir"},  # the file's own folder: left out
        "metrics": {model: row for model, row in table.to_dict(orient="index").items()},
        "test": {
            "files": [os.path.relpath(f, data_root) for f in test.files],
            "labels": test.labels,
            "scores": {name: np.round(s, 6) for name, s in scores_by_model.items()},
        },
        "histories": histories,
    }
    return write_json_atomic(resolve_path(output_dir) / RESULTS_DIRNAME / f"{experiment}.json", payload)


def load_results(output_dir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read every results file of a run folder, keyed by experiment name."""
    folder = resolve_path(output_dir) / RESULTS_DIRNAME
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}
