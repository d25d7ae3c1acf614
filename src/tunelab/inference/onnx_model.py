"""An exported ONNX graph run by ONNX Runtime, shaped so `predict_logits` can drive it like a torch model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tunelab import extras


class OnnxModel:
    """`run(ids, mask) -> logits` on numpy arrays. ONNX Runtime's CPU kernels (MLAS) use the machine's
    fastest instructions (AVX-512 / VNNI / AVX2) and the graph carries fused attention and LayerNorm."""

    is_onnx = True

    def __init__(self, path: str | Path, threads: int | None = None, spinning: bool = True) -> None:
        ort = extras.require("onnxruntime", f"the ONNX artifact {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if not spinning:  # a server shares the cores with its event loop: don't burn them between batches
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        return self.session.run(["logits"], feed)[0]
