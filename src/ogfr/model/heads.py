"""BNNeck identity classifiers (TransReID): BatchNorm1d with a frozen zero bias, then a bias-free linear
layer initialised with std 0.001. The ID loss uses the post-BN logits; retrieval uses the pre-BN feature."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BNNeck(nn.Module):
    """One feature -> identity logits."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.bn = nn.BatchNorm1d(dim)
        self.bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)

    def forward(self, feat: torch.Tensor, update_stats: bool = True) -> torch.Tensor:
        """Logits (B, num_classes) of features (B, D).

        ``update_stats=False`` normalises a training batch with its own statistics without touching the
        running ones (for the no-gradient baseline pass of the reward, eq. 9).
        """
        if self.training and not update_stats:
            x = F.batch_norm(feat, None, None, self.bn.weight, self.bn.bias, training=True, eps=self.bn.eps)
        else:
            x = self.bn(feat)
        return self.classifier(x)


class MultiNeck(nn.Module):
    """One `BNNeck` per feature: global and each body part (separate BN and classifier each)."""

    def __init__(self, num_features: int, dim: int, num_classes: int) -> None:
        super().__init__()
        self.necks = nn.ModuleList(BNNeck(dim, num_classes) for _ in range(num_features))

    def normalized(self, feats: torch.Tensor) -> torch.Tensor:
        """Features (B, F, D) after each neck's BatchNorm with its running statistics (as in eval mode,
        in either mode; the statistics are not updated)."""
        out = [
            F.batch_norm(
                feats[:, i], n.bn.running_mean, n.bn.running_var, n.bn.weight, n.bn.bias, False, 0.0, n.bn.eps
            )
            for i, n in enumerate(self.necks)
        ]
        return torch.stack(out, dim=1)

    def forward(self, feats: torch.Tensor, update_stats: bool = True) -> torch.Tensor:
        """Logits (B, F, num_classes) of features (B, F, D)."""
        if feats.shape[1] != len(self.necks):
            raise ValueError(f"expected {len(self.necks)} features, got {feats.shape[1]}")
        return torch.stack([neck(feats[:, i], update_stats) for i, neck in enumerate(self.necks)], dim=1)
