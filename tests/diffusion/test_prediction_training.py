"""A v-prediction, cosine-schedule run trains (8x8), records its schedule, and its loss is the MSE on v."""

import numpy as np
import torch
import torch.nn.functional as F

from manifold_lens import load_config, open_run
from manifold_lens.models import build_model
from manifold_lens.trainers.train import train
from tests.builders import QUIET, TINY

V_COSINE = ["diffusion.beta_schedule=squaredcos_cap_v2", "diffusion.prediction_type=v_prediction",
            "diffusion.timestep_spacing=leading", "train.steps=2", "train.ema_decay=0"]


def test_v_prediction_run_trains_on_v_and_records_its_schedule(tmp_path):
    cfg = load_config("quick", overrides=TINY + V_COSINE)
    path = train(cfg, tmp_path / "v.zarr", **QUIET)
    run = open_run(path)  # read back from the store: the schedule is part of the stored config
    assert run.config.diffusion == cfg.diffusion
    s = run.schedule
    assert (s.beta_schedule, s.prediction_type, s.timestep_spacing) == ("squaredcos_cap_v2", "v_prediction", "leading")
    loss = run.loss.loss.values
    assert len(loss) == 2 and np.isfinite(loss).all()

    # step 1's loss, recomputed from the stored initial weights and the trainer's seeded draws, is the MSE on v
    tc = cfg.train
    model = build_model(cfg.model.name, cfg.model.params, cfg.data.image_size)
    model.load_state_dict(run.state_dict(0, ema=False))
    tr = run.train_set
    images = torch.from_numpy(tr["image"].values.astype(np.float32)[:, None])
    cond = torch.from_numpy(np.stack([tr["x"].values, tr["y"].values], 1).astype(np.float32))
    g = torch.Generator().manual_seed(tc.seed + 1)
    idx = torch.multinomial(torch.from_numpy(tr["weight"].values.astype(np.float64)), tc.batch_size,
                            replacement=True, generator=g)
    t = torch.randint(0, s.timesteps, (tc.batch_size,), generator=g)
    noise = torch.randn((tc.batch_size, 1, 8, 8), generator=g)
    model.train()
    with torch.no_grad():
        out = model(s.q_sample(images[idx], t, noise), t, cond[idx])
    a = s.alphas_cumprod[t].float().view(-1, 1, 1, 1)
    v = a.sqrt() * noise - (1 - a).sqrt() * images[idx]
    assert abs(F.mse_loss(out, v).item() - loss[0]) < 1e-5 * max(1.0, loss[0])
    assert abs(F.mse_loss(out, noise).item() - loss[0]) > 1e-3  # not the epsilon loss
