"""The default-callback tests drive callbacks through noether.core.testing.CallbackHarness."""

import torch

torch.set_num_threads(1)
