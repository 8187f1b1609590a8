"""A two-sample test for embedding drift: maximum mean discrepancy (MMD) with an RBF kernel and a permutation p-value.

Why MMD: it compares whole distributions of the detector's pooled features (not one statistic per feature), needs
no training, and on 30-300 frames a full kernel matrix is tiny, so every permutation is one matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision_assets.core.monitoring.thresholds import DRIFT_P_VALUE  # noqa: F401 (re-exported)

DEFAULT_PERMUTATIONS = 300


@dataclass(frozen=True)
class DriftTest:
    score: float  # the biased MMD^2 between the two samples
    p_value: float  # share of label permutations whose MMD^2 is at least the observed one (with the +1 correction)
    bandwidth: float  # the RBF kernel's squared length scale (median pairwise squared distance of the pooled sample)
    permutations: int
    reference_size: int
    sample_size: int


def squared_distances(z: np.ndarray) -> np.ndarray:
    norms = np.einsum("ij,ij->i", z, z)
    return np.maximum(norms[:, None] + norms[None, :] - 2.0 * z @ z.T, 0.0)


def mmd_permutation_test(reference: np.ndarray, sample: np.ndarray, *, permutations: int = DEFAULT_PERMUTATIONS,
                         seed: int = 0) -> DriftTest:
    """MMD^2 of reference (n x d) against sample (m x d) and its permutation p-value; seeded, so repeatable."""
    x, y = np.asarray(reference, dtype=np.float64), np.asarray(sample, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"drift test: samples must be 2-D with the same width, got {x.shape} and {y.shape}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"drift test: each sample needs at least 2 rows, got {len(x)} and {len(y)}")
    n, m = len(x), len(y)
    distances = squared_distances(np.vstack([x, y]))
    off_diagonal = distances[~np.eye(n + m, dtype=bool)]
    bandwidth = float(np.median(off_diagonal)) or float(off_diagonal.max()) or 1.0  # identical rows: any scale
    kernel = np.exp(-distances / bandwidth)
    # MMD^2 = w' K w with w = +1/n on the reference rows and -1/m on the sample rows; a permutation reshuffles w.
    weights = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)])
    observed = float(weights @ kernel @ weights)
    rng = np.random.default_rng(seed)
    shuffled = weights[rng.permuted(np.tile(np.arange(n + m), (permutations, 1)), axis=1)]
    null = np.einsum("pi,pi->p", shuffled @ kernel, shuffled)
    p_value = float((1 + np.count_nonzero(null >= observed - 1e-12)) / (1 + permutations))
    return DriftTest(observed, p_value, bandwidth, permutations, n, m)
