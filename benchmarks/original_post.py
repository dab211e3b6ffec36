"""The original post's experiment sequence, re-implemented as one plain script: the baseline of the benchmark.

Kept faithful where it costs time: file lists from `list_files` cut with skip/take in file order, one
`sample_from_datasets` per split, a plain `.map(parse_file)` that decodes every image again in every epoch
(no cache, no num_parallel_calls: one image at a time, as written, unless --auto-parallel-map lets
TensorFlow 2.21's map_parallelization optimisation parallelise it), float32 images, the same CNN, five models (balanced, unbalanced, class
weight 10, class weight 25, oversampled by repeating the rare class 10 times), 4 epochs, validation every
epoch, `evaluate` and `predict` on the test split, loss curves and confusion-matrix heatmaps. Two of the
post's mistakes are not copied because they change nothing the benchmark measures: round 2 trains with
weight 25, and each model is evaluated itself. Updated only where TensorFlow 2.21 requires it
(no ConfigProto sessions; `keras.Input` instead of `input_shape`).

    python benchmarks/original_post.py --data-root ../shared/data/cats-vs-dogs-sample
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ORIGINAL_COUNTS = {"cats": [1000, 1000, 1000, 1000], "dogs": [1000, 100, 100, 100]}  # the post's split sizes


def prep_image(filename: Any, size: int) -> Any:
    """The post's image step: read, decode at full size, convert to float32, resize (bilinear, no antialiasing)."""
    import tensorflow as tf

    image = tf.image.convert_image_dtype(tf.io.decode_jpeg(tf.io.read_file(filename), channels=3), tf.float32)
    return tf.image.resize(image, (size, size))


def map_options(auto_parallel_map: bool = False) -> Any:
    """tf.data options for the post's plain map: one image at a time, unless TensorFlow may parallelise it itself."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_optimization.map_parallelization = auto_parallel_map
    return options


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", required=True, help="folder with train/cats/ and train/dogs/")
    p.add_argument("--scale", type=float, default=0.25, help="multiply the post's split counts by this (default 1/4)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--auto-parallel-map", action="store_true",
                   help="let TensorFlow 2.21 parallelise the plain map itself (default: one image at a time, as written)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the post's sequence; print the wall time of the whole script, start-up included."""
    args = build_parser().parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns
    import tensorflow as tf
    from matplotlib import pyplot as plt
    from sklearn.metrics import confusion_matrix
    from tensorflow import keras
    from tensorflow.keras import metrics
    from tensorflow.keras.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
    from tensorflow.keras.models import Sequential

    AUTOTUNE = tf.data.AUTOTUNE
    BATCH_SIZE = 32
    tf.random.set_seed(42)
    image_dir = Path(args.data_root) / "train"
    class_names = sorted(os.listdir(image_dir))
    size = args.image_size

    def subset_dataset(dataset: tf.data.Dataset, splits: list[int]) -> list[tf.data.Dataset]:
        """Cut consecutive, non-overlapping pieces of the given sizes."""
        assert sum(splits) <= dataset.cardinality().numpy(), "splits exceed the dataset"
        pieces, used = [], 0
        for n in splits:
            pieces.append(dataset.skip(used).take(n))
            used += n
        return pieces

    def prep_label(filename):
        parts = tf.strings.split(filename, sep=os.path.sep)
        return tf.argmax(parts[-2] == class_names)

    def parse_file(filename):
        return prep_image(filename, size), prep_label(filename)

    options = map_options(args.auto_parallel_map)

    def prepare_dataset(*datasets):
        dataset = tf.data.Dataset.sample_from_datasets(list(datasets), seed=42)
        return dataset.map(parse_file).batch(BATCH_SIZE).prefetch(AUTOTUNE).with_options(options)

    def all_metrics():
        return [metrics.TruePositives(name="tp"), metrics.FalsePositives(name="fp"), metrics.TrueNegatives(name="tn"),
                metrics.FalseNegatives(name="fn"), metrics.BinaryAccuracy(name="accuracy"),
                metrics.Precision(name="precision"), metrics.Recall(name="recall")]  # fmt: skip

    def get_model():
        conv = dict(kernel_size=(3, 3), padding="same", strides=(1, 1), kernel_initializer="he_uniform", activation="relu")
        model = Sequential([keras.Input(shape=(size, size, 3)), Conv2D(32, **conv), MaxPool2D((2, 2)), Dropout(0.15),
                            Conv2D(64, **conv), MaxPool2D((2, 2)), Dropout(0.15), Conv2D(128, **conv),
                            MaxPool2D((2, 2)), Flatten(), Dense(64, activation="relu", kernel_initializer="he_uniform"),
                            Dropout(0.4), Dense(1, activation="sigmoid")])  # fmt: skip
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=all_metrics())
        return model

    def plot_loss(history, label):
        plt.plot(history.epoch, history.history["loss"], label="Train " + label)
        plt.plot(history.epoch, history.history["val_loss"], label="Val " + label, linestyle="--")
        plt.legend()

    def plot_cm(labels, predictions, p=0.5):
        plt.figure(figsize=(5, 5))
        sns.heatmap(confusion_matrix(labels, predictions > p), annot=True, fmt="d", cmap=sns.cm.rocket_r)

    def show():
        plt.savefig(io.BytesIO(), format="png")  # what an inline backend does with every figure
        plt.close("all")

    scale = lambda counts: [max(1, round(n * args.scale)) for n in counts]  # noqa: E731
    cat_ds = tf.data.Dataset.list_files(str(image_dir / "cats" / "*"), shuffle=False, seed=42)
    dog_ds = tf.data.Dataset.list_files(str(image_dir / "dogs" / "*"), shuffle=False, seed=42)
    cat_bal, cat_unbal, cat_val, cat_test = subset_dataset(cat_ds, scale(ORIGINAL_COUNTS["cats"]))
    dog_bal, dog_unbal, dog_val, dog_test = subset_dataset(dog_ds, scale(ORIGINAL_COUNTS["dogs"]))
    train_balanced = prepare_dataset(cat_bal, dog_bal)
    train_unbalanced = prepare_dataset(cat_unbal, dog_unbal)
    val_ds = prepare_dataset(cat_val, dog_val)
    test_ds = prepare_dataset(cat_test, dog_test)
    test_labels = tf.concat([y for _, y in test_ds], axis=0)

    def experiment(name, train_ds, class_weight=None):
        model = get_model()
        history = model.fit(train_ds, epochs=args.epochs, validation_data=val_ds, class_weight=class_weight, verbose=2)
        plot_loss(history, name)
        show()
        model.evaluate(test_ds, batch_size=BATCH_SIZE, verbose=0)
        plot_cm(test_labels, model.predict(test_ds, verbose=0))
        show()
        print(f"{name}: done", flush=True)

    experiment("balanced", train_balanced)
    experiment("unbalanced", train_unbalanced)
    experiment("class weight 10", train_unbalanced, {0: 1, 1: 10})
    experiment("class weight 25", train_unbalanced, {0: 1, 1: 25})
    resampled = tf.data.Dataset.sample_from_datasets([cat_unbal, dog_unbal.repeat(10)], weights=[0.5, 0.5], seed=42)
    resampled = resampled.map(parse_file).batch(BATCH_SIZE).prefetch(AUTOTUNE).with_options(options)
    print("oversampled positives:", int(tf.reduce_sum(tf.concat([y for _, y in resampled], axis=0))))
    experiment("oversampled", resampled)
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    status = main()
    print(f"wall time: {time.perf_counter() - start:.1f} s (after interpreter start)", file=sys.stderr)
    sys.exit(status)
