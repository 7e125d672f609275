"""Models fitted to the panel: `fitting` (sampling, the fit cache, convergence checks), `ehcp` and `spend`.

Models read the panel (`analysis.data`) and nothing downstream of them.
"""
