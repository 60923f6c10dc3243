"""Figures of runs and experiments: images of tensors on matplotlib axes.

One place for what every training figure and every experiment figure does:
take the first image of a batch (a middle slice of a volume, the
magnitude of a complex image) and show it in grey, optionally in ODL's
orientation (axis 0 horizontal, y upwards), or tile a batch into a grid.
Figures are built with `matplotlib.figure.Figure`, never with pyplot, so
that no window or global state is involved.
"""

import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ('first_image', 'show_image', 'image_grid', 'new_figure', 'error_figure',
           'reconstruction_grid')


def first_image(tensor):
    """The first image of a batch as a 2-D (or 1-D) real CPU tensor.

    ``(N, C, H, W)`` gives ``[0, 0]``, volumes ``(N, C, D, H, W)`` their
    middle slice, complex values their magnitude.

    Examples
    --------
    >>> first_image(torch.zeros(2, 3, 5, 4, 6)).shape
    torch.Size([4, 6])
    >>> first_image(torch.full((1, 1, 2, 2), 1j)).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    x = torch.as_tensor(tensor).detach()[0]
    x = (x.abs() if x.is_complex() else x).float().cpu()
    if x.ndim >= 3:
        x = x[0]
    while x.ndim > 2:
        x = x[x.shape[0] // 2]
    return x


def show_image(ax, image, title=None, vmin=None, vmax=None, odl_axes=False, colorbar=False):
    """Show a 2-D image (or plot a 1-D curve) in grey on ``ax``.

    Parameters
    ----------
    ax : matplotlib axes
    image : torch.Tensor or array-like
        2-D image; a 1-D tensor is plotted as a curve.
    title : str, optional
    vmin, vmax : float, optional
        Grey scale (default: the image's range).
    odl_axes : bool, optional
        ODL's convention: axis 0 is x, shown horizontally, y upwards.
    colorbar : bool, optional

    Examples
    --------
    >>> figure = new_figure(3, 3)
    >>> show_image(figure.subplots(), torch.eye(4), title='identity')
    """
    x = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image)
    x = x.detach().float().cpu()
    if x.ndim == 2:
        data = x.T.numpy() if odl_axes else x.numpy()
        shown = ax.imshow(data, cmap='gray', vmin=vmin, vmax=vmax,
                          origin='lower' if odl_axes else None)
        if colorbar:
            ax.figure.colorbar(shown, ax=ax, shrink=0.8)
        ax.set_axis_off()
    else:
        ax.plot(x.reshape(-1).numpy())
    if title is not None:
        ax.set_title(title, fontsize=9)


def image_grid(images, columns):
    """Tile the first channels of ``(N, C, ...)`` images into one ``rows x columns`` image.

    Examples
    --------
    >>> image_grid(torch.ones(6, 1, 2, 3), columns=3).shape
    torch.Size([4, 9])
    """
    tiles = [first_image(image[None]) for image in torch.as_tensor(images)]
    rows = -(-len(tiles) // columns)
    tiles += [torch.zeros_like(tiles[0])] * (rows * columns - len(tiles))
    return torch.cat([torch.cat(tiles[r * columns:(r + 1) * columns], dim=1)
                      for r in range(rows)], dim=0)


def new_figure(width, height):
    """A `matplotlib.figure.Figure` with the constrained layout, no pyplot involved."""
    return Figure(figsize=(width, height), layout='constrained')


def error_figure(images, reference, path, titles=None, error_scale=4):
    """Images in a row, their absolute errors to ``reference`` below; saved to ``path``.

    The images share the grey scale ``[0, max reference]``, the errors
    ``[0, max reference / error_scale]``; the reference is shown last.

    Parameters
    ----------
    images : dict
        ``label -> 2-D tensor`` (e.g. magnitudes of reconstructions).
    reference : 2-D tensor
    path : str or path-like
    titles : dict, optional
        ``label -> title`` (default: the label); ``'reference'`` titles
        the reference.
    error_scale : float, optional

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     error_figure({'zeros': torch.zeros(4, 4)}, torch.eye(4), os.path.join(folder, 'f.png'))
    ...     os.path.getsize(os.path.join(folder, 'f.png')) > 0
    True
    """
    titles = dict(titles or {})
    shown = dict(images, reference=reference)
    figure = new_figure(2.3 * len(shown), 4.8)
    axes = np.atleast_2d(figure.subplots(2, len(shown), squeeze=False))
    peak = float(torch.as_tensor(reference).max())
    for column, (label, image) in enumerate(shown.items()):
        image = torch.as_tensor(image)
        show_image(axes[0, column], image, titles.get(label, label), vmin=0, vmax=peak)
        show_image(axes[1, column], (image - reference).abs(),
                   f'|error| (x {error_scale:g} scale)' if column == 0 else 'error',
                   vmin=0, vmax=peak / error_scale)
    figure.savefig(path, dpi=110)


def reconstruction_grid(rows, path, peak=1.0):
    """One row per problem: the truth, then every reconstruction; saved to ``path``.

    Parameters
    ----------
    rows : list of (str, 2-D tensor, dict)
        ``(row title, truth, {label: reconstruction})``; labels title the
        columns of the first row. All images share the grey scale
        ``[0, peak]``.
    path : str or path-like
    peak : float, optional

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     reconstruction_grid([('denoising', torch.eye(4), {'TV': torch.eye(4)})],
    ...                         os.path.join(folder, 'f.png'))
    ...     os.path.getsize(os.path.join(folder, 'f.png')) > 0
    True
    """
    columns = 1 + max(len(images) for *_, images in rows)
    figure = new_figure(1.3 * columns, 1.4 * len(rows))
    axes = np.atleast_2d(figure.subplots(len(rows), columns, squeeze=False))
    for row, (title, truth, images) in enumerate(rows):
        show_image(axes[row, 0], truth, title=title, vmin=0, vmax=peak)
        for column, (label, image) in enumerate(images.items(), start=1):
            show_image(axes[row, column], image, title=label if row == 0 else None,
                       vmin=0, vmax=peak)
        for ax in axes[row, len(images) + 1:]:
            ax.set_axis_off()
    figure.savefig(path, dpi=80)
