"""Run folders on disk: atomic file writes, the manifest, and safetensors-only state."""
