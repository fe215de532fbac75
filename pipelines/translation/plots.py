"""Attention heatmaps: which source tokens each output token attended to."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.spine.atomic import atomic_path


def plot_attention(
    path: Path,
    panels: list[tuple[list[str], list[str], np.ndarray]],
    title: str,
) -> Path:
    """One heatmap per ``(source_tokens, output_tokens, weights (outputs, sources))`` panel,
    written as a PNG (matplotlib's Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(2, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 5.5 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (source, output, weights) in zip(axes.flat, panels, strict=False):
        ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(source)), source, rotation=60, ha="right", fontsize=9)
        ax.set_yticks(range(len(output)), output, fontsize=9)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as temp:
        fig.savefig(temp, dpi=90)
    plt.close(fig)
    return path
