"""glaciermap: glacier outlines from Sentinel-1 SAR time series.

Importing the package is cheap on purpose: heavy dependencies (geopandas, rasterio, torch) are imported by
the modules that need them, so that ``glaciermap --help`` answers at once.
"""

__version__ = "0.1.0"
