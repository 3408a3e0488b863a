"""XGBoost's dense inplace prediction for a served model: the proxy and configuration kept across calls."""

from __future__ import annotations

import ctypes
import json
import threading
from typing import TYPE_CHECKING

import numpy as np

from ensemble_byoc.errors import AlgorithmError

if TYPE_CHECKING:  # the adapter (xgboost_model) loads XGBoost; this module only reaches into it
    import xgboost as xgb


class DensePredictor:
    """XGBoost's C inplace prediction (``XGBoosterPredictFromDense``) for dense float64 rows.

    ``Booster.inplace_predict`` makes a new proxy DMatrix on every call, whose context reads the cgroup
    CPU-quota files (about ten system calls), and rebuilds its JSON arguments in Python; for one row that
    is most of the call. This keeps one proxy DMatrix (the C API takes it for meta information, as
    ``inplace_predict`` does for a base margin) and the configuration string, so a one-row call costs
    about a third. It uses the same C function, so the predictions are the same bits (``for_booster``
    checks that); calls are serialised by a lock, as the proxy is shared.
    """

    _CONFIG = json.dumps({"type": 0, "training": False, "iteration_begin": 0, "iteration_end": 0,
                          "strict_shape": False, "missing": float("nan"), "cache_id": 0}).encode("utf-8")

    def __init__(self, booster: xgb.Booster) -> None:
        from xgboost import core  # the C library handle and its error check live there

        self._booster = booster
        self._lib = core._LIB
        self._check = core._check_call
        self._proxy = core._ProxyDMatrix()
        self._shape = ctypes.POINTER(core.c_bst_ulong)()  # type: ignore[attr-defined]  # not re-exported
        self._dims = core.c_bst_ulong()  # type: ignore[attr-defined]
        self._out = ctypes.POINTER(ctypes.c_float)()
        self._lock = threading.Lock()

    @classmethod
    def for_booster(cls, booster: xgb.Booster) -> DensePredictor | None:
        """The fast path, if this XGBoost has it and it predicts exactly what ``inplace_predict`` does."""
        try:
            predictor = cls(booster)
            rows = np.random.default_rng(0).normal(scale=100.0, size=(16, booster.num_features()))
            rows[::3, ::2] = np.nan
            expected = booster.inplace_predict(rows, validate_features=False)
            if not np.array_equal(predictor(rows), expected, equal_nan=True):
                return None
        except Exception:  # noqa: BLE001 - an XGBoost without these internals keeps inplace_predict
            return None
        return predictor

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        interface = json.dumps({"data": [X.ctypes.data, True], "shape": list(X.shape), "strides": None,
                                "typestr": X.dtype.str, "version": 3}).encode("utf-8")
        with self._lock:
            self._check(self._lib.XGBoosterPredictFromDense(
                self._booster.handle, interface, self._CONFIG, self._proxy.handle,
                ctypes.byref(self._shape), ctypes.byref(self._dims), ctypes.byref(self._out),
            ))
            if self._dims.value != 1 or self._shape[0] != X.shape[0]:
                msg = (
                    f"xgboost answered shape {self._shape[0]} x {self._dims.value} "
                                     f"for {X.shape[0]} rows."
                )
                raise AlgorithmError(msg)
            return np.ctypeslib.as_array(self._out, shape=(X.shape[0],)).astype(np.float64)
