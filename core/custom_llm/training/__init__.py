"""Training: the transformers Trainer path (time budget, divergence guard, exact summed loss), TRL's
preference and reward recipes on that same path, and the process roles under torchrun or accelerate."""
