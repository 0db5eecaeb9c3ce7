"""The one producer: images + z + cameras -> Features, against the model by hand; splitting; bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ogfr.engine.config import preset_model
from ogfr.engine.features import CachedLabels, FeatureExtractor, ParsedLabels
from ogfr.images import UnreadableImage, read_image
from ogfr.metrics.features import concat_features
from ogfr.model import OGFR
from ogfr.parsing import CodeSettings, SyntheticBackend

CODES = CodeSettings(num_coarse=4, lam=5.0, label_size=(32, 16))


@pytest.fixture(scope="module")
def model() -> OGFR:
    torch.manual_seed(0)
    return OGFR(preset_model("tiny"), num_classes=5, num_cameras=3).eval()


@pytest.fixture(scope="module")
def images(synth_root: Path) -> list[Path]:
    found = sorted((synth_root / "query").glob("*.jpg"))[:6]
    assert len(found) == 6
    return found


def test_rows_are_the_models_normalised_outputs(model, images):
    x = FeatureExtractor(model, CODES, batch_size=3)
    z = torch.tensor([[0, 0, 0, 0], [1, 0, 0, 1], [0, 1, 1, 0]] + [[0, 0, 0, 1]] * 3)
    cams = [0, 1, 2, 0, 1, 2]
    f = x.embed(images, z=z, camids=cams, pids=list(range(6)))
    inputs = x.inputs(images[:2], z=z[:2], camids=cams[:2])
    with torch.no_grad():
        out = model(*inputs)
    assert torch.allclose(f.global_[:2], F.normalize(out["global"], dim=-1), atol=1e-6)
    assert torch.allclose(f.parts[:2], F.normalize(out["parts"], dim=-1), atol=1e-6)
    assert torch.equal(f.visibility[:2], out["visibility"])
    assert f.z.tolist() == z.tolist() and f.camids.tolist() == cams and f.pids.tolist() == list(range(6))
    assert f.paths == tuple(str(p) for p in images) and f.global_.norm(dim=1).allclose(torch.ones(6))
    # PIL inputs give the same rows; without paths the record has none
    pil = x.embed([read_image(p) for p in images[:2]], z=z[:2], camids=cams[:2])
    assert torch.equal(pil.global_, f.global_[:2]) and pil.paths is None


def test_a_split_list_merges_to_the_same_record(model, images):
    """What sharding over torchrun ranks relies on: parts of whole batches, concatenated in order."""
    x = FeatureExtractor(model, CODES, batch_size=2)
    whole = x.embed(images)
    parts = [x.embed(images[:4]), x.embed(images[4:])]
    merged = concat_features(*parts, name=whole.name)
    for key in ("global_", "parts", "visibility", "z", "camids"):
        assert torch.equal(getattr(merged, key), getattr(whole, key)), key
    assert merged.paths == whole.paths


def test_codes_come_from_the_label_source_by_the_one_rule(model, images, synth_root):
    backend = SyntheticBackend(CODES.label_size, dataset_root=synth_root)
    labels = [backend.parse([p])[0].labels for p in images[:3]]
    expect = CODES.code(torch.from_numpy(np.stack(labels).astype(np.int64)))
    got = FeatureExtractor(model, CODES, labels=ParsedLabels(backend)).embed(images[:3]).z
    assert got.tolist() == expect.tolist()
    cached = FeatureExtractor(model, CODES, labels=CachedLabels(lambda path: None)).embed(images[:2]).z
    assert cached.tolist() == [[0, 0, 0, 0]] * 2  # no cached label: z = 0
    none = FeatureExtractor(model, CODES).embed(images[:1]).z
    assert none.tolist() == [[0, 0, 0, 0]]
    for workers in (0, 1):  # the message comes through a DataLoader worker as it is
        wrong = FeatureExtractor(
            model, CODES, labels=CachedLabels(lambda path: np.zeros((8, 8), np.uint8)), num_workers=workers
        )
        with pytest.raises(ValueError, match=r"^\S+\.jpg: part labels are \(8, 8\), expected the label size"):
            wrong.embed(images[:1])
    with pytest.raises(ValueError, match="give the images as paths"):
        FeatureExtractor(model, CODES, labels=CachedLabels(lambda p: None)).embed([read_image(images[0])])


@pytest.mark.parametrize("workers", [0, 1])
def test_an_unreadable_image_is_an_error_naming_it(model, images, tmp_path, workers):
    bad = tmp_path / "0001_c1s1_000001_00.jpg"
    bad.write_bytes(b"not a jpeg")
    x = FeatureExtractor(model, CODES, batch_size=2, num_workers=workers)
    with pytest.raises(UnreadableImage, match="0001_c1s1_000001_00.jpg") as err:
        x.embed([images[0], bad, images[1]])
    assert err.value.path == str(bad)  # the type survives a DataLoader worker


def test_bad_arguments_and_the_training_mode(model, images):
    x = FeatureExtractor(model, CODES)
    with pytest.raises(ValueError, match=r"z must be \(N=2, C=4\)"):
        x.embed(images[:2], z=torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="camids has 1 entries for 2 images"):
        x.embed(images[:2], camids=[0])
    with pytest.raises(ValueError, match="no images given"):
        x.embed([])
    with pytest.raises(ValueError, match="camid 3 is not one of the model's 3 cameras"):
        FeatureExtractor(model, CODES, camid=3)
    with pytest.raises(ValueError, match="codes have C = 2, the model takes C = 4"):
        FeatureExtractor(model, CodeSettings(num_coarse=2))
    model.train()
    try:
        x.embed(images[:1])
        assert model.training  # evaluation mode only while embedding
    finally:
        model.eval()
