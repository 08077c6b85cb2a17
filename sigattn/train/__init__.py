"""The training loop alone: epochs, early stopping, checkpoints, resume; batches and torchrun ranks."""
