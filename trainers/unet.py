"""The study's conditional UNet (docs/science.md, section 2).

Three encoder stages, a bottleneck and three decoder stages with skip
connections; GroupNorm everywhere, self-attention at the configured
resolutions and always in the bottleneck. The timestep t and the bump centre
(x, y) are each encoded sinusoidally, combined by an MLP into one embedding and
fed to every residual block: added as a bias, or with ``scale_shift`` (the
quick preset) as a per-channel scale and shift of its normalised activations.

Dotted module names (stable; users hook them). For an N x N input and stage
widths c0, c1, c2 = base_channels x channel_mult:

    embed          (B, embed_dim)      combined t, x, y embedding
    conv_in        (B, c0, N, N)
    encoder.0      (B, c0, N, N)       skip 0
    down.0         (B, c0, N/2, N/2)
    encoder.1      (B, c1, N/2, N/2)   skip 1
    down.1         (B, c1, N/4, N/4)
    encoder.2      (B, c2, N/4, N/4)   skip 2, the study's "layer 4"
    down.2         (B, c2, N/8, N/8)
    bottleneck     (B, c2, N/8, N/8)
    up.0           (B, c2, N/4, N/4)
    decoder.0      (B, c2, N/4, N/4)
    up.1           (B, c2, N/2, N/2)
    decoder.1      (B, c1, N/2, N/2)
    up.2           (B, c1, N, N)
    decoder.2      (B, c0, N, N)
    out            (B, 1, N, N)        predicted noise

Inside a stage, ``encoder.i.blocks.j`` are residual blocks and
``encoder.i.attention`` the self-attention (when present).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from pydantic import Field

from manifold_lens.config import Section, validate_section
from manifold_lens.errors import ConfigError


class UNetConfig(Section):
    """The UNet's parameters (the ``model`` section of a run config, besides ``name = "unet"``).

    base_channels: width of the first stage; stage i has base * channel_mult[i].
    channel_mult: three multipliers, one per down/up stage.
    num_res_blocks: residual blocks per stage.
    attention_resolutions: feature-map sizes (px) with self-attention; the
        bottleneck always has it.
    embed_dim: width of the combined (t, x, y) embedding fed to every block.
    freq_dim: number of sinusoidal features per encoded scalar (t, x, y); even.
    coord_max_period: longest period (px) of the x / y sinusoidal encodings.
    groups: GroupNorm groups; every stage width must be divisible by it.
    scale_shift: feed the embedding to each block as a per-channel scale and
        shift of its second normalised activation (FiLM, "scale-shift norm")
        instead of adding it as a bias; conditions the blocks multiplicatively.
    """

    base_channels: int = Field(64, ge=1)
    channel_mult: list[int] = [1, 2, 2]
    num_res_blocks: int = Field(1, ge=1)
    attention_resolutions: list[int] = [8]
    embed_dim: int = Field(256, ge=1)
    freq_dim: int = Field(64, ge=2, description="an even number")
    coord_max_period: float = Field(200.0, gt=0, description="pixels")
    groups: int = Field(8, ge=1)
    scale_shift: bool = False


def validate_unet(params: dict, image_size: int) -> dict:
    """Check the UNet's parameters and the image size it can take; return them with defaults filled in."""
    if image_size < 8 or image_size % 8:
        raise ConfigError(f"data.image_size = {image_size}: the UNet downsamples three times, so it must be a "
                          "multiple of 8 and >= 8 (e.g. 8, 16, 32)")
    c = validate_section(UNetConfig, params, "model")
    if len(c.channel_mult) != 3 or any(m < 1 for m in c.channel_mult):
        raise ConfigError(f"model.channel_mult = {c.channel_mult}: needs three positive multipliers, one per stage")
    if any((c.base_channels * m) % c.groups for m in c.channel_mult):
        raise ConfigError(f"model.groups = {c.groups}: every stage width (base_channels x channel_mult) must be "
                          "divisible by it")
    if c.freq_dim % 2:
        raise ConfigError(f"model.freq_dim = {c.freq_dim}: must be an even number >= 2")
    return c.model_dump()


def sinusoidal(values: torch.Tensor, dim: int, max_period: float) -> torch.Tensor:
    """Sinusoidal features of scalars (B,) -> (B, dim): periods from 2 pi up to max_period."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period / (2 * math.pi)) * torch.arange(half, device=values.device,
                                                                          dtype=torch.float32) / max(half - 1, 1))
    args = values.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ConditionEmbedding(nn.Module):
    """Encodes t, x and y sinusoidally and combines them into one vector for every block."""

    def __init__(self, freq_dim: int, embed_dim: int, coord_max_period: float, time_max_period: float = 10000.0):
        super().__init__()
        self.freq_dim, self.coord_max_period, self.time_max_period = freq_dim, coord_max_period, time_max_period
        self.mlp = nn.Sequential(nn.Linear(3 * freq_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))

    def forward(self, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        feats = torch.cat([
            sinusoidal(t, self.freq_dim, self.time_max_period),
            sinusoidal(cond[:, 0], self.freq_dim, self.coord_max_period),
            sinusoidal(cond[:, 1], self.freq_dim, self.coord_max_period),
        ], dim=-1)
        return self.mlp(feats)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the embedding added in between (DDPM style), or
    applied as a scale and shift of the second GroupNorm's output (``scale_shift``, FiLM)."""

    def __init__(self, cin: int, cout: int, embed_dim: int, groups: int, scale_shift: bool = False):
        super().__init__()
        self.scale_shift = scale_shift
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(embed_dim, 2 * cout if scale_shift else cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        r = self.conv1(F.silu(self.norm1(h)))
        e = self.emb(F.silu(emb))[:, :, None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            r = self.norm2(r) * (1 + scale) + shift
        else:
            r = self.norm2(r + e)
        return self.skip(h) + self.conv2(F.silu(r))


class SelfAttention(nn.Module):
    """Multi-head self-attention over spatial positions, residual."""

    def __init__(self, channels: int, groups: int, heads: int = 4):
        super().__init__()
        self.heads = heads if channels % heads == 0 else 1
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = h.shape
        q, k, v = self.qkv(self.norm(h)).reshape(b, 3, self.heads, c // self.heads, hh * ww).unbind(1)
        a = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return h + self.proj(a.transpose(-1, -2).reshape(b, c, hh, ww))


class Stage(nn.Module):
    """Residual blocks at one resolution, optionally followed by self-attention."""

    def __init__(self, cin: int, cout: int, n_blocks: int, embed_dim: int, groups: int, attention: bool,
                 scale_shift: bool = False):
        super().__init__()
        self.blocks = nn.ModuleList(
            [ResBlock(cin if i == 0 else cout, cout, embed_dim, groups, scale_shift) for i in range(n_blocks)]
        )
        self.attention = SelfAttention(cout, groups) if attention else None

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h, emb)
        if self.attention is not None:
            h = self.attention(h)
        return h


class Bottleneck(nn.Module):
    """Residual block, self-attention, residual block at N/8 resolution."""

    def __init__(self, channels: int, embed_dim: int, groups: int, scale_shift: bool = False):
        super().__init__()
        self.block1 = ResBlock(channels, channels, embed_dim, groups, scale_shift)
        self.attention = SelfAttention(channels, groups)
        self.block2 = ResBlock(channels, channels, embed_dim, groups, scale_shift)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return self.block2(self.attention(self.block1(h, emb)), emb)


class Upsample(nn.Module):
    """Nearest-neighbour x2 then a 3x3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(h, scale_factor=2.0, mode="nearest"))


class OutputHead(nn.Module):
    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.conv = nn.Conv2d(channels, 1, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv(F.silu(self.norm(h)))


class ConditionalUNet(nn.Module):
    """Predicts the noise in x_t given the timestep t and the condition (x, y).

    Call as ``model(x_t, t, cond)`` with x_t (B, 1, N, N), t (B,) integer
    timesteps and cond (B, 2) bump centres in pixels; returns (B, 1, N, N).
    ``layer_aliases`` are the study's names for its layers ("layer 4", the
    last encoder stage); ``default_layers`` what analysis looks at by default.
    """

    layer_aliases = {"layer4": "encoder.2"}
    default_layers = ("bottleneck",)

    def __init__(self, config: UNetConfig, image_size: int):
        super().__init__()
        self.config, self.image_size = config, image_size
        c = [config.base_channels * m for m in config.channel_mult]
        g, e = config.groups, config.embed_dim
        res = [image_size, image_size // 2, image_size // 4]
        attn = [r in config.attention_resolutions for r in res]
        nb, ss = config.num_res_blocks, config.scale_shift
        self.embed = ConditionEmbedding(config.freq_dim, e, config.coord_max_period)
        self.conv_in = nn.Conv2d(1, c[0], 3, padding=1)
        self.encoder = nn.ModuleList([
            Stage(c[0], c[0], nb, e, g, attn[0], ss),
            Stage(c[0], c[1], nb, e, g, attn[1], ss),
            Stage(c[1], c[2], nb, e, g, attn[2], ss),
        ])
        self.down = nn.ModuleList([nn.Conv2d(ch, ch, 3, stride=2, padding=1) for ch in c])
        self.bottleneck = Bottleneck(c[2], e, g, ss)
        self.up = nn.ModuleList([Upsample(c[2]), Upsample(c[2]), Upsample(c[1])])
        self.decoder = nn.ModuleList([
            Stage(c[2] + c[2], c[2], nb, e, g, attn[2], ss),
            Stage(c[2] + c[1], c[1], nb, e, g, attn[1], ss),
            Stage(c[1] + c[0], c[0], nb, e, g, attn[0], ss),
        ])
        self.out = OutputHead(c[0], g)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        emb = self.embed(t, cond)
        h = self.conv_in(x_t)
        skips = []
        for stage, down in zip(self.encoder, self.down):
            h = stage(h, emb)
            skips.append(h)
            h = down(h)
        h = self.bottleneck(h, emb)
        for up, stage in zip(self.up, self.decoder):
            h = stage(torch.cat([up(h), skips.pop()], dim=1), emb)
        return self.out(h)


class UNetFactory:
    """The model factory registered as ``unet`` (entry-point group ``manifold_lens.models``).

    ``factory(params, image_size)`` builds the UNet; ``factory.validate(params,
    image_size)`` checks its parameters, as :meth:`RunConfig.validate` asks.
    """

    validate = staticmethod(validate_unet)

    def __call__(self, params: dict | UNetConfig, image_size: int) -> ConditionalUNet:
        config = params if isinstance(params, UNetConfig) else UNetConfig.model_validate(validate_unet(params,
                                                                                                      image_size))
        return ConditionalUNet(config, image_size)


build_unet = UNetFactory()
