"""Draws the loss curves of a noether run as a PNG with matplotlib (a dev dependency).

Reads the run's metrics (`metrics.jsonl` of the jsonl tracker, or the TensorBoard event files
of the tensorboard tracker) and draws each chosen key over the updates on a log scale.

    uv run python tools/plot_loss_curve.py runs/quickstart/<run_id> \
        --output docs/quickstart_loss_curve.png --hline 0.05
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Series = list[tuple[int, float]]

DEFAULT_KEYS = ("loss/online/total", "loss/val/total")
COLORS = ("tab:blue", "tab:red", "tab:green", "tab:purple")
SIZE_PX = (820, 500)
DPI = 100


# ---------------------------------------------------------------------- metrics
def read_jsonl_metrics(path: Path) -> dict[str, Series]:
    from noether.core.trackers.jsonl import read_jsonl  # a cut or merged line is left out

    series: dict[str, Series] = {}
    for row in read_jsonl(path):
        update = int(row["update"])
        for key, value in row.items():
            if isinstance(value, int | float) and key not in ("update", "epoch", "sample"):
                series.setdefault(key, []).append((update, float(value)))
    return series


def read_tensorboard_metrics(folder: Path) -> dict[str, Series]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: [(int(event.step), float(event.value)) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def read_metrics(run_dir: Path) -> dict[str, Series]:
    """Scalars of a run folder: metrics.jsonl if present, else its TensorBoard event files."""
    jsonl = run_dir / "metrics.jsonl"
    if jsonl.is_file():
        return read_jsonl_metrics(jsonl)
    events = sorted(run_dir.rglob("events.out.tfevents.*"))
    if events:
        return read_tensorboard_metrics(events[0].parent)
    raise FileNotFoundError(f"{run_dir} holds neither metrics.jsonl nor TensorBoard event files")


def latest_run(path: Path) -> Path:
    """`path` itself when it is a run folder, else its newest run folder (runs/<name>/)."""
    if (path / "config.yaml").is_file():
        return path
    runs = sorted(p for p in path.iterdir() if (p / "config.yaml").is_file())
    if not runs:
        raise FileNotFoundError(f"{path} is no run folder and holds none")
    return runs[-1]


# ---------------------------------------------------------------------- plotting
def plot(series: dict[str, Series], title: str, hline: float | None = None) -> Figure:
    """Log-scale line plot of every series over the updates, with a legend.

    Series with few points (evaluations) get markers. Raises ValueError when nothing is
    positive (a log scale has nothing to show).
    """
    from matplotlib.figure import Figure

    if not any(value > 0 for values in series.values() for _, value in values):
        raise ValueError("no positive values to draw on a log scale")
    figure = Figure(figsize=(SIZE_PX[0] / DPI, SIZE_PX[1] / DPI), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    for index, (key, values) in enumerate(series.items()):
        points = sorted((update, value) for update, value in values if value > 0)
        axes.plot(
            [update for update, _ in points],
            [value for _, value in points],
            color=COLORS[index % len(COLORS)],
            linewidth=2,
            marker="s" if len(points) <= 40 else None,
            markersize=5,
            label=key,
        )
    if hline:
        label = f"{hline * 100:g}% target" if hline < 1 else f"{hline:g}"
        axes.axhline(hline, color="grey", linestyle="--", linewidth=1, label=label)
    axes.set_yscale("log")
    axes.set_xlim(left=0)
    axes.grid(True, which="both", color="0.9")
    axes.set_xlabel("update")
    axes.set_ylabel("loss")
    axes.set_title(title, loc="left")
    axes.legend(loc="upper right")
    return figure


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder, or runs/<name> for its newest run")
    parser.add_argument("--output", type=Path, default=Path("docs/quickstart_loss_curve.png"))
    parser.add_argument("--keys", nargs="+", default=list(DEFAULT_KEYS), help="metric keys")
    parser.add_argument("--title", default=None, help="title (default: the run folder)")
    parser.add_argument("--hline", type=float, default=None, help="dashed reference level")
    args = parser.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("plot_loss_curve: needs matplotlib (a dev dependency: uv sync)", file=sys.stderr)
        return 1
    try:
        run_dir = latest_run(args.run)
        metrics = read_metrics(run_dir)
    except FileNotFoundError as error:
        print(f"plot_loss_curve: {error}", file=sys.stderr)
        return 1
    missing = [key for key in args.keys if key not in metrics]
    if missing:
        known = ", ".join(sorted(k for k in metrics if k.startswith("loss/"))) or "none"
        print(
            f"plot_loss_curve: no {', '.join(missing)} in {run_dir} (loss keys: {known})",
            file=sys.stderr,
        )
        return 1
    chosen = {key: metrics[key] for key in args.keys}
    title = args.title or f"{run_dir.parent.name}/{run_dir.name}"
    try:
        figure = plot(chosen, title, args.hline)
    except ValueError as error:
        print(f"plot_loss_curve: {error}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, format="png")
    for key, values in chosen.items():
        print(f"{key}: {len(values)} points, last {values[-1][1]:.6g} at update {values[-1][0]}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
