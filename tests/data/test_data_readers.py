"""Every reader on a tiny tree in its real layout, and every error path."""

from __future__ import annotations

import logging

import pytest

from ogfr.data import READERS, load_dataset
from ogfr.data.datasets import _reader_table

MARKET_FILES = [
    "bounding_box_train/0002_c1s1_000451_03.jpg",
    "bounding_box_train/0002_c2s1_000551_01.jpg",
    "bounding_box_train/0007_c6s1_000101_01.jpg",
    "bounding_box_train/1500_c3s3_000101_01.jpg",
    "bounding_box_train/Thumbs.db",
    "query/0003_c1s1_000451_00.jpg",
    "query/0005_c5s1_000451_00.jpg",
    "bounding_box_test/0003_c2s1_000451_01.jpg",
    "bounding_box_test/0005_c4s1_000451_01.jpg",
    "bounding_box_test/0000_c6s1_000451_01.jpg",
    "bounding_box_test/-1_c1s1_000451_01.jpg",
    "bounding_box_test/-1_c3s1_000452_01.jpg",
]


def test_market1501_parent_root(tmp_path, tree_writer):
    tree_writer(tmp_path / "Market-1501-v15.09.15", MARKET_FILES)
    data = load_dataset("market1501", tmp_path)
    assert data.root == tmp_path / "Market-1501-v15.09.15"
    assert [(s.pid, s.camid) for s in data.train] == [(0, 0), (0, 1), (1, 5), (2, 2)]
    assert data.train_pid_map == {0: 2, 1: 7, 2: 1500}
    assert [(s.pid, s.camid) for s in data.query] == [(3, 0), (5, 4)]
    # junk (-1) dropped, distractor (0) kept as a gallery image
    assert sorted((s.pid, s.camid) for s in data.gallery) == [(0, 5), (3, 1), (5, 3)]
    assert {s.split for s in data.train} == {"train"} and {s.dataset for s in data.query} == {"market1501"}
    assert all(s.path.is_file() for s in data.train + data.query + data.gallery)
    assert data.num_train_pids == 3 and data.num_cameras == 6
    assert "  train    |     3 |        4 |         4" in data.summary()


@pytest.mark.parametrize("nest", ["", "market1501", "market1501/Market-1501-v15.09.15"])
def test_market1501_root_forms(tmp_path, tree_writer, nest):
    tree_writer(tmp_path / nest, MARKET_FILES)
    assert len(load_dataset("Market1501", tmp_path).train) == 4


@pytest.mark.parametrize(
    ("name", "folder"),
    [("dukemtmc", "DukeMTMC-reID"), ("occluded_duke", "Occluded_Duke"), ("synthetic", "")],
)
def test_duke_style_layouts(tmp_path, tree_writer, name, folder):
    files = [
        "bounding_box_train/0001_c2_f0046182.jpg",
        "bounding_box_train/0005_c8_f0046182.jpg",
        "query/0010_c1_f0046182.jpg",
        "bounding_box_test/0010_c7_f0046182.jpg",
    ]
    tree_writer(tmp_path / folder, files)
    data = load_dataset(name, tmp_path)
    assert data.name == name
    assert [(s.pid, s.camid) for s in data.train] == [(0, 1), (1, 7)]
    assert [(s.pid, s.camid) for s in data.gallery] == [(10, 6)]


def test_p_dukemtmc(tmp_path, tree_writer):
    base = tmp_path / "P-DukeMTMC-reid"
    tree_writer(
        base,
        [
            "train/whole_body_images/0012/0012_c2_f0000001.jpg",
            "train/occluded_body_images/0012/0012_c3_f0000002.jpg",
            "train/whole_body_images/0040/0040_c1_f0000003.jpg",
            "test/occluded_body_images/0100/0100_c1_f1.jpg",
            "test/whole_body_images/0100/0100_c4_f2.jpg",
            "test/whole_body_images/0101/0101_c4_f3.jpg",
        ],
    )
    data = load_dataset("p_dukemtmc", tmp_path)
    assert sorted((s.pid, s.camid, s.path.parent.parent.name) for s in data.train) == [
        (0, 0, "occluded_body_images"),
        (0, 1, "whole_body_images"),
        (1, 1, "whole_body_images"),
    ]
    assert data.train_pid_map == {0: 12, 1: 40}
    assert [(s.pid, s.camid) for s in data.query] == [(100, 0)]
    assert [(s.pid, s.camid) for s in data.gallery] == [(100, 1), (101, 1)]


def test_occluded_reid_tif_no_train(tmp_path, tree_writer):
    tree_writer(
        tmp_path / "Occluded_REID",
        [
            "occluded_body_images/001/001_01.tif",
            "occluded_body_images/001/001_02.tif",
            "occluded_body_images/002/002_01.tif",
            "whole_body_images/001/001_01.tif",
            "whole_body_images/002/002_01.tif",
        ],
    )
    data = load_dataset("occluded_reid", tmp_path)
    assert data.train == [] and data.num_train_pids == 0
    assert [(s.pid, s.camid) for s in data.query] == [(1, 0), (1, 0), (2, 0)]
    assert [(s.pid, s.camid) for s in data.gallery] == [(1, 1), (2, 1)]
    assert data.num_cameras == 2


@pytest.mark.parametrize(
    ("version", "train_dir", "test_dir"), [("V1", "train", "test"), ("V2", "mask_train_v2", "mask_test_v2")]
)
def test_msmt17(tmp_path, tree_writer, version, train_dir, test_dir):
    base = tmp_path / "msmt17" / f"MSMT17_{version}"
    train = ["0000/0000_000_01_0303morning_0015_0.jpg", "0001/0001_003_15_0303noon_0101_1.jpg"]
    val = ["0000/0000_010_02_0303morning_0020_0.jpg"]
    query = ["0000/0000_000_05_0303afternoon_0015_0.jpg"]
    gallery = ["0000/0000_001_06_0303afternoon_0016_0.jpg", "0003/0003_001_06_0303afternoon_0016_0.jpg"]
    tree_writer(base / train_dir, train + val)
    tree_writer(base / test_dir, query + gallery)
    for name, rows in [("train", train), ("val", val), ("query", query), ("gallery", gallery)]:
        (base / f"list_{name}.txt").write_text("".join(f"{r} {int(r[:4])}\n" for r in rows))
    data = load_dataset("msmt17", tmp_path)
    assert data.root == base
    # list_val.txt is merged into train
    assert [(s.pid, s.camid) for s in data.train] == [(0, 0), (1, 14), (0, 1)]
    assert data.train[2].path == base / train_dir / val[0]
    assert [(s.pid, s.camid) for s in data.query] == [(0, 4)]
    assert [(s.pid, s.camid) for s in data.gallery] == [(0, 5), (3, 5)]


def test_msmt17_bad_line_and_missing_image(tmp_path, tree_writer):
    base = tmp_path / "MSMT17_V1"
    tree_writer(base, ["train/0000/0000_000_01_a_1_0.jpg", "test/0000/0000_000_02_a_1_0.jpg"])
    (base / "list_train.txt").write_text("0000/0000_000_01_a_1_0.jpg 0\nbroken-line\n")
    (base / "list_query.txt").write_text("0000/0000_000_02_a_1_0.jpg 0\n")
    (base / "list_gallery.txt").write_text("0000/0000_000_02_a_1_0.jpg 0\n")
    with pytest.raises(ValueError, match=r"list_train\.txt: 1 file name.*line 2: 'broken-line'"):
        load_dataset("msmt17", tmp_path)
    (base / "list_train.txt").write_text("0000/missing_000_01_a.jpg 0\n")
    with pytest.raises(FileNotFoundError, match=r"missing_000_01_a\.jpg: listed in .*list_train\.txt"):
        load_dataset("msmt17", tmp_path)


def test_folder_split_layout_with_names(tmp_path, tree_writer):
    tree_writer(
        tmp_path,
        [
            "train/alice/a.jpg",
            "train/bob/b.jpg",
            "query/carol/1_c3.png",
            "gallery/carol/2.jpg",
            "gallery/alice/3.jpg",
        ],
    )
    data = load_dataset("folder", tmp_path)
    assert data.pid_names == {0: "alice", 1: "bob", 2: "carol"}
    assert [(s.pid, s.camid) for s in data.train] == [(0, 0), (1, 0)]
    assert [(s.pid, s.camid) for s in data.query] == [(2, 2)]  # "_c3" in the name gives camera 2
    assert sorted((s.pid, s.camid) for s in data.gallery) == [(0, 1), (2, 1)]  # default gallery camera 1


def test_folder_flat_layout_is_train(tmp_path, tree_writer):
    tree_writer(tmp_path, ["17/x.jpg", "17/y.jpg", "4/z.jpg", "notes.txt"])
    data = load_dataset("folder", tmp_path)
    assert data.query == [] and data.gallery == [] and data.pid_names == {}
    assert data.train_pid_map == {0: 4, 1: 17}
    assert sorted(s.pid for s in data.train) == [0, 1, 1]


def test_folder_query_without_gallery(tmp_path, tree_writer):
    tree_writer(tmp_path, ["query/1/a.jpg"])
    with pytest.raises(FileNotFoundError, match=r"gallery: missing split folder 'gallery'"):
        load_dataset("folder", tmp_path)


# --------------------------------------------------------------------------------------------- errors


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="unknown data set 'cuhk03'; known: cuhk01, dukemtmc, "):
        load_dataset("cuhk03", ".")


def test_reader_table_rejects_duplicates():
    assert set(READERS) == {
        "market1501", "dukemtmc", "occluded_duke", "p_dukemtmc", "occluded_reid", "msmt17", "cuhk01", "folder",
        "synthetic",
    }  # fmt: skip
    with pytest.raises(ValueError, match="duplicate data set name 'a'"):
        _reader_table([("a", READERS["folder"]), ("a", READERS["market1501"])])


def test_root_missing_or_not_a_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere: data set folder for 'market1501' does not exist"):
        load_dataset("market1501", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"not a market1501 folder: expected \['bounding_box_train'"):
        load_dataset("market1501", tmp_path)


def test_missing_split_folder(tmp_path, tree_writer):
    tree_writer(tmp_path, [f for f in MARKET_FILES if not f.startswith("bounding_box_test")])
    with pytest.raises(
        FileNotFoundError, match=r"bounding_box_test: missing split folder 'bounding_box_test'"
    ):
        load_dataset("market1501", tmp_path)


def test_unparsable_names_are_listed(tmp_path, tree_writer):
    bad = [f"bounding_box_train/img{i}.jpg" for i in range(7)] + ["bounding_box_train/0001_c0s1_1.jpg"]
    tree_writer(tmp_path, MARKET_FILES + bad)
    with pytest.raises(ValueError, match=r"bounding_box_train: 8 file name\(s\) do not parse") as err:
        load_dataset("market1501", tmp_path)
    assert "0001_c0s1_1.jpg, img0.jpg, img1.jpg, img2.jpg, img3.jpg, ..." in str(err.value)


def test_empty_split(tmp_path, tree_writer):
    tree_writer(tmp_path, [f for f in MARKET_FILES if not f.startswith("query")] + ["query/readme.txt"])
    with pytest.raises(ValueError, match=r"query: empty query split for market1501"):
        load_dataset("market1501", tmp_path)


def test_occluded_reid_non_numeric_folder(tmp_path, tree_writer):
    tree_writer(tmp_path, ["occluded_body_images/abc/001_01.tif", "whole_body_images/001/001_01.tif"])
    with pytest.raises(ValueError, match=r"occluded_body_images: 1 file name\(s\) do not parse.*abc/"):
        load_dataset("occluded_reid", tmp_path)


def test_query_ids_missing_from_gallery_warns(tmp_path, tree_writer, caplog):
    tree_writer(tmp_path, [*MARKET_FILES, "query/0009_c1s1_000451_00.jpg", "query/0011_c1s1_000451_00.jpg"])
    with caplog.at_level(logging.WARNING, logger="ogfr.data.datasets"):
        load_dataset("market1501", tmp_path)
    assert "2 of 4 query ids have no gallery image" in caplog.text and "[9, 11]" in caplog.text


def test_real_market_file_names(tmp_path, real_photos):
    """The 48 real Market-1501 crops, laid out as a gallery, parse with the Market reader."""
    crops = sorted((real_photos / "dgnet_visual_data_market").glob("*.jpg"))
    for split in ("bounding_box_train", "query", "bounding_box_test"):
        (tmp_path / split).mkdir()
        for crop in crops:
            (tmp_path / split / crop.name).symlink_to(crop)
    data = load_dataset("market1501", tmp_path)
    expected = {int(c.name[:4]) for c in crops if not c.name.startswith("-1")}
    assert {s.pid for s in data.gallery} == expected
    assert {s.camid for s in data.gallery} <= set(range(6))
    assert data.num_train_pids == len(expected) and data.train_pid_map[0] == min(expected)
