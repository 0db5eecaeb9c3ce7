"""Input validation shared by the metrics modules: every error names the argument at fault."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


def as_float_tensor(x: Any, name: str, ndim: int) -> Tensor:
    """``x`` as a floating tensor with ``ndim`` dims, non-empty and finite; no copy when already one."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor or numpy array, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    if x.dim() != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {tuple(x.shape)}")
    if x.numel() == 0 or x.shape[0] == 0:
        raise ValueError(f"{name}: is empty (shape {tuple(x.shape)})")
    lo, hi = torch.aminmax(x)  # NaN propagates, Inf shows up: much cheaper than isfinite().all()
    if not (bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name}: contains {bad} NaN or Inf value(s)")
    return x


def as_bool_tensor(x: Any, name: str, shape: tuple[int, ...]) -> Tensor:
    """``x`` as a bool tensor of exactly ``shape`` (other dtypes are refused, not cast)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, Tensor):
        raise ValueError(f"{name}: expected a bool torch.Tensor, got {type(x).__name__}")
    if x.dtype != torch.bool:
        raise ValueError(f"{name}: expected dtype torch.bool (visible = True), got {x.dtype}")
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(x.shape)}")
    return x


def as_ids(x: Any, name: str, n: int | None = None) -> np.ndarray:
    """Person or camera ids as a 1-D int64 numpy array (tensors, lists and arrays accepted)."""
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of integer ids, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if (
            np.issubdtype(arr.dtype, np.floating)
            and np.all(np.isfinite(arr))
            and np.all(arr == np.round(arr))
        ):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name}: expected integer ids, got dtype {arr.dtype}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(
            f"{name}: expected {n} ids (one per row/column of the distances), got {arr.shape[0]}"
        )
    return arr.astype(np.int64, copy=False)


def check_rerank_params(k1: int, k2: int, lambda_value: float) -> None:
    """k-reciprocal re-ranking parameters: k1 >= 1, 1 <= k2 <= k1 + 1, lambda_value in [0, 1]."""
    if not isinstance(k1, int) or isinstance(k1, bool) or k1 < 1:
        raise ValueError(f"k1: expected an integer >= 1, got {k1!r}")
    if not isinstance(k2, int) or isinstance(k2, bool) or not 1 <= k2 <= k1 + 1:
        raise ValueError(f"k2: expected an integer in [1, k1 + 1] = [1, {k1 + 1}], got {k2!r}")
    if not isinstance(lambda_value, (int, float)) or not 0.0 <= float(lambda_value) <= 1.0:
        raise ValueError(f"lambda_value: expected a number in [0, 1], got {lambda_value!r}")
