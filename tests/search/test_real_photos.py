"""Real Market-1501 crops (../shared/data/real_pedestrians, skipped when absent): index, search, figures.

The occlusion code comes from the pose backend when its model file is installed (``auto``), else z = 0.
"""

from __future__ import annotations

import shutil

from PIL import Image

from ogfr.search.build import build_index
from ogfr.search.embed import Embedder
from ogfr.search.figures import ranked_figure, visibility_figure_for
from ogfr.viz.ranked import ranked_figure_size
from ogfr.viz.visibility import visibility_figure_size


def test_real_crops_index_search_figures(real_photos, tiny_model, tmp_path):
    src = sorted((real_photos / "dgnet_visual_data_market").glob("*.jpg"))[:4]
    root = tmp_path / "crops"
    root.mkdir()
    for f in src:
        shutil.copy(f, root / f.name)
    embedder = Embedder(tiny_model, occlusion="auto", batch_size=4)
    report = build_index(embedder, root, tmp_path / "idx", progress=False)
    recs, emb = report.index.load()
    assert report.added == len(src) == len(recs) and not report.skipped
    assert all(len(r.code) == 4 and set(r.code) <= {"0", "1"} for r in recs)
    assert report.index.info["occlusion"] in ("pose", "visible")
    if embedder.occlusion == "pose":  # real crops of whole people: most coarse parts found visible
        assert sum(r.code.count("0") for r in recs) >= 2 * len(recs)
    query = root / src[2].name
    hits = report.index.search(embedder.embed([query]), top=3)[0]
    assert hits[0].path == query.name and hits[0].distance < 1e-2
    png = ranked_figure(embedder, report.index, [query], tmp_path / "ranked.png", top=3)
    assert Image.open(png).size == ranked_figure_size(1, 3)
    png = visibility_figure_for(embedder, [query], tmp_path / "vis.png")
    assert Image.open(png).size == visibility_figure_size(1)
