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


def test_an_installed_cjk_font_is_used_even_when_matplotlibs_cache_predates_it() -> None:
    """CI installs fonts-noto-cjk (.ci/fonts.sh); a font cache written before that must not hide it."""
    import os
    from pathlib import Path

    from tunelab.evaluation.plots import installed_cjk_fonts

    on_disk = any(Path("/usr/share/fonts").rglob("NotoSansCJK*")) if Path("/usr/share/fonts").is_dir() else False
    if not on_disk:
        if os.environ.get("CI") == "true":
            pytest.fail("fonts-noto-cjk is not installed: run `bash .ci/fonts.sh`")
        pytest.skip("no CJK font installed here (bash .ci/fonts.sh installs one)")
    installed_cjk_fonts.cache_clear()
    assert installed_cjk_fonts()[0].startswith("Noto Sans CJK")
