"""The DDPM forward process: linear betas, closed-form noising q(x_t | x_0).

Timesteps are integers t = 0 .. T-1; ``alphas_cumprod[t]`` is the product of
(1 - beta_s) for s <= t, so x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps.
"""

from __future__ import annotations

import torch

from ..config import DiffusionConfig
from ..errors import ConfigError


class NoiseSchedule:
    """Linear beta schedule (Ho et al. 2020): beta_t from beta_start to beta_end over T steps.

    All tensors are float64 on CPU for exactness; :meth:`to` moves float32
    copies to a device for use inside samplers and training.
    """

    def __init__(self, timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        if timesteps < 2:
            raise ConfigError(f"timesteps = {timesteps}: must be >= 2")
        self.timesteps = int(timesteps)
        self.beta_start, self.beta_end = float(beta_start), float(beta_end)
        self.betas = torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        # posterior q(x_{t-1} | x_t, x_0) variance (beta tilde)
        self.posterior_variance = self.betas * (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)

    @classmethod
    def from_config(cls, config: DiffusionConfig | dict) -> "NoiseSchedule":
        if isinstance(config, dict):
            config = DiffusionConfig.model_validate(config)
        return cls(config.timesteps, config.beta_start, config.beta_end)

    @property
    def T(self) -> int:
        return self.timesteps

    def _gather(self, values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        out = values.to(like.device)[t.to(like.device).long()].to(like.dtype)
        return out.reshape(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Noise clean images x0 (B, C, H, W) to integer timesteps t (B,)."""
        a = self._gather(self.alphas_cumprod, t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Invert q_sample given the predicted noise."""
        a = self._gather(self.alphas_cumprod, t, x_t)
        return (x_t - (1 - a).sqrt() * eps) / a.sqrt()

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
