"""Readers: one small function per data set layout, each turning a folder into train / query / gallery samples.

`load_dataset(name, root)` picks the reader, relabels train ids to 0..P-1, checks the result and returns a
`ReIDData`. ``root`` may be the data set folder itself or a parent holding it under its usual name
(e.g. ``root/Market-1501-v15.09.15``). The accepted layouts are drawn in docs/data.md.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ogfr.data.samples import ReIDData, Sample, Split, relabel_train

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"})
_MARKET_NAME = re.compile(r"^(-?\d+)_c(\d+)")  # 0002_c1s1_000451_03.jpg, 0001_c2_f0046182.jpg
_CAMERA_TOKEN = re.compile(r"_c(\d+)")
_ICME = "ICME2018_Occluded-Person-Reidentification_datasets"
_CUHK01_NAME = re.compile(r"^(\d{4})(\d{3})\.(png|jpg|jpeg|bmp)$", re.IGNORECASE)  # 0001001.png
CUHK01_SPLIT_SEED = 0  # the fixed 485 / 486 identity split of the cuhk01 reader


@dataclass
class _Splits:
    """What a reader returns; `load_dataset` turns it into a `ReIDData`."""

    root: Path
    train: list[Sample]
    query: list[Sample]
    gallery: list[Sample]
    pid_names: dict[int, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- helpers


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (sorted; other files such as Thumbs.db are ignored)."""
    files = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _find_root(root: str | Path, names: Sequence[str], markers: Sequence[str], dataset: str) -> Path:
    """The data set folder: ``root`` itself, ``root/<name>`` or ``root/<name>/<name2>``, whichever holds
    one of ``markers``."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data set folder for {dataset!r} does not exist")
    candidates = [root] + [root / n for n in names] + [root / n / m for n in names for m in names]
    for cand in candidates:
        if any((cand / m).exists() for m in markers):
            return cand
    where = f" or in a sub-folder named one of {list(names)}" if names else ""
    raise FileNotFoundError(f"{root}: not a {dataset} folder: expected {list(markers)} in it{where}")


def _require_dir(path: Path, dataset: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(
            f"{path}: missing split folder {path.name!r} expected by the {dataset} layout"
        )
    return path


def _raise_bad_names(folder: Path, bad: list[str], expected: str) -> None:
    if bad:
        shown = ", ".join(bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise ValueError(f"{folder}: {len(bad)} file name(s) do not parse, expected {expected}: {shown}")


def _check_nonempty(samples: list[Sample], folder: Path, split: str, dataset: str) -> list[Sample]:
    if not samples:
        raise ValueError(f"{folder}: empty {split} split for {dataset} (no usable images found)")
    return samples


def parse_market_name(name: str) -> tuple[int, int] | None:
    """(pid, 0-based camera) of a Market-1501 / DukeMTMC file name (``0002_c1s1_000451_03.jpg`` -> (2, 0);
    pid -1 = junk), or None when the name does not follow ``<pid>_c<camera>...`` (camera >= 1, pid >= -1)."""
    m = _MARKET_NAME.match(name)
    if m is None or int(m.group(2)) < 1 or int(m.group(1)) < -1:
        return None
    return int(m.group(1)), int(m.group(2)) - 1


def read_market_dir(folder: Path, split: Split, dataset: str) -> list[Sample]:
    """Images named ``<pid>_c<cam>...`` (Market-1501 / DukeMTMC style); junk id -1 is dropped."""
    folder = _require_dir(folder, dataset)
    out, bad = [], []
    for path in list_images(folder):
        parsed = parse_market_name(path.name)
        if parsed is None:
            bad.append(path.name)
        elif parsed[0] != -1:  # -1 = junk
            out.append(Sample(path, *parsed, split, dataset))
    _raise_bad_names(folder, bad, "'<pid>_c<camera>...' such as 0002_c1s1_000451_03.jpg (camera >= 1)")
    return _check_nonempty(out, folder, split, dataset)


def read_id_folders(
    folder: Path, split: Split, dataset: str, camid: int, name_pattern: re.Pattern[str] | None = None
) -> list[Sample]:
    """Images under ``folder/<pid>/`` (numeric folder names), all with camera ``camid``."""
    folder = _require_dir(folder, dataset)
    out, bad = [], []
    _check_distinct_ids((p.name for p in folder.iterdir() if p.is_dir() and p.name.isdigit()), folder)
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if not sub.name.isdigit():
            bad.append(sub.name + "/")
            continue
        for path in list_images(sub):
            if name_pattern is not None and name_pattern.match(path.name) is None:
                bad.append(f"{sub.name}/{path.name}")
            else:
                out.append(Sample(path, int(sub.name), camid, split, dataset))
    expected = "numeric identity folders <pid>/" + (
        f" with files matching {name_pattern.pattern}" if name_pattern else ""
    )
    _raise_bad_names(folder, bad, expected)
    return _check_nonempty(out, folder, split, dataset)


# ---------------------------------------------------------------------------------------------- readers


def _market_style(root: str | Path, dataset: str, names: Sequence[str]) -> _Splits:
    folders = ("bounding_box_train", "query", "bounding_box_test")
    base = _find_root(root, names, folders, dataset)
    return _Splits(
        base,
        read_market_dir(base / "bounding_box_train", "train", dataset),
        read_market_dir(base / "query", "query", dataset),
        read_market_dir(base / "bounding_box_test", "gallery", dataset),
    )


def read_market1501(root: str | Path) -> _Splits:
    """Market-1501: ``bounding_box_train``, ``query``, ``bounding_box_test``."""
    return _market_style(root, "market1501", ("Market-1501-v15.09.15", "market1501", "Market-1501"))


def read_dukemtmc(root: str | Path) -> _Splits:
    """DukeMTMC-reID: the Market-1501 folders, file names ``0001_c2_f0046182.jpg``."""
    return _market_style(root, "dukemtmc", ("DukeMTMC-reID", "dukemtmc-reid", "dukemtmcreid"))


def read_occluded_duke(root: str | Path) -> _Splits:
    """Occluded-Duke (Miao et al. 2019): DukeMTMC-reID re-split, same folder names."""
    return _market_style(root, "occluded_duke", ("Occluded_Duke", "Occluded-Duke", "occluded_duke"))


def read_synthetic(root: str | Path) -> _Splits:
    """The benchmark written by ``ogfr synth``: Market-1501 layout at ``root``."""
    return _market_style(root, "synthetic", ())


def read_p_dukemtmc(root: str | Path) -> _Splits:
    """P-DukeMTMC-reID: ``{train,test}/{occluded,whole}_body_images/<pid>/*.jpg``.

    Test occluded images are the query (camera 0), test whole-body images the gallery (camera 1); the
    train split holds both kinds (occluded camera 0, whole-body camera 1), as the public readers do.
    """
    dataset = "p_dukemtmc"
    names = (_ICME, "P-DukeMTMC-reid", "P-DukeMTMC-reID", "P_DukeMTMC_reid", "p_dukemtmc")
    base = _find_root(root, names, ("train", "test"), dataset)
    train_dir = _require_dir(base / "train", dataset)
    test_dir = _require_dir(base / "test", dataset)
    train = read_id_folders(train_dir / "whole_body_images", "train", dataset, camid=1)
    train += read_id_folders(train_dir / "occluded_body_images", "train", dataset, camid=0)
    return _Splits(
        base,
        train,
        read_id_folders(test_dir / "occluded_body_images", "query", dataset, camid=0),
        read_id_folders(test_dir / "whole_body_images", "gallery", dataset, camid=1),
    )


def read_occluded_reid(root: str | Path) -> _Splits:
    """Occluded-REID: ``occluded_body_images/<pid>/<pid>_<nn>.tif`` (query, camera 0) and
    ``whole_body_images`` (gallery, camera 1). No train split."""
    dataset = "occluded_reid"
    names = (_ICME, "Occluded_REID", "Occluded-REID", "OccludedREID", "Occluded_ReID", "occluded_reid")
    base = _find_root(root, names, ("occluded_body_images", "whole_body_images"), dataset)
    pattern = re.compile(r"^\d+_\d+\.")
    return _Splits(
        base,
        [],
        read_id_folders(base / "occluded_body_images", "query", dataset, 0, pattern),
        read_id_folders(base / "whole_body_images", "gallery", dataset, 1, pattern),
    )


def _read_msmt_list(list_file: Path, image_dir: Path, split: Split) -> list[Sample]:
    """Lines ``<pid folder>/<pid>_<n>_<cam>_<...>.jpg <pid>``; camera = third ``_`` field - 1."""
    dataset = "msmt17"
    if not list_file.is_file():
        raise FileNotFoundError(f"{list_file}: missing list file expected by the MSMT17 layout")
    out, bad = [], []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        fields = Path(parts[0]).name.split("_")
        if len(parts) != 2 or not parts[1].isdigit() or len(fields) < 3 or not fields[2].isdigit():
            bad.append(f"line {number}: {line.strip()!r}")
            continue
        if int(fields[2]) < 1:
            bad.append(f"line {number}: camera must be >= 1: {line.strip()!r}")
            continue
        out.append(Sample(image_dir / parts[0], int(parts[1]), int(fields[2]) - 1, split, dataset))
    _raise_bad_names(list_file, bad, "'<dir>/<pid>_<n>_<camera>_<...>.jpg <pid>' per line")
    out = _check_nonempty(out, list_file, split, dataset)
    if not out[0].path.is_file():
        raise FileNotFoundError(f"{out[0].path}: listed in {list_file} but missing (wrong image folder?)")
    return out


def read_msmt17(root: str | Path) -> _Splits:
    """MSMT17 V1 (``train``/``test``) or V2 (``mask_train_v2``/``mask_test_v2``) with ``list_*.txt``.

    ``list_val.txt`` (a subset of the training identities) is merged into train, as TransReID and
    fast-reid do (torchreid merges it only with ``combineall``).
    """
    base = _find_root(root, ("msmt17", "MSMT17_V2", "MSMT17_V1"), ("list_query.txt",), "msmt17")
    v2 = (base / "mask_train_v2").is_dir()
    train_dir = _require_dir(base / ("mask_train_v2" if v2 else "train"), "msmt17")
    test_dir = _require_dir(base / ("mask_test_v2" if v2 else "test"), "msmt17")
    train = _read_msmt_list(base / "list_train.txt", train_dir, "train")
    if (base / "list_val.txt").is_file():
        train += _read_msmt_list(base / "list_val.txt", train_dir, "train")
    return _Splits(
        base,
        train,
        _read_msmt_list(base / "list_query.txt", test_dir, "query"),
        _read_msmt_list(base / "list_gallery.txt", test_dir, "gallery"),
    )


def read_cuhk01(root: str | Path) -> _Splits:
    """CUHK01 (CUHK Campus): ``campus/PPPPKKK.png``, identity PPPP, image KKK; 001-002 camera A (camid 0),
    003-004 camera B (camid 1).

    The usual protocol: the identities are shuffled once with ``random.Random(CUHK01_SPLIT_SEED)``; the
    first half (485 of 971) is the training split (both cameras), the other half (486) the test split with
    query = camera A, gallery = camera B. The split is a pure function of the set of identity numbers.
    """
    dataset = "cuhk01"
    base = Path(root).expanduser()
    if not base.is_dir():
        raise FileNotFoundError(f"{base}: data set folder for 'cuhk01' does not exist")
    candidates = [base / "campus", base / "CUHK01" / "campus", base / "cuhk01" / "campus", base]
    folder = next(
        (c for c in candidates if c.is_dir() and any(_CUHK01_NAME.match(p.name) for p in c.iterdir())), None
    )
    if folder is None:
        raise FileNotFoundError(
            f"{base}: not a cuhk01 folder: expected images named PPPPKKK.png (e.g. 0001001.png) in it or "
            "in its campus/ sub-folder"
        )
    by_id: dict[int, list[tuple[Path, int]]] = {}
    bad = []
    for path in list_images(folder):
        m = _CUHK01_NAME.match(path.name)
        if m is None or not 1 <= int(m.group(2)) <= 4:
            bad.append(path.name)
            continue
        by_id.setdefault(int(m.group(1)), []).append((path, 0 if int(m.group(2)) <= 2 else 1))
    _raise_bad_names(folder, bad, "'PPPPKKK.png' with identity PPPP and image KKK in 001..004")
    if len(by_id) < 2:
        raise ValueError(
            f"{folder}: cuhk01 needs at least 2 identities (one to train, one to test), got {len(by_id)}"
        )
    ids = sorted(by_id)
    shuffled = random.Random(CUHK01_SPLIT_SEED).sample(ids, len(ids))
    train_ids, test_ids = sorted(shuffled[: len(ids) // 2]), sorted(shuffled[len(ids) // 2 :])
    train = [Sample(p, pid, cam, "train", dataset) for pid in train_ids for p, cam in by_id[pid]]
    query = [Sample(p, pid, cam, "query", dataset) for pid in test_ids for p, cam in by_id[pid] if cam == 0]
    gallery = [
        Sample(p, pid, cam, "gallery", dataset) for pid in test_ids for p, cam in by_id[pid] if cam == 1
    ]
    _check_nonempty(query, folder, "query", dataset)
    _check_nonempty(gallery, folder, "gallery", dataset)
    return _Splits(folder, train, query, gallery)


def _check_distinct_ids(names: Iterable[str], where: Path) -> None:
    """Numeric identity folders that mean the same number (``1/`` and ``01/``) are an error, never merged."""
    seen: dict[int, str] = {}
    for name in sorted(set(names)):
        other = seen.setdefault(int(name), name)
        if other != name:
            raise ValueError(
                f"{where}: identity folders {other!r} and {name!r} both mean identity {int(name)}; "
                "rename one of them (numeric folder names are the identities)"
            )


def _folder_ids(names: Iterable[str], where: Path) -> tuple[dict[str, int], dict[int, str]]:
    """Numeric folder names keep their number; otherwise every name gets its rank in sorted order."""
    names = sorted(set(names))
    if all(n.isdigit() for n in names):
        _check_distinct_ids(names, where)
        return {n: int(n) for n in names}, {}
    ids = {n: i for i, n in enumerate(names)}
    return ids, {i: n for n, i in ids.items()}


def read_folder(root: str | Path) -> _Splits:
    """Folder-per-identity data of your own.

    ``root/{train,query,gallery}/<id>/*.jpg`` (train optional; query and gallery go together) or
    ``root/<id>/*.jpg`` (everything is training data). Numeric ``<id>`` folder names are the ids, others
    are numbered in sorted order (the same name is the same person in every split). A ``_c<N>`` token in
    a file name gives camera N-1; without one: train and query camera 0, gallery camera 1.
    """
    dataset = "folder"
    base = Path(root).expanduser()
    if not base.is_dir():
        raise FileNotFoundError(f"{base}: data set folder for 'folder' does not exist")
    split_dirs: dict[Split, Path] = {
        s: base / s for s in ("train", "query", "gallery") if (base / s).is_dir()
    }
    if "query" in split_dirs or "gallery" in split_dirs:
        for s in ("query", "gallery"):
            _require_dir(base / s, dataset)
    else:
        split_dirs = {"train": base}
    default_cam = {"train": 0, "query": 0, "gallery": 1}
    id_dirs = {s: sorted(p for p in d.iterdir() if p.is_dir()) for s, d in split_dirs.items()}
    ids, names = _folder_ids((p.name for dirs in id_dirs.values() for p in dirs), base)
    out: dict[str, list[Sample]] = {"train": [], "query": [], "gallery": []}
    for split, dirs in id_dirs.items():
        for sub in dirs:
            for path in list_images(sub):
                cam = _CAMERA_TOKEN.search(path.stem)
                camid = int(cam.group(1)) - 1 if cam and int(cam.group(1)) >= 1 else default_cam[split]
                out[split].append(Sample(path, ids[sub.name], camid, split, dataset))
        _check_nonempty(out[split], split_dirs[split], split, dataset)
    return _Splits(base, out["train"], out["query"], out["gallery"], names)


# ---------------------------------------------------------------------------------------------- entry


Reader = Callable[[str | Path], _Splits]


def _reader_table(pairs: Sequence[tuple[str, Reader]]) -> dict[str, Reader]:
    table: dict[str, Reader] = {}
    for name, reader in pairs:
        if name in table:
            raise ValueError(f"duplicate data set name {name!r} in the reader table")
        table[name] = reader
    return table


READERS: dict[str, Reader] = _reader_table(
    [
        ("market1501", read_market1501),
        ("dukemtmc", read_dukemtmc),
        ("occluded_duke", read_occluded_duke),
        ("p_dukemtmc", read_p_dukemtmc),
        ("occluded_reid", read_occluded_reid),
        ("msmt17", read_msmt17),
        ("cuhk01", read_cuhk01),
        ("folder", read_folder),
        ("synthetic", read_synthetic),
    ]
)


def _warn_missing_query_ids(data: ReIDData) -> int:
    gallery_ids = {s.pid for s in data.gallery}
    missing = {s.pid for s in data.query} - gallery_ids
    if missing:
        log.warning(
            "%s: %d of %d query ids have no gallery image (their queries will be skipped in evaluation), "
            "e.g. %s",
            data.root,
            len(missing),
            len({s.pid for s in data.query}),
            sorted(missing)[:5],
        )
    return len(missing)


def load_dataset(name: str, root: str | Path) -> ReIDData:
    """Read the data set ``name`` (see ``READERS``) at ``root``; train ids relabeled to 0..P-1."""
    key = name.lower().replace("-", "_")
    if key not in READERS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(READERS))}")
    splits = READERS[key](root)
    train, pid_map = relabel_train(splits.train)
    data = ReIDData(key, splits.root, train, splits.query, splits.gallery, pid_map, splits.pid_names)
    _warn_missing_query_ids(data)
    log.debug("%s", data.summary())
    return data
