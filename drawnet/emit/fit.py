"""Where a picture is shown, and what fitting there means.

A :class:`Fit` is the box the picture must fit and the smallest text it may have there:

``notebook`` (the default)
    A Jupyter column about 1000 px wide. Browsers show an SVG at its own size and shrink a
    wider one to the column, so the picture is laid out for 1000 px and may run wider only
    as long as its smallest text stays at 7 px or more once shrunk, and at most 4000 px
    tall.
``page``
    A paper's text block, 6.5 × 9 in, at true size, with the smallest text at 6 pt.
``column``
    One column of a two-column paper, 3.3 in wide and 7.5 in tall at most (room is left
    for a caption), text at 5 pt.

For ``page`` and ``column`` the saved SVG/PDF has that size (Graphviz's ``size`` scales
the drawing down when needed), so it drops into LaTeX or Word at 100 %; the text sizes
of the theme are set for the fit (8 and 7 pt on a page, 7 and 6 pt in a column) so that
a drawing a little too large can be scaled down without its text getting too small.

Example:
    >>> FITS["page"].width, FITS["column"].min_text
    (468.0, 5.0)
    >>> FITS["page"].scale(936.0, 300.0)
    0.5
"""

from __future__ import annotations

from dataclasses import dataclass

from drawnet.errors import choices


@dataclass(frozen=True)
class Fit:
    """A place a picture is shown: its size in points, the smallest text allowed there,
    the text sizes to lay out with, and whether the picture is saved at that size."""

    name: str
    width: float
    height: float
    min_text: float
    fontsize: float | None = None
    small_fontsize: float | None = None
    true_size: bool = False
    rows: float = 1.0
    """How much of the width (LR) or height (TB) a row may run: below 1 gives shorter
    rows, which Graphviz can lay out narrower (it aligns the k-th nodes of all rows);
    0 means one row, however long (scaled down to fit)."""

    def scale(self, width: float, height: float) -> float:
        """How much a ``width`` × ``height`` pt picture is shrunk where it is shown.

        A notebook shrinks to its width only (it scrolls down); a page or column to both.

        Example:
            >>> FITS["notebook"].scale(1500.0, 100.0)
            0.5
        """
        s = min(1.0, self.width / width) if width > 0 else 1.0
        if self.true_size and height > 0:
            s = min(s, self.height / height)
        return s

    def fits(self, width: float, height: float, small_fontsize: float) -> bool:
        """Whether a picture of this size, with this smallest font, fits here.

        Example:
            >>> FITS["notebook"].fits(1100.0, 400.0, 8.0), FITS["notebook"].fits(1300.0, 4.0, 8.0)
            (True, False)
        """
        s = self.scale(width, height)
        return small_fontsize * s >= self.min_text - 1e-6 and height * s <= self.height + 1e-6

    def along_across(self, orientation: str) -> tuple[float, float]:
        """In inches: the longest a row (LR) or column (TB) may run, and how much room the
        rows have together the other way.

        Example:
            >>> FITS["page"].along_across("TB")
            (9.0, 6.5)
        """
        w, h = self.width / 72, self.height / 72
        if not self.true_size:
            h = min(h, 20.0)  # a notebook scrolls, but a 40 in ribbon helps nobody
        along = (w if orientation == "LR" else h) * (self.rows or float("inf"))
        return (along, h) if orientation == "LR" else (along, w)


FITS: dict[str, Fit] = {
    # 1000 px and 4000 px at 96 px per inch; 7 px is 5.25 pt
    "notebook": Fit("notebook", width=750.0, height=3000.0, min_text=5.25),
    "page": Fit("page", width=468.0, height=648.0, min_text=6.0, fontsize=8.0,
                small_fontsize=7.0, true_size=True),
    # a column figure 7.5 in tall at most, to leave room for its caption on the page
    "column": Fit("column", width=237.6, height=540.0, min_text=5.0, fontsize=7.0,
                  small_fontsize=6.0, true_size=True),
}


def get_fit(fit: str | Fit) -> Fit:
    """Resolve a fit name or pass a :class:`Fit` through.

    Example:
        >>> get_fit("column").width
        237.6
        >>> get_fit("poster")
        Traceback (most recent call last):
        ...
        drawnet.errors.OptionError: unknown fit: 'poster' (must be one of 'notebook', 'page', \
'column')
    """
    if isinstance(fit, Fit):
        return fit
    if not isinstance(fit, str) or fit not in FITS:
        raise choices(fit, tuple(FITS), "fit")
    return FITS[fit]
