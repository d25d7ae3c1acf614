"""PNG plots: confusion matrix, reliability diagram, training curves and per-class F1 bars."""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tunelab.artifacts.files import write_bytes_atomic  # noqa: E402
from tunelab.data.tags import is_cjk  # noqa: E402

ANNOTATE_MAX_LABELS = 25
# Fonts with CJK glyphs, best first (Debian: fonts-noto-cjk, fonts-wqy-zenhei, fonts-droid-fallback)
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "WenQuanYi",
             "Droid Sans Fallback")


@functools.cache
def installed_cjk_fonts() -> tuple[str, ...]:
    """The CJK_FONTS matplotlib can find on this machine, in preference order (looked up once)."""
    from matplotlib import font_manager

    names = {entry.name for entry in font_manager.fontManager.ttflist}
    if not names & set(CJK_FONTS):  # matplotlib's font cache may predate the fonts' install: look on disk once
        for path in font_manager.findSystemFonts():
            if any(part in Path(path).name.lower() for part in ("cjk", "wqy", "droidsansfallback")):
                with contextlib.suppress(Exception):  # a damaged font file is no reason to fail a plot
                    font_manager.fontManager.addfont(path)
        names = {entry.name for entry in font_manager.fontManager.ttflist}
    return tuple(name for name in CJK_FONTS if name in names)


def fonts_for(texts: Sequence[str]) -> dict[str, Any]:
    """rcParams that make `texts` render: a CJK font first when any text has CJK characters and one is
    installed; nothing otherwise (labels then show as boxes, and the missing-glyph warnings are silenced)."""
    if not any(is_cjk(char) for text in texts for char in str(text)):
        return {}
    found = installed_cjk_fonts()
    return {"font.family": "sans-serif", "font.sans-serif": [*found, *plt.rcParams["font.sans-serif"]]} if found else {}


@contextlib.contextmanager
def label_fonts(texts: Sequence[str]) -> Iterator[None]:
    """Plot inside: `fonts_for(texts)` in effect, and without a CJK font no warning per missing glyph."""
    with plt.rc_context(fonts_for(texts)), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from")
        yield


def save_figure(fig: Figure, path: Path, dpi: int = 100) -> None:
    """Write `fig` as PNG via a temp file in the same folder and os.replace; always closes the figure."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    write_bytes_atomic(Path(path), buffer.getvalue())


def _tick_fontsize(n: int) -> float:
    return float(np.clip(240.0 / max(n, 1), 4.0, 10.0))


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    totals = matrix.sum(axis=1, keepdims=True)
    out = np.zeros_like(matrix, dtype=float)
    np.divide(matrix, totals, out=out, where=totals != 0)
    return out


def _annotate(ax: Any, values: np.ndarray, normalise: bool, n: int) -> None:
    size = float(np.clip(120.0 / max(n, 1), 5.0, 10.0))
    peak = values.max() if values.size else 0.0
    for (i, j), value in np.ndenumerate(values):
        text = f"{value:.2f}" if normalise else f"{int(value)}"
        colour = "white" if peak and value > peak / 2 else "black"
        ax.text(j, i, text, ha="center", va="center", fontsize=size, color=colour)


def plot_confusion_matrix(matrix: Sequence[Sequence[float]], labels: Sequence[str], path: Path,
                          normalise: bool = True) -> None:
    """Heatmap, rows gold and columns predicted; row-normalised by default; cells annotated up to 25 labels."""
    with label_fonts(labels):
        _plot_confusion_matrix(matrix, labels, path, normalise)


def _plot_confusion_matrix(matrix: Sequence[Sequence[float]], labels: Sequence[str], path: Path,
                           normalise: bool) -> None:
    counts = np.asarray(matrix, dtype=float).reshape(len(labels), len(labels))
    values = _normalise_rows(counts) if normalise else counts
    n = len(labels)
    side = float(np.clip(2.0 + 0.28 * n, 5.0, 30.0))
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0 if normalise else None, aspect="equal")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(n)
    font = float(np.clip(0.45 * 72.0 * side / max(n, 1), 4.0, 10.0))  # about half a cell high
    ax.set_xticks(ticks, [str(x) for x in labels], rotation=90 if n > 10 else 45,
                  ha="center" if n > 10 else "right", fontsize=font)
    ax.set_yticks(ticks, [str(x) for x in labels], fontsize=font)
    big = float(np.clip(side, 10.0, 20.0))
    ax.set_xlabel("predicted", fontsize=big)
    ax.set_ylabel("gold", fontsize=big)
    ax.set_title("Confusion matrix" + (" (row-normalised)" if normalise else ""), fontsize=big + 2)
    if n <= ANNOTATE_MAX_LABELS:
        _annotate(ax, values, normalise, n)
    fig.tight_layout()
    save_figure(fig, path)


def plot_calibration(bins: Sequence[Mapping[str, Any]], ece: float, path: Path) -> None:
    """Reliability diagram (accuracy per confidence bin against the diagonal) above a count histogram."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 7), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    lo = np.array([b["lo"] for b in bins], dtype=float)
    width = np.array([b["hi"] for b in bins], dtype=float) - lo
    counts = np.array([b["count"] for b in bins], dtype=float)
    filled = counts > 0
    accuracy = np.array([b["accuracy"] for b in bins], dtype=float)
    confidence = np.array([b["confidence"] for b in bins], dtype=float)
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    top.bar(lo[filled], accuracy[filled], width=width[filled], align="edge", edgecolor="black",
            color="tab:blue", alpha=0.8, label="accuracy")
    top.scatter(confidence[filled], accuracy[filled], color="tab:red", s=12, zorder=3, label="mean confidence")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title(f"Reliability diagram (ECE = {float(ece):.4f})")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(lo, counts, width=width, align="edge", edgecolor="black", color="tab:grey")
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("count")
    fig.tight_layout()
    save_figure(fig, path)


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    rows = [h for h in history if h.get(key) is not None and h.get("step") is not None]
    return [float(h["step"]) for h in rows], [float(h[key]) for h in rows]


def _dev_metric_name(history: Sequence[Mapping[str, Any]]) -> str:
    names = [h.get("dev_metric_name") for h in history if h.get("dev_metric") is not None]
    return next((str(n) for n in names if n), "metric")


def _panels(history: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(history key, y-axis label, colour) for each series present; loss is always shown."""
    panels = [("loss", "training loss", "tab:blue")]
    if _series(history, "lr")[0]:
        panels.append(("lr", "learning rate", "tab:orange"))
    if _series(history, "dev_metric")[0]:
        panels.append(("dev_metric", f"dev {_dev_metric_name(history)}", "tab:green"))
    return panels


def _plot_series(ax: Any, history: Sequence[Mapping[str, Any]], key: str, label: str, colour: str) -> None:
    steps, values = _series(history, key)
    if steps:
        ax.plot(steps, values, color=colour, marker="o" if key == "dev_metric" or len(steps) < 3 else None,
                markersize=4, label="the candidate" if key == "dev_metric" else None)
    else:
        ax.text(0.5, 0.5, f"no {label} recorded", ha="center", va="center", transform=ax.transAxes)
    if key == "dev_metric" and _series(history, "dev_metric_averaged")[0]:  # train.ema_decay: both were scored
        for part, style, mark in (("trained", ":", "s"), ("averaged", "--", "x")):
            ax.plot(*_series(history, f"dev_metric_{part}"), linestyle=style, marker=mark, color="grey",
                    markersize=5, label=f"{part} weights")
        ax.legend(loc="lower right", fontsize=8)
    if key == "lr":
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax.set_ylabel(label)
    ax.set_title(label[0].upper() + label[1:])
    ax.grid(alpha=0.3)


def plot_training_curves(history: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Stacked panels against step: training loss, learning rate (when logged), dev metric (when logged; with the
    trained and the averaged weights' scores where both were scored, train.ema_decay)."""
    panels = _panels(history)
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.8 * len(panels)), sharex=True, squeeze=False)
    for ax, (key, label, colour) in zip(axes[:, 0], panels, strict=True):
        _plot_series(ax, history, key, label, colour)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    save_figure(fig, path)


def plot_per_class_f1(per_class: Mapping[str, float], path: Path) -> None:
    """Horizontal F1 bars sorted weakest first (at the top)."""
    with label_fonts(list(per_class)):
        _plot_per_class_f1(per_class, path)


def _plot_per_class_f1(per_class: Mapping[str, float], path: Path) -> None:
    items = sorted(per_class.items(), key=lambda kv: (float(kv[1]), kv[0]))
    n = max(len(items), 1)
    fig, ax = plt.subplots(figsize=(7, float(np.clip(1.0 + 0.22 * n, 2.5, 30.0))))
    names = [str(k) for k, _ in items]
    scores = [float(v) for _, v in items]
    ax.barh(np.arange(len(items)), scores, color="tab:blue")
    ax.set_yticks(np.arange(len(items)), names, fontsize=_tick_fontsize(n))
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.set_title("Per-class F1 (weakest first)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
