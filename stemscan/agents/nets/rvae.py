"""Rotationally invariant variational autoencoder (rVAE) for atom-centred windows.

The encoder maps a ``window`` × ``window`` image to a Gaussian posterior over
``3 + latent_dim`` latent variables: an in-plane rotation angle (radians),
a translation ``(dy, dx)`` (in half-windows: 1.0 = ``window / 2`` pixels) and
the structural latents ``z``.  The decoder is *spatial*: it renders the
window pixel by pixel from that pixel's coordinates, rotated and shifted by
the inferred angle and translation, concatenated with ``z``.  Because
rotation and translation are applied to the coordinates explicitly, the
decoder can explain a rotated or shifted copy of a window with the same
``z``, and training with the evidence lower bound (ELBO) pushes that
nuisance into the angle and translation latents, leaving ``z`` invariant
(Bepler et al., NeurIPS 2019; Kalinin, Ziatdinov et al., the pyroVED / atomai
rVAE).

A plain ``nn.Module``; training lives in :mod:`stemscan.agents.train`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from stemscan.validation import check_bool, check_int, check_positive

__all__ = ["MAX_SIZES", "RVAE", "RVAEConfig", "STANDARD_SCALE"]

#: Standard deviation of a window after :meth:`RVAE.prepare` standardises it
#: (about the intensity spread of a raw normalised window, so one likelihood
#: width suits both).
STANDARD_SCALE = 0.1


#: Largest architecture sizes an :class:`RVAEConfig` accepts (a config read from
#: a file is refused before any layer is built).
MAX_SIZES = {"window": 256, "latent_dim": 64, "hidden": 4096, "decoder_hidden": 4096}


@dataclass(frozen=True)
class RVAEConfig:
    """Architecture and priors of an :class:`RVAE` (everything its weights need).

    Attributes:
        window: Side of the input windows, pixels (4-256).
        latent_dim: Number of structural latents ``z`` (1-64).
        hidden: Width of the encoder's two hidden layers (2-4096).
        decoder_hidden: Width of the spatial decoder's two hidden layers (2-4096).
        angle_prior: Standard deviation of the Gaussian prior on the angle, radians.
        shift_prior: Standard deviation of the Gaussian prior on the
            translation, half-windows.
        translation: Infer a translation latent ``(dy, dx)``.  When False the
            decoder renders every window unshifted and the translation
            latent is reported as 0 (pyroVED's ``coord=1``): a sub-pixel
            off-centring of a column relative to its neighbours (e.g. a
            ferroelectric B-site displacement) then has to be explained by
            ``z`` or the angle instead of being absorbed as a shift.
        standardise: Standardise each window before encoding and as the
            reconstruction target (:meth:`RVAE.prepare`: zero mean, standard
            deviation :data:`STANDARD_SCALE`), so that dose, thickness and
            background changes do not dominate the latents and the *position*
            of a column inside the window is what is left to explain.
    """

    window: int = 16
    latent_dim: int = 2
    hidden: int = 64
    decoder_hidden: int = 32
    angle_prior: float = math.pi / 4
    shift_prior: float = 0.25
    translation: bool = True
    standardise: bool = False

    def __post_init__(self) -> None:
        for name, low in (("window", 4), ("latent_dim", 1), ("hidden", 2), ("decoder_hidden", 2)):
            check_int(f"RVAEConfig.{name}", getattr(self, name), low, MAX_SIZES[name])
        for name in ("angle_prior", "shift_prior"):
            check_positive(f"RVAEConfig.{name}", getattr(self, name))
        for name in ("translation", "standardise"):
            check_bool(f"RVAEConfig.{name}", getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> RVAEConfig:
        """Build from a JSON mapping; unknown or missing keys raise ``ValueError``.

        ``translation`` and ``standardise`` may be absent (configs written
        before they existed): True and False.
        """
        if not isinstance(data, dict):
            raise ValueError(f"an rVAE config must be a JSON object, got {type(data).__name__}")
        data = {"translation": True, "standardise": False, **data}
        expected = set(cls.__dataclass_fields__)
        unknown = set(data) - expected
        if unknown:
            raise ValueError(f"unknown rVAE config keys: {', '.join(sorted(unknown))}")
        missing = expected - set(data)
        if missing:
            raise ValueError(f"rVAE config is missing keys: {', '.join(sorted(missing))}")
        return cls(**data)


class RVAE(nn.Module):
    """Encoder to (angle, translation, z) plus a coordinate-based spatial decoder.

    Args:
        config: Architecture and priors (:class:`RVAEConfig`).
    """

    #: Index of the angle in the latent vector; translation is ``[1:3]``, ``z`` is ``[3:]``.
    ANGLE = 0

    def __init__(self, config: RVAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or RVAEConfig()
        c = self.config
        n_latent = 3 + c.latent_dim
        self.encoder = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c.window * c.window, c.hidden),
            nn.Tanh(),
            nn.Linear(c.hidden, c.hidden),
            nn.Tanh(),
            nn.Linear(c.hidden, 2 * n_latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(2 + c.latent_dim, c.decoder_hidden),
            nn.Tanh(),
            nn.Linear(c.decoder_hidden, c.decoder_hidden),
            nn.Tanh(),
            nn.Linear(c.decoder_hidden, 1),
        )
        axis = torch.linspace(-1.0, 1.0, c.window)
        rows, cols = torch.meshgrid(axis, axis, indexing="ij")
        self.register_buffer("coords", torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=1), persistent=False)

    @property
    def n_latent(self) -> int:
        """Length of the full latent vector: angle, dy, dx, z_1..z_k."""
        return 3 + self.config.latent_dim

    def prepare(self, windows: torch.Tensor) -> torch.Tensor:
        """The windows as the model sees them: standardised per window when ``config.standardise``, else as given.

        Standardised windows have zero mean and standard deviation
        :data:`STANDARD_SCALE` (a flat window stays flat at 0).
        """
        if not self.config.standardise:
            return windows
        centred = windows - windows.mean(dim=(1, 2), keepdim=True)
        spread = centred.std(dim=(1, 2), keepdim=True)
        return centred * (STANDARD_SCALE / (spread + 1e-6))

    def encode(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each (B, 3 + latent_dim), for (B, window, window) inputs."""
        w = self.config.window
        if windows.ndim != 3 or windows.shape[1:] != (w, w):
            raise ValueError(f"rVAE expects windows of shape (B, {w}, {w}), got {tuple(windows.shape)}")
        out = self.encoder(self.prepare(windows))
        mean, log_var = out.chunk(2, dim=1)
        log_var = log_var.clamp(-12.0, 6.0)
        if not self.config.translation:  # no translation latent: exactly 0, with the prior's variance (KL = 0)
            keep = torch.ones(self.n_latent, dtype=mean.dtype, device=mean.device)
            keep[1:3] = 0.0
            prior_log_var = 2.0 * math.log(self.config.shift_prior)
            mean = mean * keep
            log_var = log_var * keep + (1.0 - keep) * prior_log_var
        return mean, log_var

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Render (B, window, window) images from latent vectors (B, 3 + latent_dim).

        Pixel coordinates ``x`` (in [-1, 1]²) are mapped to the canonical frame
        as ``R(-angle) (x - shift)`` and, with ``z``, pass through an MLP.
        """
        angle, shift, z = latent[:, :1], latent[:, 1:3], latent[:, 3:]
        if not self.config.translation:
            shift = torch.zeros_like(shift)
        cos, sin = torch.cos(angle), torch.sin(angle)  # (B, 1)
        x = self.coords.unsqueeze(0) - shift.unsqueeze(1)  # (B, W², 2)
        rows = cos * x[..., 0] + sin * x[..., 1]
        cols = -sin * x[..., 0] + cos * x[..., 1]
        canonical = torch.stack([rows, cols], dim=-1)
        z_all = z.unsqueeze(1).expand(-1, canonical.shape[1], -1)
        pixels = self.decoder(torch.cat([canonical, z_all], dim=-1)).squeeze(-1)
        w = self.config.window
        return pixels.reshape(-1, w, w)

    def forward(
        self, windows: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruct with one reparameterised posterior sample.

        Returns:
            ``(reconstruction, mean, log_var)``; the reconstruction is of
            :meth:`prepare` (``windows``).
        """
        mean, log_var = self.encode(windows)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        latent = mean + noise * torch.exp(0.5 * log_var)
        return self.decode(latent), mean, log_var

    def prior_scales(self) -> torch.Tensor:
        """Standard deviations of the factorised Gaussian prior, (3 + latent_dim,)."""
        c = self.config
        return torch.tensor([c.angle_prior, c.shift_prior, c.shift_prior] + [1.0] * c.latent_dim)
