"""Compression and export: ONNX (fp32, int8 dynamic and static) behind an accuracy gate with a report card."""
