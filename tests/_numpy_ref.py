"""Small NumPy helpers shared by the reference loops of the seed-neuron tests."""

import numpy as np


def sigmoid(z):
    """Overflow-free float64 logistic function."""
    z = np.asarray(z, np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
