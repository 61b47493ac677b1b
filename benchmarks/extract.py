"""Speed and memory of representation extraction and analysis; prints figures.

    python benchmarks/extract.py [--device auto] [--conditions 1024] [--batch-size 256]

1. extraction throughput (conditions/s) on the ``paper-bump`` model (32 x 32,
   built untrained from the preset through the model registry: speed does not
   depend on the weights), layers bottleneck + layer4, one timestep, one draw;
2. hook overhead: a forward pass under ``capture`` (both layers, flattened,
   copied to CPU) against a plain forward at the same batch (goal <= 5 %);
3. peak memory of ``analyze_run`` on 1 vs 20 checkpoints of a tiny trained run
   (each case in a fresh process: peak RSS and the tracemalloc peak of
   Python/NumPy allocations; goal: about equal);
4. time of ``measure`` on 1024 conditions x 4096 units;
5. with ``--analyze RUN.zarr`` (e.g. a quick-preset run): wall time of a full
   ``analyze_run`` (every checkpoint, defaults) with and without the
   references (pixels, init, shuffled, ideal codes) and with homology on,
   each in a fresh results store (goal: references cost < 2x).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from manifold_lens.config import load_config
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.analysis.extract import extract_activations, resolve_layers
from manifold_lens.analysis.grid import condition_grid, render_grid
from manifold_lens.analysis.hooks import capture
from manifold_lens.models import build_model
from manifold_lens.devices import resolve_device
from manifold_lens.diffusion import NoiseSchedule

LAYERS = ["bottleneck", "layer4"]


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def bench_extraction(dev, n_conditions, batch_size):
    cfg = load_config("paper-bump")
    model = build_model(cfg.model.name, cfg.model.params, cfg.data.image_size).to(dev).eval()
    ds = SyntheticDataset(cfg.data)
    conds = condition_grid(ds)
    if n_conditions < conds.sizes["condition"]:
        conds = conds.isel(condition=np.linspace(0, conds.sizes["condition"] - 1, n_conditions).astype(int))
    images = render_grid(ds, conds)
    sched = NoiseSchedule.from_config(cfg.diffusion)
    kw = dict(layers=LAYERS, timesteps=[50], noise_draws=1, batch_size=batch_size, device=dev)
    extract_activations(model, conds.isel(condition=slice(0, batch_size)), images[:batch_size], sched, **kw)  # warm-up
    _sync(dev)
    t0 = time.perf_counter()
    acts = extract_activations(model, conds, images, sched, **kw)
    _sync(dev)
    dt = time.perf_counter() - t0
    n = conds.sizes["condition"]
    units = {k: v.sizes["unit"] for k, v in acts.items()}
    print(f"[1] extraction, paper-bump model ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params), "
          f"{n} conditions x 1 timestep x 1 draw, batch {batch_size}, layers {units}:")
    print(f"    {n / dt:.1f} conditions/s ({dt:.2f} s)")
    return model, conds, images, sched


def bench_hook_overhead(model, images, conds, sched, dev, batch_size, repeats):
    x0 = torch.as_tensor(images[:batch_size]).to(dev)
    b = x0.shape[0]
    cond = torch.as_tensor(np.stack([conds.x.values[:b], conds.y.values[:b]], 1), dtype=torch.float32).to(dev)
    t = torch.full((b,), 50, dtype=torch.long, device=dev)
    x_t = sched.q_sample(x0, t, torch.randn_like(x0))
    names = resolve_layers(model, LAYERS)

    def flat(a):
        return a.reshape(a.shape[0], -1).float()

    def plain():
        model(x_t, t, cond)

    def hooked():
        with capture(model, names, transform=flat) as cache:
            model(x_t, t, cond)
        return cache

    times = {"plain": [], "hooked": []}
    with torch.no_grad():
        for f in (plain, hooked, plain, hooked):  # warm-up both paths
            f()
        _sync(dev)
        for _ in range(repeats):  # interleave so drifting machine load hits both alike
            for key, f in (("plain", plain), ("hooked", hooked)):
                t0 = time.perf_counter()
                f()
                _sync(dev)
                times[key].append(time.perf_counter() - t0)
    p, h = np.min(times["plain"]), np.min(times["hooked"])
    pm, hm = np.median(times["plain"]), np.median(times["hooked"])
    print(f"[2] hook overhead at batch {b} ({repeats} interleaved repeats): fastest plain {p * 1e3:.1f} ms, "
          f"hooked {h * 1e3:.1f} ms -> {100 * (h / p - 1):+.1f} % (goal <= 5 %); medians {pm * 1e3:.1f} / "
          f"{hm * 1e3:.1f} ms -> {100 * (hm / pm - 1):+.1f} %")


def make_tiny_run(path: Path) -> None:
    from manifold_lens.training import train_run

    cfg = load_config("quick", overrides=[
        "data.image_size=16", "model.base_channels=8", "model.embed_dim=32", "model.freq_dim=8",
        "train.steps=19", "train.batch_size=8", "train.checkpoint_every=1", "train.early_checkpoints=0",
        "train.warmup_steps=2"])
    train_run(cfg, path, progress=False, log=lambda *a: None)


def _vm(field: str) -> float:
    """A memory figure of this process from /proc/self/status, MiB (VmHWM: peak RSS, VmRSS: current)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_case(run: str, n_checkpoints: int, out: str) -> None:
    """Child process: analyse the first n checkpoints; print peak RSS and tracemalloc peak (MiB).

    The RSS peak (VmHWM) is reset after imports and a first model build
    (``echo 5 > /proc/self/clear_refs``), so it measures the analysis alone.
    """
    import gc
    import tracemalloc

    import manifold_lens.analysis.analyze as analyze
    from manifold_lens.stores import open_run

    # instrument: current RSS right after each checkpoint's results are written
    after_each: list[float] = []
    append = analyze.append_results

    def append_and_record(*args, **kwargs):
        group = append(*args, **kwargs)
        gc.collect()
        after_each.append(_vm("VmRSS"))
        return group

    analyze.append_results = append_and_record

    r = open_run(run)
    steps = r.steps[:n_checkpoints]
    r.load_model(steps[0])  # imports and first model build before the baseline
    Path("/proc/self/clear_refs").write_text("5")
    base = _vm("VmRSS")
    tracemalloc.start()
    t0 = time.perf_counter()
    analyze.analyze_run(r, out, checkpoints=steps, layers=LAYERS, timesteps=[0, 50], noise_draws=2, device="cpu",
                progress=False, keep_activations=False)
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = _vm("VmHWM")
    print(json.dumps({"n": len(steps), "rss_peak_mib": rss, "rss_base_mib": base,
                      "tracemalloc_peak_mib": peak / 2**20, "seconds": dt, "rss_after_each_mib": after_each}))


def bench_memory():
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run20.zarr"
        make_tiny_run(run)
        from manifold_lens.stores import open_run

        n_ck = len(open_run(run).steps)
        rows = []
        for n in (1, 20):
            out = Path(tmp) / f"results{n}.zarr"
            res = subprocess.run([sys.executable, __file__, "--memory-case", str(run), str(n), str(out)],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(f"[3] analyze_run peak memory, tiny run (16 x 16, {n_ck} checkpoints), 256 conditions x 2 timesteps "
          "x 2 layers x 2 draws, fresh process per case:")
    for r in rows:
        print(f"    {r['n']:2d} checkpoint(s): peak RSS {r['rss_peak_mib']:.0f} MiB (after imports "
              f"{r['rss_base_mib']:.0f} MiB, +{r['rss_peak_mib'] - r['rss_base_mib']:.0f}), tracemalloc peak "
              f"{r['tracemalloc_peak_mib']:.1f} MiB, {r['seconds']:.1f} s")
    each = rows[-1]["rss_after_each_mib"]
    half = len(each) // 2
    print(f"    RSS after each checkpoint (20-checkpoint case): first half mean {np.mean(each[:half]):.0f} MiB, "
          f"second half mean {np.mean(each[half:]):.0f} MiB, range {min(each):.0f}-{max(each):.0f} MiB")


def bench_measure(embed):
    from manifold_lens.analysis import measure

    rng = np.random.default_rng(0)
    gx, gy = np.meshgrid(np.arange(32.0), np.arange(32.0))
    # a smooth additive code plus noise, so every metric has real work to do
    a = rng.normal(size=(32, 4096)).cumsum(0) / 8
    b = rng.normal(size=(32, 4096)).cumsum(0) / 8
    h = a[gx.ravel().astype(int)] + b[gy.ravel().astype(int)] + 0.1 * rng.normal(size=(1024, 4096))
    da = xr.DataArray(h.astype(np.float32), dims=("condition", "unit"),
                      coords={"x": ("condition", gx.ravel()), "y": ("condition", gy.ravel())})
    for e in embed:
        t0 = time.perf_counter()
        measure(da, embed=e)
        print(f"[4] measure on 1024 conditions x 4096 units, embed={','.join(e)}: {time.perf_counter() - t0:.2f} s")


def bench_analyze(run: str) -> None:
    """A full analysis of ``run`` with and without references, and with homology (H1 of every code)."""
    from manifold_lens.analysis import analyze_run

    with tempfile.TemporaryDirectory() as tmp:
        times = {}
        for label, kw in (("without references", {"references": False}), ("with references (default)", {}),
                          ("with references and homology", {"homology": True})):
            t0 = time.perf_counter()
            ds = analyze_run(run, Path(tmp) / f"{len(times)}.zarr", progress=False, **kw)
            times[label] = time.perf_counter() - t0
            print(f"analyze {run} ({ds.sizes['checkpoint']} checkpoints), {label}: {times[label]:.1f} s wall")
        base = times["without references"]
        print(f"  references cost {times['with references (default)'] / base:.2f}x, "
              f"with homology {times['with references and homology'] / base:.2f}x")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--conditions", type=int, default=1024, help="conditions for the throughput figure")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=10, help="timed repeats for the hook overhead")
    p.add_argument("--skip", default="", help="comma list of parts to skip: extract,hooks,memory,measure")
    p.add_argument("--analyze", metavar="RUN", help="also time a full analyze of this run store (part 5)")
    p.add_argument("--memory-case", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_case:
        memory_case(args.memory_case[0], int(args.memory_case[1]), args.memory_case[2])
        return
    skip = set(args.skip.split(","))
    dev = resolve_device(args.device)
    print(f"device {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cores" + (f", {torch.cuda.get_device_name(dev)}" if dev.type == "cuda" else ""))
    if not {"extract", "hooks"} <= skip:
        model, conds, images, sched = bench_extraction(dev, args.conditions, args.batch_size)
        if "hooks" not in skip:
            bench_hook_overhead(model, images, conds, sched, dev, args.batch_size, args.repeats)
    if "memory" not in skip:
        bench_memory()
    if "measure" not in skip:
        bench_measure([("pca",), ("pca", "isomap", "umap")])
    if args.analyze:
        bench_analyze(args.analyze)


if __name__ == "__main__":
    main()
