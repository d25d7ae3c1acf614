"""Pretrained encoders: resolve a name to local files, load tokenizer and task model, tiny test model."""
