"""elbo_book.figure_data: a figure's drawn numbers as text."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from elbo_book.figure_data import figure_data


def test_lines_points_bars_images_and_labels_are_written() -> None:
    fig, (ax0, ax1) = plt.subplots(1, 2)
    ax0.plot([0.0, 1.0], [2.0, 3.5], label="curve")
    ax0.scatter([0.25], [0.75])
    ax0.set_title("left")
    ax1.bar([0, 1], [4.0, 5.0])
    ax1.imshow(np.arange(6.0).reshape(2, 3))
    text = figure_data(fig)
    plt.close(fig)
    assert "title='left'" in text
    assert "line 0 'curve': x=[2][0.0 1.0] y=[2][2.0 3.5]" in text
    assert "offsets=[1, 2][0.25 0.75]" in text
    assert "height" in text and "4.0" in text and "5.0" in text
    assert "image 0: [2, 3][0.0 1.0 2.0 3.0 4.0 5.0]" in text


def test_a_moved_point_changes_the_text() -> None:
    def draw(y: float) -> str:
        fig, ax = plt.subplots()
        ax.plot([0.0, 1.0], [0.0, y])
        ax.set_ylim(0, 2)
        text = figure_data(fig)
        plt.close(fig)
        return text

    assert draw(1.0) == draw(1.0)
    assert draw(1.0) != draw(1.0 + 1e-12)


def test_large_arrays_are_summarised_with_shape_and_sum() -> None:
    fig, ax = plt.subplots()
    ax.plot(np.arange(1000.0))
    text = figure_data(fig, max_values=10)
    plt.close(fig)
    assert "[1000] sum=499500.0" in text
    assert text.count(" ") < 80


@pytest.mark.parametrize("bad", [None, "fig", 3])
def test_bad_figure_is_rejected(bad: object) -> None:
    with pytest.raises(TypeError, match="fig"):
        figure_data(bad)  # type: ignore[arg-type]


def test_bad_max_values_is_rejected() -> None:
    fig, _ = plt.subplots()
    with pytest.raises(TypeError, match="max_values"):
        figure_data(fig, max_values=0)
    plt.close(fig)
