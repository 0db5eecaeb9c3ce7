"""Person search: index a gallery of person crops with a trained OGFR and search it with occluded queries.

``Index`` stores features (safetensors) and metadata (SQLite) and ranks by eq. 25; ``Embedder`` (in
``ogfr.search.embed``, also returned by ``ogfr.load``) turns images into ``ogfr.metrics.Features`` through
the one feature producer of ``ogfr.engine.features``.
"""

from ogfr.search.index import FAISS_THRESHOLD, Index
from ogfr.search.records import FeatureLayout, Hit, ImageRecord, ModelIdentity

__all__ = ["FAISS_THRESHOLD", "FeatureLayout", "Hit", "ImageRecord", "Index", "ModelIdentity"]
