"""SEND value-for-money study: data, panel, models and reporting for the book.

Importing the package first pins the numerical environment (`analysis.numerics`),
so import it before NumPy, pandas or PyMC in any script or notebook.
"""

from analysis import numerics

numerics.pin()
numerics.warn_if_unpinned()
