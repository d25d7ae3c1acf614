"""The one visible training loop and what it needs: defaults, batching, schedule, precision, checkpoints."""
