"""Train the same photos on this process and on a Ray cluster; write both leaderboards and predictions as JSON.

Run by ``test_ray_cluster.py`` inside a network namespace that holds only loopback, beside a Ray head started
there: ``python ray_train.py ADDRESS FOLDER PHOTOS_PER_CLASS OUT.json`` (FOLDER holds ants/ and bees/).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from handful.classifier import Classifier


def leaderboard(clf: Classifier) -> list[dict[str, object]]:
    """The rows without their wall-clock seconds (the only field that may differ between two runs)."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in clf.leaderboard_]


def main(address: str, folder: Path, per_class: int, out: Path) -> None:
    import ray

    photos = [p for label in ("ants", "bees") for p in sorted((folder / label).glob("*.jpg"))[:per_class]]
    labels = [p.parent.name for p in photos]
    settings = dict(preset="fast", backbone="efficientnet-lite0", random_state=0, verbose=0, cache_dir=False)
    here = Classifier(**settings).fit(photos, labels)  # type: ignore[arg-type]
    used_ray_before = ray.is_initialized()
    there = Classifier(**settings, ray=address).fit(photos, labels)  # type: ignore[arg-type]
    out.write_text(json.dumps({
        "local": leaderboard(here), "ray": leaderboard(there),
        "winner": [here.backbone_ + "+" + here.learner_, there.backbone_ + "+" + there.learner_],
        "same_probabilities": bool(np.array_equal(here.predict_proba(photos), there.predict_proba(photos))),
        "ray_connected": ray.is_initialized() and not used_ray_before,
        "ray_cpus": ray.cluster_resources().get("CPU", 0) if ray.is_initialized() else 0,
        "n": len(photos),
    }, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
