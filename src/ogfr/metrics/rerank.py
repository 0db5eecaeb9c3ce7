"""k-reciprocal re-ranking (Zhong et al., CVPR 2017). Placeholder until the memory-bounded version lands."""

from __future__ import annotations

from typing import Any


def re_ranking(
    q_g_dist: Any, q_q_dist: Any, g_g_dist: Any, k1: int = 20, k2: int = 6, lambda_value: float = 0.3
) -> Any:
    raise NotImplementedError("re_ranking: not implemented yet")


def rerank_features(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("rerank: not implemented yet")
