"""Plots with Chinese labels: a CJK font is chosen when one is installed, and nothing warns or fails without one."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tunelab.evaluation import plots

LABELS = ["退货退款", "发票", "order_status"]


def test_a_cjk_font_is_chosen_only_for_cjk_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plots, "installed_cjk_fonts", lambda: ("Noto Sans CJK SC",))
    assert plots.fonts_for(LABELS)["font.sans-serif"][0] == "Noto Sans CJK SC"
    assert plots.fonts_for(["refund", "invoice"]) == {}
    monkeypatch.setattr(plots, "installed_cjk_fonts", lambda: ())
    assert plots.fonts_for(LABELS) == {}


def test_chinese_labels_render_without_warnings(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.plot_confusion_matrix([[3, 1, 0], [0, 4, 0], [1, 0, 2]], LABELS, tmp_path / "confusion.png")
        plots.plot_per_class_f1(dict(zip(LABELS, (0.8, 0.5, 1.0))), tmp_path / "f1.png")
    assert (tmp_path / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "f1.png").stat().st_size > 1000
