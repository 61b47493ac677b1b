"""Training throughput of the bundled UNet on CPU against the machine's fp32 conv peak.

Prints, for the quick and paper-bump models: training images/s, FLOPs per
image (forward + backward, counted by ``torch.utils.flop_counter``), achieved
GFLOP/s, and the fraction of a reference peak: the fp32 throughput of a large
3x3 convolution (forward + backward) measured in the same run.

    python benchmarks/train_throughput.py [--steps 10] [--presets quick,paper-bump]

Fair under load (issue 25): ``--competing N`` measures the quick model's
training img/s idle, then again while N busy single-thread processes (started
and stopped here) share the cores, with the library's policy applied as the
trainer applies it (``GOMP_SPINCOUNT=200000`` before torch starts; torch
threads lowered to the cores left free, :func:`manifold_lens.devices.apply_fair_threads`),
and prints both and their ratio (the aim: at most about 2).

    python benchmarks/train_throughput.py --competing 1 [--steps 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from manifold_lens.devices import apply_fair_threads, spin_policy

spin_policy()  # before torch's OpenMP starts, as the CLI does

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from manifold_lens.config import load_config  # noqa: E402
from manifold_lens.models import build_model  # noqa: E402

BUSY = "while True:\n    pass\n"  # one busy single-thread process


def conv_peak_gflops(seconds: float = 3.0) -> float:
    """fp32 GFLOP/s of a large 3x3 conv, forward + backward, channels-last."""
    x = torch.randn(64, 128, 32, 32).contiguous(memory_format=torch.channels_last).requires_grad_()
    conv = torch.nn.Conv2d(128, 128, 3, padding=1).to(memory_format=torch.channels_last)
    with FlopCounterMode(display=False) as fc:
        conv(x).sum().backward()
    flops = fc.get_total_flops()
    for _ in range(2):
        conv(x).sum().backward()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        conv(x).sum().backward()
        n += 1
    return flops * n / (time.perf_counter() - t0) / 1e9


def train_step_fn(preset: str, batch: int | None, channels_last: bool):
    cfg = load_config(preset)
    n = cfg.data.image_size
    batch = batch or cfg.train.batch_size
    torch.manual_seed(0)
    model = build_model(cfg.model.name, cfg.model.params, n)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, n, n).contiguous(memory_format=fmt)
    t = torch.randint(0, 1000, (batch,))
    cond = torch.rand(batch, 2) * n
    noise = torch.randn(batch, 1, n, n)

    def step():
        loss = F.mse_loss(model(x, t, cond), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, batch


def measure(preset: str, steps: int, batch: int | None, channels_last: bool) -> dict:
    step, batch = train_step_fn(preset, batch, channels_last)
    with FlopCounterMode(display=False) as fc:
        step()
    flops_per_image = fc.get_total_flops() / batch
    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = (time.perf_counter() - t0) / steps
    return {"preset": preset, "batch": batch, "channels_last": channels_last, "img_s": batch / dt,
            "gflop_per_img": flops_per_image / 1e9, "gflops": flops_per_image * batch / dt / 1e9}


def img_per_s(step, batch: int, steps: int) -> float:
    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def under_load(preset: str, steps: int, competing: int, fair: bool) -> None:
    """img/s idle and beside ``competing`` busy processes (started and stopped here), and the ratio."""
    threads = torch.get_num_threads()
    step, batch = train_step_fn(preset, None, False)
    idle = img_per_s(step, batch, steps)
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(competing)]
    try:
        time.sleep(1.0)  # let them be scheduled (the running count is what the policy reads)
        used = apply_fair_threads() if fair else threads
        loaded = img_per_s(step, batch, steps)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        torch.set_num_threads(threads)
    print(f"{preset}: OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')}, threads idle {threads}, "
          f"under load {used}")
    print(f"idle {idle:.1f} img/s; beside {competing} busy process(es) {loaded:.1f} img/s; "
          f"slowdown {idle / loaded:.2f}x (aim: <= 2)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--presets", default="quick,paper-bump")
    ap.add_argument("--batch", type=int, default=None, help="override the preset's batch size")
    ap.add_argument("--competing", type=int, default=0, help="measure idle vs beside N busy processes (quick model)")
    ap.add_argument("--no-fair-threads", action="store_true", help="with --competing: keep torch's threads")
    args = ap.parse_args()
    if args.competing:
        under_load(args.presets.split(",")[0] if args.presets != "quick,paper-bump" else "quick", args.steps,
                   args.competing, not args.no_fair_threads)
        return
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    peak = conv_peak_gflops()
    print(f"reference peak (3x3 conv 128->128 ch, 32x32, batch 64, fwd+bwd): {peak:.1f} GFLOP/s")
    print(f"{'preset':12s} {'batch':>5s} {'layout':>13s} {'img/s':>8s} {'GFLOP/img':>10s} {'GFLOP/s':>8s} {'% peak':>7s}")
    for preset in args.presets.split(","):
        for cl in (False, True):
            r = measure(preset, args.steps, args.batch, cl)
            layout = "channels_last" if cl else "contiguous"
            print(f"{preset:12s} {r['batch']:5d} {layout:>13s} {r['img_s']:8.1f} {r['gflop_per_img']:10.3f} "
                  f"{r['gflops']:8.1f} {100 * r['gflops'] / peak:6.0f}%")


if __name__ == "__main__":
    main()
