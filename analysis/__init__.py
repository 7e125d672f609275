"""SEND value-for-money study: data, panel, models and reporting for the book."""

import warnings

# A pip-installed PyTensor cannot find a system BLAS and says so once, at its first
# C compilation. The models here are sampled by nutpie (Numba, its own BLAS) and their
# matrix products are tiny, so the warning is noise in the chapters; a conda install
# (environment.yml) links BLAS and never raises it.
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation", category=UserWarning)
