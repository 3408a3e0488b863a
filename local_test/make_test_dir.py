"""Write local_test/test_dir: a ready /opt/ml tree on scikit-learn's diabetes data (no download).

Run once to regenerate the committed files: python local_test/make_test_dir.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sklearn.datasets import load_diabetes

HERE = Path(__file__).resolve().parent
BASE = HERE / "test_dir"


def main() -> None:
    data = load_diabetes(scaled=False)
    config = BASE / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    hyperparameters = {"k_fold": "5", "eta": "0.05", "max_depth": "4", "num_round": "1000",
                       "early_stopping_rounds": "50", "seed": "0"}
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters, indent=1) + "\n")
    (config / "inputdataconfig.json").write_text(
        json.dumps({"train": {"TrainingInputMode": "File", "ContentType": "text/csv"}}, indent=1) + "\n")
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}, indent=1) + "\n")
    train = BASE / "input" / "data" / "train"
    train.mkdir(parents=True, exist_ok=True)
    with (train / "diabetes.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        for features, label in zip(data.data, data.target):
            writer.writerow([repr(float(label)), *(repr(float(v)) for v in features)])
    with (HERE / "payload.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        for features in data.data[:5]:
            writer.writerow([repr(float(v)) for v in features])
    for empty in ("model", "output"):
        (BASE / empty).mkdir(exist_ok=True)
        (BASE / empty / ".gitkeep").touch()


if __name__ == "__main__":
    main()
