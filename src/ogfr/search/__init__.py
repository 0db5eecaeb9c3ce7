"""Person search: index a gallery of person crops with a trained OGFR and search it with occluded queries.

``Index`` stores features (safetensors) and metadata (SQLite) and ranks by eq. 25; ``Embedder`` (in
``ogfr.search.embed``, also returned by ``ogfr.load``) turns images into student features.
"""

from ogfr.search.index import FAISS_THRESHOLD, Index
from ogfr.search.records import Embeddings, FeatureLayout, Hit, ImageRecord, ModelIdentity

__all__ = ["FAISS_THRESHOLD", "Embeddings", "FeatureLayout", "Hit", "ImageRecord", "Index", "ModelIdentity"]
