"""Fits the polynomial behind the C backend's vector GELU (CEmitter.vectorMathHelpers).

erfc(z) = t * exp(-z^2) * P(t) with t = 1 / (1 + p z) for z >= 0 (the form of Abramowitz and Stegun 7.1.26,
with p = 0.3275911 from there), P of degree 9 fitted here by least squares in relative error over z in [0, 10].
Prints P's coefficients (lowest degree first) as float32 and the fit's worst relative error in double.
Usage: .venv/bin/python scripts/fit-erfc.py
"""

from math import erfc, exp

import numpy as np

P_SCALE, DEGREE = 0.3275911, 9

z = np.linspace(0, 10, 40000)
t = 1 / (1 + P_SCALE * z)
target = np.array([erfc(v) * exp(v * v) for v in z]) / t
basis = np.vander(t, DEGREE + 1, increasing=True)
weights = 1 / target
coefficients, *_ = np.linalg.lstsq(basis * weights[:, None], target * weights, rcond=None)
worst = np.max(np.abs(basis @ coefficients - target) / target)
print("coefficients:", ", ".join(np.format_float_positional(np.float32(c), unique=True) + "f" for c in coefficients))
print(f"worst relative error of the fit: {worst:.3g}")
