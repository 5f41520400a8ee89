"""The FID-over-training-time plot of a comparison: one curve per run, one colour per grid point."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..fileio import atomic_path

Point = tuple[float, float]  # (training seconds, FID)
_STYLES = ("-", "--", ":", "-.")  # the seeds of one grid point


def plot_fid_over_time(series: Sequence[tuple[int, list[Point], Point | None]], labels: Sequence[str],
                       path: str | Path) -> Path | None:
    """One (group, curve, final point) per run: the curve of its --eval-every evaluations and a dot at
    its final evaluation, coloured by group (an index into `labels`); None when there is no FID at all.

    The curves score --eval-num samples (2,000 by default) and the dots `minigan eval`'s 10,000, so a
    dot sits a little below the end of its curve: compare dots with dots, curves with curves.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    values = [fid for _, curve, final in series for _, fid in [*curve, *([final] if final else [])]]
    if not values:
        return None
    fig = Figure(figsize=(7.5, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    seen: dict[int, int] = {}
    handles = {}  # group -> the artist its legend entry shows
    for group, curve, final in series:
        colour, rank = f"C{group % 10}", seen.get(group, 0)
        seen[group] = rank + 1
        if curve:
            xs, ys = zip(*curve, strict=True)
            line = ax.plot(xs, ys, color=colour, linestyle=_STYLES[rank % len(_STYLES)], linewidth=1,
                           marker=".", markersize=4)[0]  # a marker: a one-point curve shows too
            handles.setdefault(group, line)
        if final:
            handles.setdefault(group, ax.plot(*final, marker="o", color=colour, linestyle="none")[0])
    order = sorted(handles)  # best median FID first, as in the table
    artists, names = [handles[g] for g in order], [labels[g] for g in order]
    if any(final for _, _, final in series):
        artists.append(ax.plot([], [], marker="o", color="black", linestyle="none")[0])
        names.append("final evaluation")
    if min(values) > 0 and max(values) / min(values) > 5:
        ax.set_yscale("log")
    ax.set_xlabel("training seconds")
    ax.set_ylabel("FID-MNIST (lower is better)")
    ax.set_title("FID over training time")
    ax.grid(alpha=0.3)
    ax.legend(artists, names, loc="best", fontsize="small", ncols=1 if len(names) <= 9 else 2)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
