"""Tests for the benchmarks' parts: the original pipeline, the ported original script, the reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from unbalanced.cache import IMAGE_CACHE_ENV
from unbalanced.storage import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
import pipeline as bm  # noqa: E402


def test_original_pipeline_decodes_every_file_with_its_label(tiny_demo_root: Path):
    files, labels = bm.labelled_files(tiny_demo_root, per_class=5)
    assert labels == [0] * 5 + [1] * 5 and all("/cats/" in f for f in files[:5])
    xs, ys = zip(*bm.original_dataset(files, labels, 24, batch_size=4))
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert x.shape == (10, 24, 24, 3) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert sorted(y.tolist()) == sorted(labels)


def test_original_pipeline_is_sequential_unless_tensorflow_may_parallelise_it(tiny_demo_root: Path):
    files, labels = bm.labelled_files(tiny_demo_root, per_class=2)
    assert bm.original_dataset(files, labels, 8).options().experimental_optimization.map_parallelization is False
    assert bm.original_dataset(files, labels, 8, sequential=False).options().experimental_optimization.map_parallelization is True


def _raw(first_pass_project: float, epoch_project: float) -> dict:
    return {
        "first_pass_images_per_s": {"original": [1000, 1100, 900], "original_auto_parallel": [2000], "project": [first_pass_project], "cached": [50000]},
        "steady": {"images_per_epoch": 1000, "epoch_seconds": {"original": [10, 11], "project": [epoch_project], "in_memory": [5.0, 5.0]}},
        "memory_cold": {"images": 25000, "peak_rss_mb": 900.0}, "memory_cached": {"images": 25000, "peak_rss_mb": 700.0},
    }  # fmt: skip


def test_summary_compares_medians_and_the_table_says_which_targets_are_met():
    met = bm.summarise(_raw(first_pass_project=2500, epoch_project=5.1))
    assert met["first_pass_speedup"] == pytest.approx(2.5) and met["steady_epoch_ratio"] == pytest.approx(1.02)
    assert met["peak_memory_mb"] == 900.0
    assert bm.table(met, _raw(2500, 5.1)).count("NOT met") == 0
    missed = bm.summarise(_raw(first_pass_project=1500, epoch_project=6.0))
    text = bm.table(missed, _raw(1500, 6.0))
    assert text.count("NOT met") == 2 and missed["first_pass_auto_parallel_speedup"] == pytest.approx(0.75)


@pytest.mark.slow
def test_first_pass_children_count_every_image_and_see_the_cache(tiny_demo_root: Path, tmp_path: Path):
    env = {IMAGE_CACHE_ENV: str(tmp_path / "cache")}
    original = bm.run_child("first-pass", "original", tiny_demo_root, 24, env=env)
    cold = bm.run_child("first-pass", "project", tiny_demo_root, 24, env=env)
    warm = bm.run_child("first-pass", "cached", tiny_demo_root, 24, env=env)  # asserts the cache was used
    parallel = bm.run_child("first-pass", "original_auto_parallel", tiny_demo_root, 24, env=env)
    assert original["images"] == parallel["images"] == cold["images"] == warm["images"] == 80


@pytest.mark.slow
def test_ported_original_script_runs_its_five_models(tiny_demo_root: Path):
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "benchmarks" / "original_post.py"), "--data-root",
                           str(tiny_demo_root), "--scale", "0.01", "--epochs", "1", "--image-size", "24"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("balanced", "unbalanced", "class weight 10", "class weight 25", "oversampled"):
        assert f"{name}: done" in done.stdout
    assert "oversampled positives: 10" in done.stdout


def test_the_splits_a_study_needs_follow_the_normal_approximation_and_the_image_term_caps_them():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import power

    # no image term: ((z(1 - 0.05/12) + z(0.8)) * 0.04 / 0.03)^2 = 21.5 splits, a little more with t
    assert 22 <= power.splits_needed(0.03, 0.04, 0.0, 6) <= 26
    assert power.splits_needed(0.03, 0.04, 0.0055, 6) > power.splits_needed(0.03, 0.04, 0.0, 6)
    assert power.splits_needed(0.03, 0.04, 0.01, 6, most=2000) is None  # (2.64 + 0.84) * 0.01 > 0.03: out of reach
    assert power.detectable(40, 0.04, 0.0055, 6) < power.detectable(20, 0.04, 0.0055, 6)
