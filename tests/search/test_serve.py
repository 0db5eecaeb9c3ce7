"""`ogfr serve` without a browser: the service against Index.search, and the HTTP layer's limits and errors."""

from __future__ import annotations

import io
import json
import logging
import shutil
import sqlite3
from contextlib import closing

import pytest
import torch
from PIL import Image
from search_helpers import make_model, write_checkpoint
from serve_helpers import build, get_json, http, service_for, serving

from image_files import bomb_png
from ogfr.cli import main
from ogfr.cli.serve import is_loopback
from ogfr.engine.config import preset_model
from ogfr.images import UnreadableImage
from ogfr.model import OGFR
from ogfr.serve.service import DISPLAY_HEIGHT, NotFound, part_overlay

QUERY = "0002_c3s1_000100_00.jpg"


@pytest.fixture()
def gallery(built):
    return built[0]


@pytest.fixture()
def service(checkpoint, built):
    return service_for(checkpoint, built[1])


def row_of(service, path: str) -> int:
    return next(i for i, r in enumerate(service.records) if r.path == path)


def test_results_are_index_search_without_the_query_itself(service, gallery):
    row = row_of(service, QUERY)
    q = service.query_from_row(row)
    expected = service.index.search(service.embedder.embed(gallery / QUERY), top=len(service.records))[0]
    expected = [h for h in expected if h.index != row]
    page0 = service.results(q.id, page=0, per_page=5, camera=None)
    page1 = service.results(q.id, page=1, per_page=5, camera=None)
    page2 = service.results(q.id, page=2, per_page=5, camera=None)
    shown = page0["hits"] + page1["hits"] + page2["hits"]
    assert page0["total"] == len(expected) == len(service.records) - 1 and not page0["truncated"]
    assert [h["row"] for h in shown] == [h.index for h in expected]
    assert [h["rank"] for h in shown] == list(range(1, len(expected) + 1))
    assert [h["distance"] for h in shown] == pytest.approx([h.distance for h in expected], abs=1e-6)
    assert [h["shared_parts"] for h in shown] == [list(h.shared_parts) for h in expected]
    assert shown[0]["pid"] == 2  # same identity, other cameras, come first for this gallery
    with pytest.raises(ValueError, match="past the end"):
        service.results(q.id, page=3, per_page=5, camera=None)


def test_camera_filter_keeps_the_order_of_the_full_ranking(service):
    q = service.query_from_row(row_of(service, QUERY))
    full = [h["row"] for h in service.results(q.id, 0, 100, None)["hits"]]
    for camera in (0, 1, 2, -1):
        rows = [h["row"] for h in service.results(q.id, 0, 100, camera)["hits"]]
        assert rows == [r for r in full if service.records[r].camid == camera]
        assert rows and {service.records[r].camid for r in rows} == {camera}
    with pytest.raises(ValueError, match="camera 7 has no images"):
        service.results(q.id, 0, 10, 7)
    page = service.gallery_page(0, 3, camera=1)
    assert page["total"] == 4 and [it["camid"] for it in page["items"]] == [1, 1, 1]


def test_max_results_truncates_the_ranking(checkpoint, built):
    service = service_for(checkpoint, built[1], max_results=4)
    q = service.query_from_row(0)
    res = service.results(q.id, 0, 10, None)
    assert (
        res["total"] == res["ranked"] == 4 and res["truncated"] and 0 not in [h["row"] for h in res["hits"]]
    )


def test_query_description_matches_the_model(service, gallery, tiny_model):
    q = service.query_from_row(row_of(service, QUERY))
    d = service.describe(q)
    emb = service.embedder.embed(gallery / QUERY)
    assert d["code"] == "0000" and [c["occluded"] for c in d["coarse"]] == [False] * 4  # --occlusion visible
    assert [c["name"] for c in d["coarse"]] == ["head", "arms", "torso", "legs"]
    assert [v["visible"] for v in d["visibility"]] == emb.visibility[0].tolist()
    assert d["pid"] == 2 and d["row"] == row_of(service, QUERY) and d["part_map"] and d["erasing"]
    width = round(DISPLAY_HEIGHT * 32 / 64)
    for kind, fmt in (("image", "JPEG"), ("part_map", "PNG"), ("erasing", "PNG")):
        pic = Image.open(io.BytesIO(service.picture(q.id, kind)))
        assert pic.format == fmt and pic.size == (width, DISPLAY_HEIGHT)
    assert "keeps" in d["erasing_note"]
    with pytest.raises(NotFound, match="no 'nothing' picture"):
        service.picture(q.id, "nothing")


def test_part_overlay_paints_the_argmax_part():
    maps = torch.zeros(9, 4, 2)
    maps[4, :2] = 1.0  # torso wins the top half, background the rest
    image = Image.new("RGB", (20, 40), (10, 200, 10))
    assert part_overlay(image, maps.numpy(), alpha=1.0).getpixel((5, 5)) == (0, 130, 200)  # PART_COLORS[4]
    out = part_overlay(image, maps.numpy(), alpha=0.5)
    assert out.size == (20, 40)
    assert out.getpixel((5, 5)) == (5, 165, 105)  # half torso colour, half image
    assert out.getpixel((5, 35)) == (10, 200, 10)  # background: the image unchanged


def test_models_without_agent_or_parts(gallery, tmp_path):
    torch.manual_seed(0)
    no_agent = OGFR(preset_model("tiny", mask="none"), num_classes=5, num_cameras=3).eval()
    baseline = OGFR(
        preset_model("tiny", oavit=False, fep="none", kd=False), num_classes=5, num_cameras=3
    ).eval()
    for name, model in (("no_agent", no_agent), ("baseline", baseline)):
        ckpt = write_checkpoint(tmp_path / f"{name}.pt", model)
        service = service_for(ckpt, build(ckpt, gallery, tmp_path / f"idx_{name}"))
        d = service.describe(service.query_from_row(0))
        assert not d["erasing"] and d["erasing_note"].startswith("no erasing mask")
        assert d["part_map"] == (name == "no_agent")
        assert len(d["visibility"]) == (8 if name == "no_agent" else 0)
        hits = service.results(d["id"], 0, 20, None)["hits"]
        assert len(hits) == len(service.records) - 1
        assert all(h["shared_parts"] == [] for h in hits) or name == "no_agent"


def test_uploads_are_decoded_by_the_image_reader(service, gallery, tmp_path):
    data = (gallery / QUERY).read_bytes()
    q = service.query_from_upload(data, "my query.jpg")
    assert q.id.startswith("u") and q.label == "my query.jpg" and q.row is None and q.pid == -1
    assert service.query_from_upload(data, "again.jpg") is q  # same bytes: analysed once
    same = service.results(q.id, 0, 3, None)["hits"]
    from_row = service.results(service.query_from_row(row_of(service, QUERY)).id, 0, 2, None)["hits"]
    assert same[0]["row"] == row_of(service, QUERY) and same[0]["distance"] == pytest.approx(
        0.0, abs=1e-3
    )  # sqrt of rounding
    assert [h["row"] for h in same[1:]] == [h["row"] for h in from_row]
    with pytest.raises(UnreadableImage, match="notes.txt: not an image Pillow can read"):
        service.query_from_upload(b"just text", "notes.txt")
    with pytest.raises(UnreadableImage, match="decompression bomb"):
        service.query_from_upload(bomb_png(tmp_path / "bomb.png").read_bytes(), "bomb.png")


def test_query_store_evicts_the_least_recently_used(checkpoint, built):
    service = service_for(checkpoint, built[1], cache_size=2)
    a, b = service.query_from_row(0), service.query_from_row(1)
    service.query(a.id)  # a is now the most recent
    service.query_from_row(2)
    assert service.query(a.id) is a
    with pytest.raises(NotFound, match="pick or upload it again"):
        service.query(b.id)


def test_gallery_images_stay_inside_the_root(service, checkpoint, built, tmp_path):
    pic = Image.open(io.BytesIO(service.gallery_image(0)))
    assert pic.format == "JPEG" and pic.size == (32, 64)
    copy = shutil.copytree(built[1], tmp_path / "idx")
    with closing(sqlite3.connect(copy / "meta.sqlite")) as db, db:  # a tampered database
        db.execute("UPDATE images SET path = ? WHERE id = 1", (f"../{built[0].name}_secret.jpg",))
    with pytest.raises(ValueError, match="outside the indexed root"):  # refused when the index is opened
        service_for(checkpoint, copy)
    with pytest.raises(NotFound, match="row 99 does not exist"):
        service.gallery_image(99)


def test_refuses_another_checkpoint(service, tmp_path):
    other = write_checkpoint(tmp_path / "other.pt", make_model(seed=5))
    from ogfr.search.embed import Embedder

    with pytest.raises(ValueError, match="not the one index"):
        type(service)(Embedder.from_checkpoint(other, occlusion="visible"), service.index)


def test_http_api_limits_and_errors(service, gallery):
    big = io.BytesIO()
    Image.effect_noise((200, 200), 64).convert("RGB").save(big, format="PNG")
    with serving(service, max_upload=20_000) as url:
        status, headers, body = http(url + "/")
        assert (
            status == 200
            and b'id="results"' in body
            and "default-src 'self'" in headers["content-security-policy"]
        )
        info = get_json(url + "/api/info")
        assert info["images"] == 13 and info["max_upload"] == 20_000 and len(info["parts"]) == 8
        assert [c["id"] for c in info["cameras"]] == [-1, 0, 1, 2]
        q = get_json(url + "/api/query/gallery/2", data=b"")
        res = get_json(f"{url}/api/search?query={q['id']}&per_page=4&camera=all")
        assert res["hits"] == service.results(q["id"], 0, 4, None)["hits"]
        status, headers, body = http(f"{url}/api/query/{q['id']}/part_map")
        assert status == 200 and headers["content-type"] == "image/png" and body.startswith(b"\x89PNG")
        status, _, body = http(url + "/api/gallery/0.jpg")
        assert status == 200 and Image.open(io.BytesIO(body)).format == "JPEG"

        status, _, body = http(url + "/api/query", data=big.getvalue(), headers={"X-Filename": "big.png"})
        assert status == 413 and "larger than the limit of 20,000 bytes" in json.loads(body)["error"]
        status, _, body = http(url + "/api/query", data=b"hello", headers={"X-Filename": "notes%20a.txt"})
        assert status == 400 and json.loads(body)["error"] == "notes a.txt: not an image Pillow can read"
        status, _, body = http(url + "/api/query", data=(gallery / QUERY).read_bytes())
        assert status == 200 and json.loads(body)["label"] == "upload"
        for path, code, message in (
            ("/api/search?query=nope", 404, "is not (or no longer) held"),
            ("/api/search", 400, "needs ?query=ID"),
            (f"/api/search?query={q['id']}&page=x", 400, "page must be an integer"),
            (f"/api/search?query={q['id']}&per_page=500", 400, "per_page must be between 1 and 100"),
            ("/api/gallery/500.jpg", 404, "row 500 does not exist"),
            ("/api/nothing", 404, "Not Found"),
        ):
            status, _, body = http(url + path)
            assert status == code and message in json.loads(body)["error"], (path, status, body)
        status, _, body = http(url + "/api/info", headers={"Host": "rebinding.example:80"})
        assert status == 400 and b"Invalid host header" in body


def test_cli_binds_loopback_and_warns_elsewhere(monkeypatch, built, caplog, capsys):
    import uvicorn

    index = str(built[1])
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    assert main(["serve", "--index", index, "--port", "8123"]) == 0
    assert calls[-1][1]["host"] == "127.0.0.1" and calls[-1][1]["port"] == 8123
    assert "open http://127.0.0.1:8123/" in capsys.readouterr().out
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert main(["serve", "--index", index, "--host", "0.0.0.0"]) == 0
    assert calls[-1][1]["host"] == "0.0.0.0" and "not on this machine only" in caplog.text
    assert main(["serve", "--index", index, "--max-upload-mb", "0"]) == 1
    assert "--max-upload-mb must be > 0" in capsys.readouterr().err
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")
