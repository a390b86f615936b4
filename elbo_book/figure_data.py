"""The numbers a Matplotlib figure draws, as text: compare figures by their data, not their pixels.

A rendered figure changes byte for byte whenever one drawn number moves in its last digit, and with
the renderer's version, so comparing images says little. :func:`figure_data` reads back what each
axes of a figure draws (line coordinates, scatter offsets, bar rectangles, image arrays, contour
levels and vertices, axis limits and scales, titles and labels) and writes it as plain text, every
number in full precision, so a test can compare it number by number with a tolerance.

Large arrays are summarised, not elided silently: an array of more than ``max_values`` numbers is
written as its shape, its sum, and ``max_values`` entries taken at evenly spaced positions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

__all__ = [
    "figure_data",
    "glue_figure",
]

if TYPE_CHECKING:  # matplotlib is an optional (book) dependency
    import matplotlib.figure


def figure_data(fig: matplotlib.figure.Figure, *, max_values: int = 240) -> str:
    """Describe the data that ``fig`` draws, one line per artist.

    Args:
        fig: a Matplotlib figure.
        max_values: the most numbers written for one array; larger arrays are summarised.

    Returns:
        The text, with per axes one line for its title, labels, limits and scales, then one
        line for each line, scatter, bar set, image or contour set, with the numbers it draws.

    Raises:
        TypeError: if ``fig`` is not a Matplotlib figure or ``max_values`` is not a positive int.
    """
    from matplotlib.collections import Collection
    from matplotlib.contour import ContourSet
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage
    from matplotlib.patches import Rectangle

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(max_values, int) or isinstance(max_values, bool) or max_values < 1:
        raise TypeError(f"max_values must be a positive int, got {max_values!r}")
    lines: list[str] = []
    for a, ax in enumerate(fig.axes):
        lines.append(
            f"axes {a}: title={ax.get_title()!r} xlabel={ax.get_xlabel()!r} "
            f"ylabel={ax.get_ylabel()!r} xscale={ax.get_xscale()} yscale={ax.get_yscale()} "
            f"xlim={_numbers(ax.get_xlim(), max_values)} ylim={_numbers(ax.get_ylim(), max_values)}"
        )
        for i, line in enumerate(ax.get_lines()):
            x, y = (np.asarray(v, dtype=float) for v in line.get_data())
            lines.append(
                f"  line {i} {line.get_label()!r}: x={_numbers(x, max_values)} "
                f"y={_numbers(y, max_values)}"
            )
        for i, coll in enumerate(ax.collections):
            if isinstance(coll, ContourSet):
                vertices = [np.asarray(p.vertices) for p in coll.get_paths()]
                vertices = [v for v in vertices if v.size]
                stacked = np.concatenate(vertices) if vertices else np.empty((0, 2))
                lines.append(
                    f"  contours {i}: levels={_numbers(coll.levels, max_values)} "
                    f"vertices={_numbers(stacked, max_values)}"
                )
            elif isinstance(coll, Collection):
                lines.append(f"  points {i}: offsets={_numbers(coll.get_offsets(), max_values)}")
        bars = [p for p in ax.patches if isinstance(p, Rectangle)]
        if bars:
            xywh = [(p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in bars]
            lines.append(f"  bars: x,y,width,height={_numbers(xywh, max_values)}")
        for i, image in enumerate(ax.get_images()):
            if isinstance(image, AxesImage):
                lines.append(f"  image {i}: {_numbers(image.get_array(), max_values)}")
    return "\n".join(lines)


def glue_figure(name: str, fig: matplotlib.figure.Figure, *, image: bool = True) -> None:
    """Glue ``fig`` under ``name`` and its data (:func:`figure_data`) under ``name + "_data"``.

    Both are glued with ``display=False``: the figure appears where the prose places it with
    ``{glue:figure}``; the data is what the notebook tests compare.

    Args:
        name: the glue name of the figure.
        fig: a Matplotlib figure.
        image: whether to glue the figure itself; ``False`` glues only its data, for a figure the
            cell shows inline (``plt.show()``).

    Raises:
        TypeError: if ``name`` is not a non-empty str or ``fig`` is not a Matplotlib figure.
    """
    from myst_nb import glue  # type: ignore[import-untyped]

    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    if not isinstance(image, bool):
        raise TypeError(f"image must be a bool, got {image!r}")
    data = figure_data(fig)
    if image:
        glue(name, fig, display=False)
    glue(f"{name}_data", _Text(data), display=False)


class _Text(str):
    """A str whose repr is itself, so that its glued text/plain is readable, one artist a line."""

    def __repr__(self) -> str:
        return str(self)


def _numbers(values: Any, max_values: int) -> str:
    array: np.ndarray = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
    flat = array.ravel()
    if flat.size <= max_values:
        body = " ".join(repr(float(v)) for v in flat)
        return f"{list(array.shape)}[{body}]"
    picks = np.linspace(0, flat.size - 1, max_values).round().astype(int)
    body = " ".join(repr(float(v)) for v in flat[picks])
    total = float(np.nansum(flat))
    return f"{list(array.shape)} sum={total!r} every~{flat.size // max_values}th[{body}]"
