"""The stopping rule ``train.until_accuracy``: sample the training conditions every ``train.check_every`` steps.

Every ``check_every`` optimiser steps (0: every ``checkpoint_every``) the
trainer draws one sample at each of up to :data:`CHECK_CONDITIONS` of the
run's training conditions (evenly spaced over them, the same ones at every
check) with a :data:`CHECK_SAMPLER_STEPS`-step DDIM sampler and the weights the
evaluation uses (EMA where the run keeps them), scores them with the
evaluation's scorer (:func:`manifold_lens.evaluation.evaluate.score_model`,
default tolerance and localizer) and stops when the fraction correct reaches
``until_accuracy``; ``train.steps`` stays the cap. With the default interval
a run stops at one of its checkpoint steps, so its checkpoints are a prefix of
a full run's and the study's accuracy curves stay aligned. Cost per check: at most 64 x 20
= 1280 single-image forward passes, about 20 training steps at batch 64 (4% of
training at one check per 500 steps). The sampling noise has its own seed, so the
checks never touch the training's random stream: the weights trained are those
of a run without checks, only where it stops differs.

With 64 conditions and one sample each the check's binomial standard error
is at most 0.06 (0.04 near 0.9): give ``until_accuracy`` a little above the
threshold a later selection uses (e.g. 0.95 for the test's 0.9).

What it records in the run store's root attrs: ``accuracy_checks`` (a list
of [step, accuracy]), ``accuracy_check`` (how it was measured),
``steps_trained`` and ``stopped`` ("until_accuracy" or "steps").
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from manifold_lens.evaluation.evaluate import score_model, select_conditions
from manifold_lens.evaluation.settings import EvaluationSettings

CHECK_CONDITIONS = 64      # training conditions sampled per check (evenly spaced; all when fewer)
CHECK_SAMPLER_STEPS = 20   # DDIM steps per sample (at most the schedule's T)
CHECK_SEED = 0             # seed of the checks' sampling noise (the same at every check)


class AccuracyCheck:
    """The accuracy of the model on its training conditions at multiples of ``every`` steps, and its history."""

    def __init__(self, config, run, start_step: int, ema: bool):
        tc = config.train
        self.ema = bool(ema)
        self.target = tc.until_accuracy
        self.every = int(tc.check_every or tc.checkpoint_every or max(1, tc.steps // 10))
        cond = select_conditions(run.conditions, "train")
        n = cond.sizes["condition"]
        self.cond = cond.isel(condition=np.unique(np.linspace(0, n - 1, min(n, CHECK_CONDITIONS)).round()
                                                  .astype(int)))
        T = run.schedule.timesteps
        self.settings = EvaluationSettings(steps=min(CHECK_SAMPLER_STEPS, T), samples_per_condition=1,
                                           seed=CHECK_SEED).check(timesteps=T)
        cfg = config.resolved()
        self.image_size = int(cfg.data.image_size)
        self.sigma = (float(cfg.data.sigma_x), float(cfg.data.sigma_y))
        self.schedule = run.schedule
        # checks beyond the last commit (a run killed after a check) are done again on resume
        self.history = [[int(s), float(a)] for s, a in run.attrs.get("accuracy_checks", []) if int(s) <= start_step]
        self._model = None

    @property
    def enabled(self) -> bool:
        return self.target is not None

    def due(self, step: int) -> bool:
        return self.enabled and step > 0 and step % self.every == 0

    def reached(self) -> bool:
        """Whether a recorded check has reached the target."""
        return self.enabled and any(a >= self.target for _, a in self.history)

    def measure(self, state, step: int) -> float:
        """Sample and score the check's conditions with the current (EMA) weights; append to the history."""
        if self._model is None:  # a copy, not a new model: building one would draw from the global RNG
            self._model = copy.deepcopy(state.model)
        if self.ema:
            self._model.load_state_dict(state.ema)
        else:
            self._model.load_state_dict(state.model.state_dict())
        self._model.eval()
        with torch.no_grad():
            ds = score_model(self._model, self.schedule, self.cond, self.settings, image_size=self.image_size,
                             sigma=self.sigma, progress=False)
        acc = float(np.asarray(ds["correct"].values, dtype=np.float64).mean())
        self.history.append([int(step), acc])
        return acc

    def attrs(self) -> dict:
        """What the run store records about the checks (JSON-able)."""
        s = self.settings
        return {"accuracy_checks": self.history,
                "accuracy_check": {"until_accuracy": self.target, "every": self.every,
                                   "conditions": int(self.cond.sizes["condition"]), "samples_per_condition": 1,
                                   "sampler": s.sampler, "sampler_steps": int(s.sampler_steps),
                                   "seed": CHECK_SEED, "weights": "ema" if self.ema else "raw",
                                   "units": "fraction of samples correct (evaluation's scorer)"}}
