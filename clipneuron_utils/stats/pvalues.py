"""P-values across seeds and claims: one correlation's p combined over the seeds' models (Fisher's z, weighted
by each seed's units), and Holm's adjustment over a stated family (p-values never rounded to 0 here; a
missing p stays outside the family).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats


def combined_p(rs, ns, n_covariates: int = 0, pvalues=None) -> tuple[float, float]:
    """(r_combined, p) for correlations measured on several seeds, by a fixed-effect Fisher-z pooling.

    Each seed's ``atanh r`` has variance ``1 / (n − 3 − n_covariates)``;
    ``statsmodels.stats.meta_analysis.combine_effects`` pools them and ``p`` is the two-sided z-test of
    the pooled effect; ``r_combined = tanh`` of it. Seeds with an undefined r or too few units are left
    out. With one seed left, its own r and its p from ``pvalues`` (the per-seed p-values, e.g.
    pingouin's; aligned with ``rs``) are returned, the z-test only when none is given.
    """
    from statsmodels.stats.meta_analysis import combine_effects

    rs = np.atleast_1d(np.asarray(rs, dtype=float))
    ns = np.atleast_1d(np.asarray(ns, dtype=float))
    if rs.shape != ns.shape:
        raise ValueError(f"rs and ns must have the same length, got {rs.shape} and {ns.shape}")
    ps = None if pvalues is None else np.atleast_1d(np.asarray(pvalues, dtype=float))
    if ps is not None and ps.shape != rs.shape:
        raise ValueError(f"pvalues must have one entry per r, got {ps.shape} for {rs.shape}")
    df = ns - 3 - n_covariates
    keep = np.isfinite(rs) & np.isfinite(df) & (df > 0)
    if not keep.any():
        return math.nan, math.nan
    if keep.sum() == 1 and ps is not None:
        i = int(np.flatnonzero(keep)[0])
        return float(rs[i]), float(ps[i])
    z = np.arctanh(np.clip(rs[keep], -1 + 1e-15, 1 - 1e-15))
    variance = 1.0 / df[keep]
    if len(z) == 1:
        mean, sd = float(z[0]), float(math.sqrt(variance[0]))
    else:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            pooled = combine_effects(z, variance, use_t=False)
        mean, sd = float(pooled.mean_effect_fe), float(pooled.sd_eff_w_fe)
    p = float(2 * stats.norm.sf(abs(mean / sd)))
    return float(np.tanh(mean)), p


def holm(pvalues) -> np.ndarray:
    """Holm-adjusted p-values (``multipletests(method="holm")``); NaNs stay in place, outside the family."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=float).ravel().copy()
    ok = np.isfinite(p)
    if ok.any():
        p[ok] = multipletests(p[ok], method="holm")[1]
    return p
