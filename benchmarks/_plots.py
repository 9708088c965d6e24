"""PNG plots of a run's figures; the one module that uses matplotlib (optional).

Three plots, written to ``benchmarks/results/`` (``-quick`` in the names of a
quick run's), from the figures of the same run:

- ``memory-per-watch``: bytes per watch against the number of watches (log
  axes) for ``StatusPoller`` and the task-based baselines, with the target;
- ``detection-lag``: p50 and p99 detection lag against the number of watches
  for the four pollers, with the target (interval + 1 s);
- ``client-throughput``: requests per second against the concurrency for the
  client stacks (when the ``client_throughput`` suite ran).

Each point is the median of its rounds, with a bar from the lowest to the
highest round. Without matplotlib (``pip install -e '.[bench]'``) the plots are
skipped with a notice; nothing else depends on it.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from ._harness import Figure

__all__ = ["write_plots"]


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on a file-only backend, or ``None`` when not installed."""
    try:
        import matplotlib  # optional: imported only when plotting

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


Series = dict[str, list[tuple[float, Figure]]]


def _series(figures: list[Figure], plot: str) -> Series:
    """The figures tagged for ``plot``, by stack, ordered by their x value."""
    lines: Series = defaultdict(list)
    for figure in figures:
        if figure.tags.get("plot") == plot and figure.rounds:
            lines[str(figure.tags["stack"])].append((float(figure.tags["watches"]), figure))
    return {stack: sorted(points, key=lambda p: p[0]) for stack, points in lines.items()}


def _throughput_series(figures: list[Figure]) -> Series:
    """``client_throughput``'s figures (named ``"<stack> @ <concurrency>"``), by stack."""
    lines: Series = defaultdict(list)
    for figure in figures:
        if figure.suite != "client" or " @ " not in figure.name:
            continue
        stack, _, level = figure.name.rpartition(" @ ")
        if level.isdigit():
            lines[stack].append((float(level), figure))
    return {stack: sorted(points, key=lambda p: p[0]) for stack, points in lines.items()}


def _draw(axes: Any, series: Series, *, style: str = "-", label_suffix: str = "") -> None:
    for stack, points in series.items():
        xs = [x for x, _ in points]
        ys = [f.median for _, f in points]
        below = [f.median - min(f.rounds) for _, f in points]
        above = [max(f.rounds) - f.median for _, f in points]
        axes.errorbar(
            xs,
            ys,
            yerr=[below, above],
            fmt=style,
            marker="o",
            capsize=3,
            label=stack + label_suffix,
        )


def _memory(plt: Any, figures: list[Figure], path: Path) -> bool:
    series = _series(figures, "memory")
    if not series:
        return False
    fig, axes = plt.subplots(figsize=(7, 4.5))
    _draw(axes, series)
    target = next(
        (f.tags["target"] for points in series.values() for _, f in points if "target" in f.tags),
        None,
    )
    if target is not None:
        axes.axhline(target, color="grey", linestyle=":", label=f"target {target:g} B")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("watches")
    axes.set_ylabel("bytes per watch (tracemalloc)")
    axes.set_title("Memory per watch")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _lag(plt: Any, figures: list[Figure], path: Path) -> bool:
    p99, p50 = _series(figures, "lag-p99"), _series(figures, "lag-p50")
    if not p99:
        return False
    fig, axes = plt.subplots(figsize=(7, 4.5))
    _draw(axes, p99, label_suffix=" p99")
    axes.set_prop_cycle(None)  # the same colour per poller for p50
    _draw(axes, p50, style="--", label_suffix=" p50")
    target = next((f.tags.get("target") for pts in p99.values() for _, f in pts), None)
    if target is not None:
        axes.axhline(target, color="grey", linestyle=":", label=f"target p99 {target:g} s")
    axes.set_xscale("log")
    top = max(axes.get_ylim()[1], (target or 0.0) * 1.4)  # room for the legend
    axes.set_ylim(0, top)
    axes.set_xlabel("watches")
    axes.set_ylabel("detection lag (s)")
    axes.set_title("Detection lag against the sandbox")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _throughput(plt: Any, figures: list[Figure], path: Path) -> bool:
    series = _throughput_series(figures)
    if not series:
        return False
    fig, axes = plt.subplots(figsize=(7, 4.5))
    _draw(axes, series)
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("concurrency")
    axes.set_ylabel("GET /invoices/{id} per second")
    axes.set_title("Client throughput (sandbox in another process)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_plots(figures: list[Figure], directory: Path, *, quick: bool = False) -> list[Path]:
    """Write the plots these figures allow; returns the files written."""
    plt = _pyplot()
    if plt is None:
        print("matplotlib is not installed: plots skipped", file=sys.stderr)
        return []
    directory.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if quick else ""
    written = []
    for stem, draw in (
        ("memory-per-watch", _memory),
        ("detection-lag", _lag),
        ("client-throughput", _throughput),
    ):
        path = directory / f"{stem}{suffix}.png"
        if draw(plt, figures, path):
            written.append(path)
    return written
