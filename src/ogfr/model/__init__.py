"""The OGFR model (paper §3): OA-ViT backbone, FEP, teacher / student branches, BNNeck classifiers.

Public names: `OGFRConfig` (settings and ablation switches), `OGFR` (the model), `load_pretrained`
(ImageNet ViT weights into ``OGFR.backbone``).
"""

from ogfr.model.config import OGFRConfig
from ogfr.model.ogfr import OGFR
from ogfr.model.weights import LoadReport, filter_state_dict, load_pretrained

__all__ = ["OGFR", "LoadReport", "OGFRConfig", "filter_state_dict", "load_pretrained"]
