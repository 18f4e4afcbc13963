"""Plain ``torch.nn.Module`` networks of the zoo (training lives elsewhere)."""

from stemscan.agents.nets.rvae import RVAE, RVAEConfig
from stemscan.agents.nets.unet import UNet

__all__ = ["RVAE", "RVAEConfig", "UNet"]
