"""SEND value-for-money study: data, panel, models and reporting for the book.

Importing the package first pins the numerical environment (`analysis.numerics`),
so import it before NumPy, pandas or PyMC in any script or notebook.
"""

import warnings

from analysis import numerics

numerics.pin()
numerics.warn_if_unpinned()
# pooch imports tqdm.auto when tqdm is installed; in a Jupyter kernel without ipywidgets that
# warns ("IProgress not found") into every chapter, though no progress bar is ever shown there.
warnings.filterwarnings("ignore", message="IProgress not found", category=Warning)
