"""A fingerprint of one short training, to compare between machines: is training identical on another processor?

    python benchmarks/fingerprint.py          # prints one line per setting: processor, oneDNN, threads, checksum

Each setting trains the same small model on the synthetic demo images in a fresh process (one seed, op determinism
on) and prints a checksum of its test scores. On one machine the checksums repeat exactly; run it on an AVX2 and an
AVX-512 machine and compare the lines to see which settings, if any, give the same training on both.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SETTINGS = [(True, 0), (True, 1), (False, 0), (False, 1)]  # (oneDNN, threads; 0 = every core)


def child(onednn: bool, threads: int) -> dict:
    """Train once and return the checksum of the test scores."""
    sys.path.insert(0, str(PROJECT_ROOT))
    import numpy as np

    from unbalanced.runtime import processor_kind, start_tensorflow

    start_tensorflow(onednn=onednn, threads=threads)
    from unbalanced.study import Study
    from unbalanced.training import oversampling

    parameters = dict(data_root="demo", positive_class="dogs", classes=[], image_size=32, batch_size=32, epochs=3, patience=0,
                      steps_per_epoch=0, negative_split_counts=[400, 200, 400], positive_split_counts=[40, 40, 40],
                      more_positives=40, split_seeds=[0], seeds=[42], target_recall=0.8, output_dir="/tmp/unbalanced-fingerprint",
                      onednn=onednn, threads=threads)  # fmt: skip
    study = Study.from_parameters(parameters)
    from unbalanced.tasks import Task, run_task

    record = run_task(Task(oversampling(0.5), 0, 42), study.protocol, study.data)
    digest = hashlib.sha256(np.asarray(record.trained.test_scores).tobytes()).hexdigest()[:16]
    return {"processor": processor_kind(), "onednn": onednn, "threads": threads, "checksum": digest}


def main() -> int:
    """Run every setting in its own process and print the fingerprints."""
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2] == "1", int(sys.argv[3]))))
        return 0
    for onednn, threads in SETTINGS:
        done = subprocess.run([sys.executable, __file__, "--child", str(int(onednn)), str(threads)], capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{r['processor']:8} oneDNN {'on ' if r['onednn'] else 'off'} threads {r['threads'] or 'all'}: {r['checksum']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
