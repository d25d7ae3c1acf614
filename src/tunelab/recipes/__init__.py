"""The flows, top to bottom: train, evaluate, predict. The CLI and the Python API call these."""
