"""The training loop: DDPM (eps, v or x0 prediction, as ``diffusion.prediction_type``) with AdamW, EMA and crash-safe
checkpoints.

Everything random in a run comes from two seeds: ``train.seed`` initialises
the weights (``torch.manual_seed``) and seeds a dedicated CPU generator that
draws the batches, timesteps and noise. Its state is saved with every
checkpoint, together with the optimizer state, so ``resume=True`` continues a
killed run bit for bit on CPU, also to a larger ``train.steps``: nothing in the
update depends on the total number of steps (the learning rate only warms up).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from manifold_lens.config import RunConfig
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.devices import apply_fair_threads, resolve_device
from manifold_lens.diffusion import NoiseSchedule
from manifold_lens.errors import ConfigError, StoreError
from manifold_lens.models import build_model
from manifold_lens.stores import RunWriter, open_run

from .convergence import AccuracyCheck

# Keys that may change when resuming; everything else must match the stored run.
RESUMABLE_KEYS = {"train.steps", "train.checkpoint_every", "train.early_checkpoints", "train.log_every",
                  "train.device", "train.until_accuracy", "train.check_every"}  # the checks never change the weights


def checkpoint_schedule(total_steps: int, every: int, early: int) -> list[int]:
    """Steps at which checkpoints are taken: 0, ``early`` log-spaced steps below
    ``every``, then every ``every`` steps, and always the last step."""
    steps = {0, total_steps}
    if early > 0 and every > 1:
        steps.update(int(round(s)) for s in np.geomspace(1, every, early + 1)[:-1])
    steps.update(range(every, total_steps + 1, every))
    return sorted(s for s in steps if 0 <= s <= total_steps)


def learning_rate(step: int, base_lr: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then constant."""
    return base_lr * min(1.0, (step + 1) / warmup) if warmup > 0 else base_lr


def _to_numpy(tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Contiguous CPU copies of named tensors, as stored in the run store."""
    return {k: v.detach().cpu().contiguous().numpy() for k, v in tensors.items()}


class _State:
    """The mutable state of a training run (model, EMA, optimizer, generator)."""

    def __init__(self, config: RunConfig, device: torch.device):
        self.config = config
        t = config.train
        torch.manual_seed(t.seed)
        self.model = build_model(config.model.name, config.model.params, config.data.image_size).to(device)
        self.memory_format = torch.channels_last if t.channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.names = list(self.model.state_dict().keys())
        self.params = dict(self.model.named_parameters())
        self.ema = ({k: v.detach().clone() for k, v in self.model.state_dict().items()} if t.ema_decay > 0 else None)
        # state_dict tensors share storage with the parameters: pair them once, not every step
        self.ema_pairs = ([(self.ema[k], v) for k, v in self.model.state_dict().items()]
                           if self.ema is not None else [])
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.generator = torch.Generator().manual_seed(t.seed + 1)
        self.step = 0

    def resume_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        """Optimizer moments flattened in parameter order, the generator state, and metadata."""
        names = [n for n, p in self.params.items() if p in self.opt.state]
        states = [self.opt.state[self.params[n]] for n in names]
        flat = {k: (torch.cat([st[k].detach().reshape(-1).cpu() for st in states]).numpy()
                    if states else np.zeros(0, np.float32)) for k in ("exp_avg", "exp_avg_sq")}
        meta = {"step": self.step, "names": names, "optim_steps": [float(st["step"]) for st in states]}
        return {"rng": self.generator.get_state().numpy(), **flat}, meta

    def restore(self, run, device: torch.device) -> None:
        """Load weights, EMA, optimizer and generator state of the run's last commit."""
        arrays, meta, step = run.resume_state()
        if step != run.steps[-1]:
            raise StoreError(f"{run.path}: resume state is for step {step} but the last checkpoint is "
                             f"{run.steps[-1]}; the store is inconsistent")
        self.model.load_state_dict(run.state_dict(step, ema=False))
        if self.ema is not None:
            for k, v in run.state_dict(step, ema=True).items():
                self.ema[k].copy_(v.to(device))
        offset = 0
        for n, opt_step in zip(meta["names"], meta["optim_steps"]):
            p = self.params[n]
            size = p.numel()
            st = self.opt.state[p]
            st["step"] = torch.tensor(opt_step, dtype=torch.float32)
            for k in ("exp_avg", "exp_avg_sq"):
                value = torch.from_numpy(arrays[k][offset:offset + size].copy()).reshape(p.shape).to(device)
                st[k] = torch.empty_like(p).copy_(value)  # same memory format as the parameter
            offset += size
        self.generator.set_state(torch.from_numpy(arrays["rng"].astype(np.uint8)))
        self.step = step


def _resume_config(run, requested: RunConfig) -> RunConfig:
    """The stored config with the resumable keys taken from ``requested``; any other difference is an error."""
    stored = run.config
    a, b = stored.to_dict(), requested.to_dict()
    for section in a:
        for key in sorted(set(a[section]) | set(b[section])):
            full = f"{section}.{key}"
            if a[section].get(key) != b[section].get(key) and full not in RESUMABLE_KEYS:
                raise ConfigError(
                    f"--resume: {full} differs from the stored run ({a[section].get(key)!r} vs "
                    f"{b[section].get(key)!r}); only {', '.join(sorted(RESUMABLE_KEYS))} may change when resuming"
                )
    config = stored.with_overrides({f"{sec}.{k}": v for sec in b for k, v in b[sec].items()
                                    if f"{sec}.{k}" in RESUMABLE_KEYS}).resolved()
    if config.train.steps < (run.steps[-1] if run.steps else 0):
        raise ConfigError(f"train.steps = {config.train.steps} is below the last committed step "
                          f"{run.steps[-1]}; resume to at least that many steps")
    return config


def train(config: RunConfig, out: str | Path, *, resume: bool = False, replace: bool = False,
          device: str | None = None, progress: bool = True, log=print) -> Path:
    """Train a run into ``out`` (a new store, or continue one with ``resume``); registered as trainer ``ddpm``.

    ``config`` must be validated and resolved (:func:`manifold_lens.config.load_config`);
    :func:`manifold_lens.training.train_run` checks the paths and calls this.
    With ``resume`` the stored config is used, with ``train.steps`` and the
    checkpointing keys taken from ``config``. The training images are read
    back from the run store in both cases: the store is the one source.
    Returns the store path.
    """
    out = Path(out)
    dev = resolve_device(device or config.train.device)
    if dev.type == "cpu":
        apply_fair_threads()  # only the cores other processes leave free (manifold_lens.devices)
    run = open_run(out) if resume else None
    if run is not None:
        config = _resume_config(run, config)
        writer = RunWriter.open_for_resume(out)
        writer.update_config(config)
    state = _State(config, dev)
    if run is not None and run.steps:
        state.restore(run, dev)
    else:  # a new run, or a store killed before its first commit: start afresh in place
        writer = RunWriter.create(out, config, SyntheticDataset(config.data), state.names,
                                  replace=replace or run is not None)
    stored = open_run(out)
    tr = stored.train_set
    check = AccuracyCheck(config, stored, state.step, ema=state.ema is not None)
    tc = config.train
    schedule = NoiseSchedule.from_config(config.diffusion)
    images = torch.from_numpy(np.asarray(tr["image"].values, dtype=np.float32)[:, None]).to(dev)
    cond = torch.from_numpy(np.stack([tr["x"].values, tr["y"].values], 1).astype(np.float32)).to(dev)
    weights = torch.from_numpy(tr["weight"].values.astype(np.float64))
    n_examples = len(weights)
    ckpts = set(checkpoint_schedule(tc.steps, tc.checkpoint_every, tc.early_checkpoints))
    pending: list[tuple[int, float]] = []

    def commit() -> None:
        arrays, meta = state.resume_arrays()
        ema = _to_numpy(state.ema) if state.ema is not None else None
        writer.commit_checkpoint(state.step, state.step * tc.batch_size / n_examples,
                                 _to_numpy(state.model.state_dict()), ema, arrays, meta, pending)
        pending.clear()

    if state.step == 0 and writer.committed == 0:
        commit()  # the initial weights: learning dynamics start here
    start = state.step
    if check.reached():  # stopped by train.until_accuracy before (a resume, or a rerun of a study)
        writer.set_status("complete", steps_trained=start, stopped="until_accuracy", **check.attrs())
        log(f"{out}: stopped at step {start}, training accuracy reached train.until_accuracy = {check.target:g}")
        return out
    if start >= tc.steps:
        writer.set_status("complete")
        log(f"{out}: already trained to step {start}; raise train.steps (--set train.steps=N) to continue")
        return out
    log(f"training {config.model.name} on {n_examples} {config.data.family} examples "
        f"({config.data.image_size}x{config.data.image_size}) for steps {start + 1}..{tc.steps} on {dev}; "
        f"{config.diffusion.describe()}")
    writer.set_status("running")
    state.model.train()
    bar = tqdm(total=tc.steps, initial=start, disable=not progress, unit="step", dynamic_ncols=True)
    t0, seen = time.perf_counter(), 0
    try:
        while state.step < tc.steps:
            g = state.generator
            idx = torch.multinomial(weights, tc.batch_size, replacement=True, generator=g)
            t = torch.randint(0, schedule.timesteps, (tc.batch_size,), generator=g)
            noise = torch.randn((tc.batch_size, 1, config.data.image_size, config.data.image_size), generator=g)
            idx, t, noise = idx.to(dev), t.to(dev), noise.to(dev)
            x_t = schedule.q_sample(images[idx], t, noise).contiguous(memory_format=state.memory_format)
            for group in state.opt.param_groups:
                group["lr"] = learning_rate(state.step, tc.lr, tc.warmup_steps)
            loss = F.mse_loss(state.model(x_t, t, cond[idx]), schedule.target(images[idx], noise, t))
            state.opt.zero_grad(set_to_none=True)
            loss.backward()
            if tc.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(state.model.parameters(), tc.grad_clip)
            state.opt.step()
            with torch.no_grad():
                for ema_tensor, tensor in state.ema_pairs:
                    ema_tensor.lerp_(tensor, 1 - tc.ema_decay)
            state.step += 1
            lv = float(loss.detach())
            if not math.isfinite(lv):
                writer.set_status("diverged")
                raise StoreError(f"loss became {lv} at step {state.step}; lower train.lr or raise train.grad_clip")
            pending.append((state.step, lv))
            seen += tc.batch_size
            bar.update(1)
            if state.step % tc.log_every == 0 or state.step == tc.steps:
                rate = seen / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(loss=f"{lv:.4f}", img_s=f"{rate:.0f}")
            stop = False
            if check.due(state.step):  # train.until_accuracy: sample the training conditions
                acc = check.measure(state, state.step)
                stop = acc >= check.target
                writer.set_status("running", **check.attrs())
                log(f"step {state.step}: accuracy {acc:.3f} on {len(check.cond['condition'])} training conditions "
                    f"(train.until_accuracy = {check.target:g})" + ("; stopping" if stop else ""))
            if state.step in ckpts or stop:
                commit()
            if stop:
                break
    except KeyboardInterrupt:
        writer.set_status("interrupted")
        bar.close()
        log(f"interrupted: {out} holds checkpoints up to step {writer.root.attrs['last_step']}; "
            "continue with --resume")
        raise
    bar.close()
    writer.set_status("complete", steps_trained=state.step, stopped="until_accuracy" if check.reached() else "steps",
                      **(check.attrs() if check.enabled else {}))
    return out
