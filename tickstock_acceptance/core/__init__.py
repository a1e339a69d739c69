"""Core mechanisms every layer uses: one-line errors, waiting with deadlines, the safety guard and
statistics (percentiles, distributions).

The bottom layer: imports nothing else of the package.
"""
