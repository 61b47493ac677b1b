"""The DDPM forward process q(x_t | x_0) and what the model's output means, as diffusers has them.

Timesteps are integers t = 0 .. T-1; ``alphas_cumprod[t]`` (abar_t) is the
product of (1 - beta_s) for s <= t, so x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps.
Betas (diffusers' ``DDPMScheduler``, computed here in float64):

* ``linear``: linspace(beta_start, beta_end, T) (Ho et al. 2020);
* ``scaled_linear``: linspace(sqrt(beta_start), sqrt(beta_end), T) ** 2;
* ``squaredcos_cap_v2``: beta_t = min(1 - f((t+1)/T) / f(t/T), 0.999) with
  f(u) = cos((u + 0.008) / 1.008 pi/2) ** 2 (Nichol & Dhariwal 2021).

The model's output ``out`` is, by ``prediction_type``: the noise eps
(``epsilon``), v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0 (``v_prediction``,
Salimans & Ho 2022) or x_0 itself (``sample``). :meth:`NoiseSchedule.model_x0`
and :meth:`NoiseSchedule.model_eps` turn it into either; :meth:`NoiseSchedule.target`
is what training regresses the output on.
"""

from __future__ import annotations

import math

import torch

from ..config import DiffusionConfig, validate_section
from ..errors import ConfigError

MAX_BETA = 0.999  # squaredcos_cap_v2's cap, as diffusers' betas_for_alpha_bar


def _cosine_betas(timesteps: int) -> torch.Tensor:
    def f(u: float) -> float:
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    return torch.tensor([min(1 - f((i + 1) / timesteps) / f(i / timesteps), MAX_BETA) for i in range(timesteps)],
                        dtype=torch.float64)


def make_betas(timesteps: int, beta_start: float, beta_end: float, beta_schedule: str) -> torch.Tensor:
    """The betas (T,) float64 of a schedule (see the module docstring)."""
    if beta_schedule == "linear":
        return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
    if beta_schedule == "scaled_linear":
        return torch.linspace(beta_start**0.5, beta_end**0.5, timesteps, dtype=torch.float64) ** 2
    if beta_schedule == "squaredcos_cap_v2":
        return _cosine_betas(timesteps)
    raise ConfigError(f"beta_schedule = {beta_schedule!r}: must be one of linear, scaled_linear, squaredcos_cap_v2")


def convert(prediction_type: str, x_t: torch.Tensor, out: torch.Tensor, sa, s1a,
            to: str) -> torch.Tensor:
    """The model output ``out`` at x_t as x0 (``to="x0"``) or eps (``to="eps"``).

    ``sa`` = sqrt(abar_t) and ``s1a`` = sqrt(1 - abar_t), Python floats or
    tensors broadcasting against x_t. The formulas are diffusers' (DDIMScheduler.step).
    """
    if prediction_type == "epsilon":
        return out if to == "eps" else (x_t - s1a * out) / sa
    if prediction_type == "sample":
        return out if to == "x0" else (x_t - sa * out) / s1a
    if prediction_type == "v_prediction":
        return sa * out + s1a * x_t if to == "eps" else sa * x_t - s1a * out
    raise ConfigError(f"prediction_type = {prediction_type!r}: must be one of epsilon, v_prediction, sample")


class NoiseSchedule:
    """The forward process (T, betas) and the model's prediction type; sampler options of the run's config.

    Built from a :class:`~manifold_lens.config.DiffusionConfig` (:meth:`from_config`)
    or its keys; every value is checked there. All tensors are float64 on
    the CPU for exactness; helpers gather them to the input's device and dtype.
    """

    def __init__(self, timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
                 beta_schedule: str = "linear", prediction_type: str = "epsilon", **sampling):
        if timesteps < 2:
            raise ConfigError(f"timesteps = {timesteps}: must be >= 2")
        self.config: DiffusionConfig = validate_section(DiffusionConfig, dict(
            timesteps=timesteps, beta_start=beta_start, beta_end=beta_end, beta_schedule=beta_schedule,
            prediction_type=prediction_type, **sampling))
        c = self.config
        self.timesteps = int(c.timesteps)
        self.beta_start, self.beta_end = float(c.beta_start), float(c.beta_end)
        self.beta_schedule, self.prediction_type = c.beta_schedule, c.prediction_type
        self.clip_sample, self.clip_sample_range = c.clip_sample, float(c.clip_sample_range)
        self.timestep_spacing, self.steps_offset = c.timestep_spacing, int(c.steps_offset)
        self.set_alpha_to_one, self.variance_type = c.set_alpha_to_one, c.variance_type
        self.betas = make_betas(self.timesteps, self.beta_start, self.beta_end, self.beta_schedule)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        # posterior q(x_{t-1} | x_t, x_0) variance (beta tilde)
        self.posterior_variance = self.betas * (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)
        # abar after DDIM's last step: clean (1), or abar_0 (diffusers' set_alpha_to_one = False)
        self.final_alpha_cumprod = 1.0 if self.set_alpha_to_one else float(self.alphas_cumprod[0])

    @classmethod
    def from_config(cls, config: DiffusionConfig | dict) -> "NoiseSchedule":
        if isinstance(config, dict):
            config = validate_section(DiffusionConfig, config)
        return cls(**config.model_dump())

    @property
    def T(self) -> int:
        return self.timesteps

    def _gather(self, values: torch.Tensor, t, like: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t).reshape(-1)
        out = values.to(like.device)[t.to(like.device).long()].to(like.dtype)
        return out.reshape(-1, *([1] * (like.dim() - 1)))

    def _roots(self, t, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self._gather(self.alphas_cumprod, t, like)
        return a.sqrt(), (1 - a).sqrt()

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Noise clean images x0 (B, C, H, W) to integer timesteps t (B,)."""
        a = self._gather(self.alphas_cumprod, t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Invert q_sample given the noise eps (whatever the prediction type; see :meth:`model_x0`)."""
        a = self._gather(self.alphas_cumprod, t, x_t)
        return (x_t - (1 - a).sqrt() * eps) / a.sqrt()

    def model_x0(self, x_t: torch.Tensor, t, out: torch.Tensor) -> torch.Tensor:
        """The x0 the model's output ``out`` at (x_t, t) predicts, for this schedule's prediction type."""
        return convert(self.prediction_type, x_t, out, *self._roots(t, x_t), to="x0")

    def model_eps(self, x_t: torch.Tensor, t, out: torch.Tensor) -> torch.Tensor:
        """The noise eps the model's output ``out`` at (x_t, t) predicts, for this schedule's prediction type."""
        return convert(self.prediction_type, x_t, out, *self._roots(t, x_t), to="eps")

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the model learns to output at x_t = q_sample(x0, t, noise): eps, v or x0 (by prediction type)."""
        if self.prediction_type == "epsilon":
            return noise
        if self.prediction_type == "sample":
            return x0
        sa, s1a = self._roots(t, x0)
        return sa * noise - s1a * x0

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        """Signal-to-noise ratio abar / (1 - abar) at timesteps t."""
        a = self.alphas_cumprod[t.long()]
        return a / (1 - a)

    def check_timesteps(self, timesteps, name: str = "timesteps") -> list[int]:
        """Check user timesteps against [0, T); one-line ConfigError naming ``name`` otherwise.

        The message reads "timesteps = [50]: outside [0, 50) ..."; a ``name``
        given as a ``--flag`` keeps the former "--timesteps [50] outside" form.
        """
        out = [int(t) for t in timesteps]
        bad = [t for t in out if not 0 <= t < self.timesteps]
        if bad:
            where = f"{name} {bad}" if name.startswith("--") else f"{name} = {bad}:"
            raise ConfigError(f"{where} outside [0, {self.timesteps}): the run's diffusion has "
                              f"T = {self.timesteps}")
        return out
