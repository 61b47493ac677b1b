"""A tiny diffusers series for the interop tests: a UNet2DModel on 8x8 bumps, (x, y) as two input channels,
trained a few steps and saved at three steps in each source form (no download)."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DModel
from safetensors.torch import save_file

from manifold_lens.config import DataConfig
from manifold_lens.datasets import SyntheticDataset

N, STEPS, T = 8, (0, 2, 4), 100
ADAPTER = 'kind = "coordinates"\nscale = 0.2857142857142857  # 2 / (N - 1): x, y in [0, 7] px -> [-1, 1]\noffset = -1.0\n'


def tiny_unet() -> UNet2DModel:
    torch.manual_seed(0)
    return UNet2DModel(sample_size=N, in_channels=3, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4)


def make_series(root: Path) -> dict[str, Path]:
    """Train and save; returns {form: folder} for "diffusers", "safetensors", "state_dict", and "adapter"."""
    model, sched = tiny_unet(), DDPMScheduler(num_train_timesteps=T)
    ds = SyntheticDataset.from_config(DataConfig(family="bump", image_size=N))
    images = torch.from_numpy(ds.render_conditions(ds.train_index))[:, None]
    coords = torch.from_numpy(ds.x[ds.train_index]).float(), torch.from_numpy(ds.y[ds.train_index]).float()
    chans = torch.stack(coords, 1) * (2 / (N - 1)) - 1
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    forms = {f: root / f for f in ("diffusers", "safetensors", "state_dict")}
    for d in forms.values():
        d.mkdir(parents=True)
        if d.name != "diffusers":
            model.save_config(d)
            sched.save_config(d)
    g = torch.Generator().manual_seed(0)
    for step in range(max(STEPS) + 1):
        if step in STEPS:
            sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
            model.save_pretrained(forms["diffusers"] / f"checkpoint-{step}" / "unet")
            sched.save_pretrained(forms["diffusers"] / f"checkpoint-{step}" / "scheduler")
            save_file(sd, str(forms["safetensors"] / f"step-{step}.safetensors"))
            torch.save(sd, forms["state_dict"] / f"model_{step}.pt")
        idx = torch.randint(0, len(images), (16,), generator=g)
        t = torch.randint(0, T, (16,), generator=g)
        noise = torch.randn(16, 1, N, N, generator=g)
        x_t = sched.add_noise(images[idx], noise, t)
        inp = torch.cat([x_t, chans[idx][:, :, None, None].expand(-1, -1, N, N)], 1)
        loss = torch.nn.functional.mse_loss(model(inp, t).sample, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
    (root / "adapter.toml").write_text(ADAPTER)
    return {**forms, "adapter": root / "adapter.toml"}
