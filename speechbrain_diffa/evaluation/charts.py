"""The report's bar chart, drawn with matplotlib (headless: a Figure on the Agg canvas, no pyplot state).

Authors
 * speechbrain_diffa contributors 2026
"""

import os


def accuracy_chart(path, title, bars, published=()):
    """Write a horizontal bar chart of this run's accuracies, with published numbers beside them.

    Arguments
    ---------
    path : str
        The PNG to write.
    title : str
        Chart title (benchmark, split, scoring mode).
    bars : list of (str, float)
        This run's accuracies in %: overall first, then per category.
    published : list of (str, float)
        Published overall accuracies in % (model, value), drawn in another colour and labelled as theirs.

    Example
    -------
    >>> path = getfixture("tmpdir") + "/report.png"
    >>> accuracy_chart(path, "mmar strict accuracy %", [("overall", 50.0), ("sound", 40.0)], [("DIFFA-2", 51.2)])
    >>> open(path, "rb").read(8) == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [(f"{label} (this run)" if i == 0 else label, value, "this run") for i, (label, value) in enumerate(bars)]
    rows += [(f"{model} (published)", value, "published") for model, value in published]
    figure = Figure(figsize=(7.0, 0.6 + 0.35 * len(rows)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colours = {"this run": "#3b6ea8", "published": "#b0b0b0"}
    positions = range(len(rows))[::-1]  # first row on top
    axes.barh(list(positions), [v for _, v, _ in rows], color=[colours[kind] for _, _, kind in rows])
    axes.set_yticks(list(positions), [label for label, _, _ in rows])
    for y, (_, value, _) in zip(positions, rows):
        axes.text(value + 0.5, y, f"{value:.1f}", va="center", fontsize=8)
    axes.set_xlim(0, 105)
    axes.set_xlabel("accuracy %")
    axes.set_title(title)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path)
