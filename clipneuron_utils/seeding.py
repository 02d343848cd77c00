"""One seeding helper, so that the same parameters give the same numbers on the same machine."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (if imported or importable) PyTorch; return a NumPy Generator.

    Torch is seeded and switched to deterministic algorithms where it is installed, so head training
    and the untrained CLIP control are reproducible; callers that need their own stream use the
    returned generator instead of the global NumPy state.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    seed = int(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # the search and concept modules run without torch
        pass
    else:
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(seed)
