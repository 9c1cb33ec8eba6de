"""Draws the loss curves of a noether run as a PNG, with no plotting library.

Reads the run's metrics (`metrics.jsonl` of the jsonl tracker, or the TensorBoard event files
of the tensorboard tracker) and draws each chosen key over the updates on a log scale. The
PNG is written by a tiny pure-Python encoder (zlib + struct) with a built-in 5x7 pixel font,
so the workspace needs no matplotlib.

    uv run python tools/plot_loss_curve.py runs/quickstart/<run_id> \
        --output docs/quickstart_loss_curve.png --hline 0.05
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import struct
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

Series = list[tuple[int, float]]
Color = tuple[int, int, int]

DEFAULT_KEYS = ("loss/online/total", "loss/val/total")
PALETTE: tuple[Color, ...] = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))
BLACK: Color = (30, 30, 30)
GRID: Color = (225, 225, 225)
GREY: Color = (120, 120, 120)

# 5x7 glyphs, rows top to bottom, "1" = ink; g j p q y reach two rows below the baseline.
# Letters are lower case (plus L).
_GLYPHS = {
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    "a": "00000 00000 01110 00001 01111 10001 01111",
    "b": "10000 10000 10110 11001 10001 10001 11110",
    "c": "00000 00000 01110 10000 10000 10001 01110",
    "d": "00001 00001 01101 10011 10001 10001 01111",
    "e": "00000 00000 01110 10001 11111 10000 01110",
    "f": "00110 01001 01000 11100 01000 01000 01000",
    "g": "00000 00000 01111 10001 10001 01111 00001 10001 01110",
    "h": "10000 10000 10110 11001 10001 10001 10001",
    "i": "00100 00000 01100 00100 00100 00100 01110",
    "j": "00010 00000 00110 00010 00010 00010 00010 10010 01100",
    "k": "10000 10000 10010 10100 11000 10100 10010",
    "l": "01100 00100 00100 00100 00100 00100 01110",
    "m": "00000 00000 11010 10101 10101 10001 10001",
    "n": "00000 00000 10110 11001 10001 10001 10001",
    "o": "00000 00000 01110 10001 10001 10001 01110",
    "p": "00000 00000 11110 10001 10001 11110 10000 10000 10000",
    "q": "00000 00000 01111 10001 10001 01111 00001 00001 00001",
    "r": "00000 00000 10110 11001 10000 10000 10000",
    "s": "00000 00000 01110 10000 01110 00001 11110",
    "t": "01000 01000 11110 01000 01000 01001 00110",
    "u": "00000 00000 10001 10001 10001 10011 01101",
    "v": "00000 00000 10001 10001 10001 01010 00100",
    "w": "00000 00000 10001 10001 10101 10101 01010",
    "x": "00000 00000 10001 01010 00100 01010 10001",
    "y": "00000 00000 10001 10001 10001 01111 00001 10001 01110",
    "z": "00000 00000 11111 00010 00100 01000 11111",
    "L": "10000 10000 10000 10000 10000 10000 11111",
    ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000",
    "-": "00000 00000 00000 11111 00000 00000 00000",
    "_": "00000 00000 00000 00000 00000 00000 11111",
    "/": "00000 00001 00010 00100 01000 10000 00000",
    "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000",
    "%": "11000 11001 00010 00100 01000 10011 00011",
    ":": "00000 01100 01100 00000 01100 01100 00000",
    "=": "00000 00000 11111 00000 11111 00000 00000",
    " ": "00000 00000 00000 00000 00000 00000 00000",
}
GLYPH_W, GLYPH_H = 5, 7


class Canvas:
    """An RGB image in a bytearray, with the few primitives a line plot needs."""

    def __init__(self, width: int, height: int, background: Color = (255, 255, 255)) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def set(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            offset = 3 * (y * self.width + x)
            self.pixels[offset : offset + 3] = bytes(color)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Filled rectangle, corners included."""
        for y in range(min(y0, y1), max(y0, y1) + 1):
            for x in range(min(x0, x1), max(x0, x1) + 1):
                self.set(x, y, color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, width: int = 1) -> None:
        """Bresenham line, `width` pixels thick."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        low, high = -((width - 1) // 2), width // 2
        while True:
            self.rect(x0 + low, y0 + low, x0 + high, y0 + high, color)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def dashed_hline(self, x0: int, x1: int, y: int, color: Color, dash: int = 6) -> None:
        for x in range(x0, x1 + 1):
            if (x - x0) // dash % 2 == 0:
                self.set(x, y, color)

    def text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2) -> None:
        """Draws `text` with its top-left corner at (x, y)."""
        for index, char in enumerate(text):
            rows = _GLYPHS.get(char, _GLYPHS.get(char.lower(), _GLYPHS[" "])).split()
            left = x + index * (GLYPH_W + 1) * scale
            for row, bits in enumerate(rows):
                for col, bit in enumerate(bits):
                    if bit == "1":
                        px, py = left + col * scale, y + row * scale
                        self.rect(px, py, px + scale - 1, py + scale - 1, color)

    def png(self) -> bytes:
        """The image as PNG bytes (8-bit RGB, no filtering)."""
        stride = 3 * self.width
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)
        )

        def chunk(tag: bytes, data: bytes) -> bytes:
            crc = zlib.crc32(tag + data) & 0xFFFFFFFF
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * (GLYPH_W + 1) * scale - scale


# ---------------------------------------------------------------------- metrics
def read_jsonl_metrics(path: Path) -> dict[str, Series]:
    series: dict[str, Series] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        update = int(row.get("update", 0))
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
def nice_step(span: float, target_ticks: int = 6) -> float:
    raw = span / max(target_ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def plot(
    series: dict[str, Series],
    title: str,
    hline: float | None = None,
    width: int = 820,
    height: int = 500,
) -> Canvas:
    """Log-scale line plot of every series over the updates, with a legend."""
    canvas = Canvas(width, height)
    left, right, top, bottom = 90, width - 24, 56, height - 64
    points = [p for values in series.values() for p in values if p[1] > 0]
    if not points:
        raise ValueError("no positive values to draw on a log scale")
    x_max = max(max(p[0] for p in points), 1)
    levels = [p[1] for p in points] + ([hline] if hline else [])
    y_lo = math.floor(math.log10(min(levels)))
    y_hi = math.ceil(math.log10(max(levels)))
    y_hi = y_hi if y_hi > y_lo else y_lo + 1

    def px(update: float) -> int:
        return round(left + (right - left) * update / x_max)

    def py(value: float) -> int:
        fraction = (math.log10(value) - y_lo) / (y_hi - y_lo)
        return round(bottom - (bottom - top) * fraction)

    # grid and y labels (decades, with 2x and 5x minor lines)
    for decade in range(y_lo, y_hi + 1):
        for factor in (1, 2, 5):
            value = factor * 10.0**decade
            if 10.0**y_lo <= value <= 10.0**y_hi:
                canvas.line(left, py(value), right, py(value), GRID)
        label = f"{10.0**decade:g}"
        canvas.text(left - 10 - text_width(label), py(10.0**decade) - 7, label)
    step = nice_step(x_max)
    tick = 0.0
    while tick <= x_max + 1e-9:
        canvas.line(px(tick), top, px(tick), bottom, GRID)
        label = f"{tick:g}"
        canvas.text(px(tick) - text_width(label) // 2, bottom + 10, label)
        tick += step
    # axes box
    for x0, y0, x1, y1 in ((left, top, right, top), (left, bottom, right, bottom)):
        canvas.line(x0, y0, x1, y1, BLACK)
    canvas.line(left, top, left, bottom, BLACK)
    canvas.line(right, top, right, bottom, BLACK)
    if hline:
        canvas.dashed_hline(left, right, py(hline), GREY)
        label = f"{hline * 100:g}% target" if hline < 1 else f"{hline:g}"
        canvas.text(right - text_width(label) - 6, py(hline) - 18, label, GREY)
    # curves: lines, plus markers where a series has few points (evaluations)
    for index, curve in enumerate(series.values()):
        color = PALETTE[index % len(PALETTE)]
        coords = [(px(u), py(v)) for u, v in sorted(curve) if v > 0]
        for (x0, y0), (x1, y1) in itertools.pairwise(coords):
            canvas.line(x0, y0, x1, y1, color, width=2)
        if len(coords) <= 40:
            for x, y in coords:
                canvas.rect(x - 3, y - 3, x + 3, y + 3, color)
    # labels and legend
    canvas.text(left, 18, title)
    canvas.text((left + right) // 2 - text_width("update") // 2, height - 30, "update")
    legend_y = top + 10
    for index, key in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        x = right - 16 - text_width(max(series, key=len)) - 34
        canvas.line(x, legend_y + 7, x + 24, legend_y + 7, color, width=3)
        canvas.text(x + 32, legend_y, key, color)
        legend_y += 22
    return canvas


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder, or runs/<name> for its newest run")
    parser.add_argument("--output", type=Path, default=Path("docs/quickstart_loss_curve.png"))
    parser.add_argument("--keys", nargs="+", default=list(DEFAULT_KEYS), help="metric keys")
    parser.add_argument("--title", default=None, help="title (default: the run folder)")
    parser.add_argument("--hline", type=float, default=None, help="dashed reference level")
    args = parser.parse_args(argv)
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
    canvas = plot(chosen, title, args.hline)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(canvas.png())
    for key, values in chosen.items():
        print(f"{key}: {len(values)} points, last {values[-1][1]:.6g} at update {values[-1][0]}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
