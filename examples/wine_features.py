"""Feature engineering shared by the wine notebook's training and serving code."""

import numpy as np

#: New column -> (numerator, denominator) among the raw wine measurements.
RATIOS = {
    "flavanoid_ratio": ("flavanoids", "total_phenols"),
    "colour_per_hue": ("color_intensity", "hue"),
    "proline_per_magnesium": ("proline", "magnesium"),
}


def add_ratio_features(df):
    """A copy of `df` with the RATIOS columns appended (0 where the denominator is 0)."""
    out = df.copy()
    for name, (numerator, denominator) in RATIOS.items():
        bottom = out[denominator].to_numpy(dtype=np.float64)
        top = out[numerator].to_numpy(dtype=np.float64)
        out[name] = np.divide(top, bottom, out=np.zeros_like(top), where=bottom != 0)
    return out
