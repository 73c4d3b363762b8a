# Writes the calibration inputs of the nm-legalize and sparsity-allocation file tests.
# Run from the repository root: /work/main/.venv/bin/python IR/graph/nm-legalize/make-calibration.py
import numpy as np

rng = np.random.default_rng(4)
# 16 samples of 8 features; feature 0 is 100x larger than the rest, so Wanda's ||x_j|| differs
# sharply from uniform and its choices differ from magnitude pruning.
x = rng.standard_normal((16, 8)).astype(np.float32)
x[:, 0] *= 100
np.save("IR/graph/nm-legalize/skewed.npy", x)
# 32 samples of 16 correlated features for the allocation tests (a rank-4 mixture plus noise).
basis = rng.standard_normal((4, 16)).astype(np.float32)
y = rng.standard_normal((32, 4)).astype(np.float32) @ basis + 0.1 * rng.standard_normal((32, 16)).astype(np.float32)
np.save("IR/graph/sparsity-allocation/correlated.npy", y.astype(np.float32))
