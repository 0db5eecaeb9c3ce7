"""Evaluation speed and memory of ogfr.metrics against the reference Re-ID evaluation code.

    python benchmarks/eval_speed.py                        # Occluded-Duke size, all references, appends to RESULTS.md
    python benchmarks/eval_speed.py --no-python-refs       # skip the ~45 s pure-Python references
    python benchmarks/eval_speed.py --large                # + 20k x 100k global-feature run (peak RSS)
    /path/to/python-with-cython benchmarks/eval_speed.py --build-cython   # build fast-reid's rank_cy once

Timed at the Occluded-Duke test size (2,210 queries x 17,661 gallery, D = 768 random L2-normalised
features, 1,110 identities, 8 cameras): ogfr's whole evaluation from features (distances + CMC + mAP +
mINP) against fast-reid 1.4.0's Cython evaluate_rank and the pure-Python evaluate_rank of torchreid 0.2.5
and fast-reid 1.4.0, all given the same float32 distance matrix, in the same run. Also eq. 25 (K = 8 part
features + visibility) at that size, and optionally a 20k x 100k run; each of ogfr's runs happens in a
child process so its peak RSS (resident memory) is its own.

fast-reid's Cython module is built with ``--build-cython`` by a Python that has Cython and numpy (the
project venv need not have Cython) into ~/.cache/ogfr/fastreid_rank_cy; the timing run loads it from there.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
CY_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ogfr" / "fastreid_rank_cy"


def _site_file(pkg: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{pkg} is not installed (pip install --no-deps torchreid==0.2.5 fastreid==1.4.0)")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def build_cython(pyx: Path | None) -> Path:
    """Compile fast-reid's rank_cy.pyx into CY_DIR (needs Cython, numpy, a C compiler)."""
    import numpy
    from Cython.Build import cythonize
    from setuptools import Extension
    from setuptools.dist import Distribution

    src = pyx or _site_file("fastreid", "evaluation", "rank_cylib", "rank_cy.pyx")
    CY_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "rank_cy.pyx"
        local.write_text(src.read_text())
        ext = Extension("rank_cy", [str(local)], include_dirs=[numpy.get_include()])
        dist = Distribution({"ext_modules": cythonize([ext], quiet=True, language_level=3)})
        cmd = dist.get_command_obj("build_ext")
        cmd.build_lib, cmd.build_temp = str(CY_DIR), str(Path(tmp) / "build")
        cmd.ensure_finalized()
        t0 = time.perf_counter()
        cmd.run()
    built = next(CY_DIR.glob("rank_cy*.so"))
    print(f"built {built} in {time.perf_counter() - t0:.1f} s")
    return built


def _load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _problem(nq: int, ng: int, dim: int, ids: int, cams: int, parts: int, seed: int = 0):
    import numpy as np
    import torch

    gen = torch.Generator().manual_seed(seed)

    def feats(n: int, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.nn.functional.normalize(torch.randn(n, *shape, generator=gen), dim=-1)

    rng = np.random.default_rng(seed)
    out = {
        "q": feats(nq, (dim,)),
        "g": feats(ng, (dim,)),
        "q_pids": rng.integers(0, ids, nq),
        "g_pids": rng.integers(0, ids, ng),
        "q_camids": rng.integers(0, cams, nq),
        "g_camids": rng.integers(0, cams, ng),
    }
    if parts:
        out.update(
            qp=feats(nq, (parts, dim)),
            gp=feats(ng, (parts, dim)),
            qv=torch.rand(nq, parts, generator=gen) > 0.3,
            gv=torch.rand(ng, parts, generator=gen) > 0.3,
        )
    return out


def child(mode: str, a: argparse.Namespace) -> None:
    """One timed ogfr evaluation in this process; prints a JSON line with times, numbers and peak RSS."""
    import torch

    from ogfr.metrics import Features, evaluate

    torch.set_num_threads(a.threads)
    nq, ng, dim = (
        (a.large_queries, a.large_gallery, a.large_dim) if mode == "large" else (a.queries, a.gallery, a.dim)
    )
    pb = _problem(
        nq, ng, dim, a.ids if mode != "large" else nq // 2, a.cams, a.parts if mode == "eq25" else 0
    )
    rss0 = _reset_peak_rss()
    if mode == "eq25":
        qf = Features(pb["q"], pb["qp"], pb["qv"], name="query")
        gf = Features(pb["g"], pb["gp"], pb["gv"], name="gallery")
    else:
        qf, gf = Features(pb["q"], name="query"), Features(pb["g"], name="gallery")
    times, res = [], None
    for _ in range(1 if mode == "large" else a.repeats):
        t0 = time.perf_counter()
        res = evaluate(qf, gf, pb["q_pids"], pb["g_pids"], pb["q_camids"], pb["g_camids"])
        times.append(time.perf_counter() - t0)
    peak = _peak_rss()
    dist_times = []
    if mode == "global":  # the distance blocks alone, to split the time into distances and ranking
        from ogfr.metrics.distance import _distance, squared_norms
        from ogfr.metrics.evaluate import auto_chunk_size

        chunk, g_sq = auto_chunk_size(nq, ng), squared_norms(pb["g"])
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            for s in range(0, nq, chunk):
                _distance(pb["q"][s : s + chunk], pb["g"], "euclidean", g_sq)
            dist_times.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "mode": mode,
                "shape": [nq, ng, dim],
                "times": times,
                "rss_inputs_mb": rss0,
                "peak_rss_mb": peak,
                "dist_times": dist_times,
                "cmc": [float(x) for x in res.cmc[:20]],
                "mAP": res.mAP,
                "mINP": res.mINP,
            }
        )
    )


def _peak_rss() -> float:
    """Peak resident memory of this process in MB (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak_rss() -> float:
    """Current RSS in MB, after resetting the peak to it (Linux: /proc/self/clear_refs "5")."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _peak_rss()


def _run_child(mode: str, argv: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, *argv], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"child {mode} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=2210)
    p.add_argument("--gallery", type=int, default=17661)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--ids", type=int, default=1110)
    p.add_argument("--cams", type=int, default=8)
    p.add_argument("--parts", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--repeats", type=int, default=3, help="timed repeats of ogfr and the Cython reference (median)"
    )
    p.add_argument("--no-python-refs", action="store_true", help="skip torchreid's / fast-reid's Python code")
    p.add_argument("--no-eq25", action="store_true")
    p.add_argument("--large", action="store_true", help="also the 20k x 100k run")
    p.add_argument("--large-queries", type=int, default=20000)
    p.add_argument("--large-gallery", type=int, default=100000)
    p.add_argument("--large-dim", type=int, default=768)
    p.add_argument(
        "--build-cython", action="store_true", help="only build fast-reid's rank_cy (needs Cython)"
    )
    p.add_argument("--pyx", type=Path, default=None, help="rank_cy.pyx to build (default: the installed one)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    a = p.parse_args(argv)
    if a.build_cython:
        build_cython(a.pyx)
        return 0
    if a.child:
        child(a.child, a)
        return 0
    import numpy as np
    import torch

    from ogfr.metrics import pairwise_distance

    sys.path.insert(0, str(HERE.parent / "tests" / "metrics"))
    import reference  # noqa: E402  (the cross-check loader of the tests)

    torch.set_num_threads(a.threads)
    passthrough = [
        f"--{k.replace('_', '-')}={v}"
        for k, v in vars(a).items()
        if k
        in (
            "queries",
            "gallery",
            "dim",
            "ids",
            "cams",
            "parts",
            "threads",
            "repeats",
            "large_queries",
            "large_gallery",
            "large_dim",
        )
    ]
    pb = _problem(a.queries, a.gallery, a.dim, a.ids, a.cams, 0)
    dist = pairwise_distance(pb["q"], pb["g"]).numpy()
    ids = (pb["q_pids"], pb["g_pids"], pb["q_camids"], pb["g_camids"])
    rows: list[tuple[str, float, str]] = []
    ours = _run_child("global", passthrough)
    t_ours = _median(ours["times"])
    rows.append(
        (
            "ogfr.metrics.evaluate (features -> distances + CMC/mAP/mINP)",
            t_ours,
            f"median of {len(ours['times'])}; peak RSS {ours['peak_rss_mb']:.0f} MB (before: {ours['rss_inputs_mb']:.0f} MB)",
        )
    )
    if ours["dist_times"]:
        rows.append(
            ("  of which distances alone (chunked GEMM + sqrt)", _median(ours["dist_times"]), "same blocks")
        )
    numbers = {"ogfr": (np.array(ours["cmc"]), ours["mAP"], ours["mINP"])}
    cy_so = next(CY_DIR.glob("rank_cy*.so"), None)
    t_cy = None
    if cy_so is not None:
        cy = _load_module("rank_cy", cy_so)
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            cmc, aps, inps = cy.evaluate_cy(dist, *ids, 50, False)
            times.append(time.perf_counter() - t0)
        t_cy = _median(times)
        rows.append(
            ("fast-reid 1.4.0 Cython evaluate_cy (given the distances)", t_cy, f"median of {a.repeats}")
        )
        numbers["fast-reid Cython"] = (cmc[:20], float(np.mean(aps)), float(np.mean(inps)))
    if not a.no_python_refs:
        for name, mod in (
            ("torchreid 0.2.5", reference.torchreid_rank()),
            ("fast-reid 1.4.0", reference.fastreid_rank()),
        ):
            t0 = time.perf_counter()
            out = mod.evaluate_rank(dist, *ids, max_rank=50, use_cython=False)
            rows.append(
                (f"{name} Python evaluate_rank (given the distances)", time.perf_counter() - t0, "1 run")
            )
            if len(out) == 2:
                numbers[name] = (out[0][:20], float(out[1]), float("nan"))
            else:
                numbers[name] = (out[0][:20], float(np.mean(out[1])), float(np.mean(out[2])))
    extra = []
    if not a.no_eq25:
        e = _run_child("eq25", passthrough)
        extra.append(
            f"- eq. 25 (K = {a.parts} parts + visibility, D = {a.dim}) at {a.queries} x {a.gallery}: "
            f"median {_median(e['times']):.2f} s over {len(e['times'])} runs, peak RSS {e['peak_rss_mb']:.0f} MB "
            f"(RSS before evaluating, torch + features: {e['rss_inputs_mb']:.0f} MB); Rank-1 {e['cmc'][0]:.4f}, mAP {e['mAP']:.4f}"
        )
    if a.large:
        big = _run_child("large", passthrough)
        extra.append(
            f"- {a.large_queries} x {a.large_gallery} global features (D = {a.large_dim}): "
            f"{big['times'][0]:.1f} s, peak RSS {big['peak_rss_mb']:.0f} MB "
            f"(RSS before evaluating, torch + features: {big['rss_inputs_mb']:.0f} MB); mAP {big['mAP']:.6f}"
        )
    ref_cmc, ref_map, ref_minp = numbers["ogfr"]
    agree = []
    for name, (cmc, m, minp) in numbers.items():
        if name == "ogfr":
            continue
        dc = float(np.max(np.abs(np.asarray(cmc, dtype=np.float64) - ref_cmc)))
        dm = abs(m - ref_map)
        di = abs(minp - ref_minp) if minp == minp else float("nan")
        agree.append(f"- vs {name}: max |CMC diff| {dc:.1e}, |mAP diff| {dm:.1e}, |mINP diff| {di:.1e}")
    cmd = "python benchmarks/eval_speed.py " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
    lines = [
        f"## Evaluation speed: ogfr.metrics vs torchreid / fast-reid ({a.queries} x {a.gallery}, D = {a.dim})",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, no GPU, "
        f"{a.threads} torch threads (shared machine: other jobs were running)  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  ",
        f"ogfr Rank-1 {ref_cmc[0]:.4f}, mAP {ref_map:.6f}, mINP {ref_minp:.6f}",
        "",
        "| what | seconds | note |",
        "|---|---:|---|",
        *[f"| {n} | {t:.2f} | {note} |" for n, t, note in rows],
        "",
    ]
    if t_cy is not None:
        lines += [f"ogfr / fast-reid Cython time ratio: {t_ours / t_cy:.2f} (target <= 0.5)", ""]
    else:
        lines += [
            "fast-reid's Cython module was not built (run --build-cython with a Python that has Cython).",
            "",
        ]
    lines += ["Numbers (first 20 CMC values, mAP, mINP) against ogfr's:", *agree, "", *extra, ""]
    text = "\n".join(lines)
    print(text)
    if not a.no_record:
        with RESULTS.open("a", encoding="utf-8") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
