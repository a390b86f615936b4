"""Computed checks for the sources' claims that are not equations (the Errata chapter).

A claim such as "an isotropic prior pushes towards a disentangled representation" cannot be put
through the SymPy engine: it is refuted by a small *numeric counterexample* instead, computed here
with ``torch.distributions`` in float64 on fixed inputs (no random draws, so the printed numbers
are the same on every run).  Each function returns a
:class:`~elbo_book.book.errata.records.Check`: the statement checked, how,
whether it holds, and the computed evidence.  ``as_written=True`` checks the source's claim,
``as_written=False`` the corrected statement.

A numeric check refutes a general claim (one counterexample suffices) but does not prove the
corrected statement in general; where the corrected statement is an identity, the evidence shows
it holding to rounding error on the instances computed, and the label says "numeric".
"""

from __future__ import annotations

import itertools
import math

import torch
from torch.distributions import (
    Bernoulli,
    MultivariateNormal,
    Normal,
    kl_divergence,
)

from elbo_book.book.errata.records import Check

__all__ = [
    "beta_vs_prior_variance",
    "entropy_spread",
    "factorised_encoder",
    "index_code_labels",
    "isotropic_gaussian_kl",
    "isotropic_prior_rotation",
    "kl_is_not_a_metric",
    "pointwise_log_weight",
]

_DT = torch.float64
_TOL = 1e-10


def _f(v: float | torch.Tensor, digits: int = 4) -> str:
    """A float rounded for display (negative zero shown as 0)."""
    r = round(float(v), digits)
    return f"{0.0 if r == 0 else r:.{digits}f}"


def _bern(prob: float) -> Bernoulli:
    return Bernoulli(probs=torch.tensor(prob, dtype=_DT))


def _normal(loc: float, scale: float) -> Normal:
    return Normal(torch.tensor(loc, dtype=_DT), torch.tensor(scale, dtype=_DT))


# ---------------------------------------------------------------------------------------------
# KL is a divergence, not a metric
# ---------------------------------------------------------------------------------------------
def kl_is_not_a_metric(as_written: bool) -> Check:
    """As written: KL is a metric (symmetric, triangle inequality).  Corrected: KL is a divergence,
    KL(p‖q) ≥ 0 with equality iff p = q, neither symmetric nor subadditive."""
    a, b, c = _bern(0.05), _bern(0.5), _bern(0.95)
    kab, kba = kl_divergence(a, b), kl_divergence(b, a)
    kac, kbc = kl_divergence(a, c), kl_divergence(b, c)
    ev = (
        "a = Bernoulli(0.05), b = Bernoulli(0.5), c = Bernoulli(0.95)",
        f"KL(a‖b) = {_f(kab)}, KL(b‖a) = {_f(kba)}",
        f"KL(a‖c) = {_f(kac)} vs KL(a‖b) + KL(b‖c) = {_f(kab + kbc)}",
    )
    if as_written:
        ok = abs(float(kab - kba)) < _TOL and float(kac) <= float(kab + kbc) + _TOL
        return Check(
            "KL is a metric: KL(a‖b) = KL(b‖a) and KL(a‖c) ≤ KL(a‖b) + KL(b‖c)",
            "numeric counterexample",
            ok,
            ev,
        )
    pairs = [(a, b), (b, a), (a, c), (c, b), (b, c)]
    kls = [float(kl_divergence(u, v)) for u, v in pairs]
    self_kl = [float(kl_divergence(u, u)) for u in (a, b, c)]
    ok = min(kls) > 0 and max(abs(s) for s in self_kl) < _TOL
    return Check(
        "KL is a divergence: KL(u‖v) > 0 for u ≠ v and KL(u‖u) = 0",
        "numeric check",
        ok,
        (
            *ev[:1],
            f"KL on five ordered pairs of distinct distributions: min = {_f(min(kls))}",
            f"KL(u‖u) for u = a, b, c: max |value| = {_f(max(abs(s) for s in self_kl))}",
        ),
    )


# ---------------------------------------------------------------------------------------------
# The running linear-Gaussian model: z ~ N(0, 1), x | z ~ N(z, 1); evidence N(0, 2)
# ---------------------------------------------------------------------------------------------
_X = 1.5


def _log_evidence(x: float) -> torch.Tensor:
    return _normal(0.0, math.sqrt(2.0)).log_prob(torch.tensor(x, dtype=_DT))


def _posterior(x: float) -> Normal:
    return _normal(x / 2, math.sqrt(0.5))


def _expected_loglik(x: float, q: Normal) -> torch.Tensor:
    """E_q[log N(x; z, 1)] = log N(x; m, 1) − s²/2 for q = N(m, s²)."""
    return (
        Normal(q.loc, torch.tensor(1.0, dtype=_DT)).log_prob(torch.tensor(x, dtype=_DT))
        - q.scale**2 / 2
    )


def _elbo(x: float, q: Normal) -> torch.Tensor:
    return _expected_loglik(x, q) - kl_divergence(q, _normal(0.0, 1.0))


def pointwise_log_weight(as_written: bool) -> Check:
    """As written ("expected lower bound"): the integrand log p(x, z)/q(z|x) is a lower bound on
    log p(x) at every z, and the ELBO is its expectation.  Corrected: only the *expectation*
    is a lower bound (Jensen); log p(x) − ELBO = KL(q‖p(z|x)) ≥ 0."""
    q = _normal(0.3, 0.8)
    zs = torch.linspace(-2.0, 3.0, 11, dtype=_DT)
    xt = torch.tensor(_X, dtype=_DT)
    log_w = _normal(0.0, 1.0).log_prob(zs) + Normal(zs, 1.0).log_prob(xt) - q.log_prob(zs)
    lpx = _log_evidence(_X)
    model = f"model z ~ N(0, 1), x | z ~ N(z, 1), x = {_X}; q(z|x) = N(0.3, 0.8²)"
    if as_written:
        i = int(torch.argmax(log_w))
        return Check(
            "log p(x, z) − log q(z|x) ≤ log p(x) for every z (a lower bound at each z)",
            "numeric counterexample",
            bool(torch.all(log_w <= lpx + _TOL)),
            (
                model,
                f"log p(x) = {_f(lpx)}",
                f"at z = {_f(zs[i], 2)}: log p(x, z) − log q(z|x) = {_f(log_w[i])} > log p(x)",
            ),
        )
    elbo = _elbo(_X, q)
    kl_post = kl_divergence(q, _posterior(_X))
    ok = float(elbo) <= float(lpx) and abs(float(lpx - elbo - kl_post)) < _TOL
    return Check(
        "E_q[log p(x, z) − log q(z|x)] ≤ log p(x), with gap KL(q(z|x) ‖ p(z|x))",
        "numeric check",
        ok,
        (
            model,
            f"ELBO = {_f(elbo)} ≤ log p(x) = {_f(lpx)}",
            f"log p(x) − ELBO = {_f(lpx - elbo)} = KL(q‖p(z|x)) = {_f(kl_post)}",
        ),
    )


# ---------------------------------------------------------------------------------------------
# Entropy rewards spreading mass out
# ---------------------------------------------------------------------------------------------
def entropy_spread(as_written: bool) -> Check:
    """As written: keeping q's mass from spreading out boosts the entropy term.  Corrected: the
    entropy ℍ[q] = ½ log(2πe s²) of q = N(m, s²) grows as q spreads out (and → −∞ as q
    collapses to a point)."""
    scales = (0.25, 0.5, 1.0, 2.0)
    ent = [float(_normal(0.0, s).entropy()) for s in scales]
    ev = tuple(f"ℍ[N(0, {s}²)] = {_f(h)}" for s, h in zip(scales, ent, strict=True))
    increasing = all(b > a for a, b in itertools.pairwise(ent))
    if as_written:
        return Check(
            "concentrating q (smaller s) increases ℍ[q]",
            "numeric counterexample",
            not increasing and ent[0] > ent[-1],
            ev,
        )
    return Check("ℍ[q] increases as q spreads out (larger s)", "numeric check", increasing, ev)


# ---------------------------------------------------------------------------------------------
# Isotropic prior: rotation invariance (disentanglement claim)
# ---------------------------------------------------------------------------------------------
def _rotation(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]], dtype=_DT)


def isotropic_prior_rotation(as_written: bool) -> Check:
    """As written: the isotropic prior N(0, I) favours an axis-aligned (disentangled) latent
    space.  Corrected: the prior is rotation invariant, so it cannot single out axes: rotating the
    latent space (z → Rz, decoder W → W Rᵀ, encoder mean and covariance rotated) leaves the
    evidence and KL(q‖p) unchanged; uncorrelated dimensions of a diagonal q(z|x) hold by
    construction, whatever the prior."""
    w = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=_DT)
    x = torch.tensor([1.0, -0.5, 2.0], dtype=_DT)
    noise = 0.5
    r = _rotation(math.pi / 5)
    eye3 = torch.eye(3, dtype=_DT)

    def log_evidence(wm: torch.Tensor) -> float:
        cov = wm @ wm.T + noise * eye3
        return float(MultivariateNormal(torch.zeros(3, dtype=_DT), cov).log_prob(x))

    prior = MultivariateNormal(torch.zeros(2, dtype=_DT), torch.eye(2, dtype=_DT))
    mu = torch.tensor([0.7, -0.4], dtype=_DT)
    cov_q = torch.diag(torch.tensor([0.3, 0.8], dtype=_DT))
    kl_axis = float(kl_divergence(MultivariateNormal(mu, cov_q), prior))
    kl_rot = float(kl_divergence(MultivariateNormal(r @ mu, r @ cov_q @ r.T), prior))
    le_axis, le_rot = log_evidence(w), log_evidence(w @ r.T)
    ev = (
        "linear-Gaussian decoder p(x|z) = N(Wz, 0.5 I), W = [[2, 0], [0, 1], [1, 1]], "
        "rotation R by 36°",
        f"log p(x) with W: {_f(le_axis, 6)};  with W Rᵀ (rotated latents): {_f(le_rot, 6)}",
        f"KL(q‖N(0, I)) for q = N(μ, diag(0.3, 0.8)): {_f(kl_axis, 6)};  "
        f"rotated q: {_f(kl_rot, 6)}",
    )
    invariant = abs(le_axis - le_rot) < _TOL and abs(kl_axis - kl_rot) < _TOL
    if as_written:
        return Check(
            "the isotropic prior prefers the axis-aligned latent space to a rotated one",
            "numeric counterexample",
            not invariant,
            ev,
        )
    return Check(
        "evidence and KL to N(0, I) are unchanged by rotating the latent space",
        "numeric check",
        invariant,
        ev,
    )


# ---------------------------------------------------------------------------------------------
# KL between isotropic Gaussians
# ---------------------------------------------------------------------------------------------
def _kl_iso_closed(mq: torch.Tensor, sq: float, mp: torch.Tensor, sp: float) -> float:
    """½[d σq²/σp² + ‖μq − μp‖²/σp² − d + d log(σp²/σq²)]."""
    d = mq.numel()
    ratio = sq**2 / sp**2
    return 0.5 * (d * ratio + float(((mq - mp) ** 2).sum()) / sp**2 - d - d * math.log(ratio))


def isotropic_gaussian_kl(as_written: bool) -> Check:
    """As written: KL(N(μq, σq² I) ‖ N(μp, σp² I)) ∝ log σq² − log σp².  Corrected: the closed form
    ½[d σq²/σp² + ‖μq − μp‖²/σp² − d + d log(σp²/σq²)] (means and a trace term matter, and the
    log-variance term enters with the opposite sign)."""
    d = 2
    cases = [  # (μq, σq, μp, σp)
        (torch.tensor([1.0, 0.0], dtype=_DT), 1.0, torch.zeros(d, dtype=_DT), 1.0),
        (torch.zeros(d, dtype=_DT), 0.5, torch.zeros(d, dtype=_DT), 1.0),
        (torch.zeros(d, dtype=_DT), 2.0, torch.zeros(d, dtype=_DT), 1.0),
    ]
    rows = []
    for mq, sq, mp, sp in cases:
        q = MultivariateNormal(mq, sq**2 * torch.eye(d, dtype=_DT))
        p = MultivariateNormal(mp, sp**2 * torch.eye(d, dtype=_DT))
        rows.append(
            (
                mq,
                sq,
                sp,
                float(kl_divergence(q, p)),
                _kl_iso_closed(mq, sq, mp, sp),
                math.log(sq**2) - math.log(sp**2),
            )
        )
    ev = tuple(
        f"μq = {mq.tolist()}, σq = {sq}, μp = 0, σp = {sp}: KL = {_f(kl)}, "
        f"closed form = {_f(closed)}, log σq² − log σp² = {_f(lr)}"
        for mq, sq, sp, kl, closed, lr in rows
    )
    if as_written:
        # proportional: KL = c (log σq² − log σp²) with one constant c for all cases
        ok = all(abs(r[5]) > _TOL for r in rows) and len({round(r[3] / r[5], 9) for r in rows}) == 1
        return Check(
            "KL = c · (log σq² − log σp²) for one constant c",
            "numeric counterexample",
            ok,
            (
                *ev,
                "the first case has KL > 0 but log σq² − log σp² = 0; the second and third "
                "have log-ratios of opposite sign but both KL > 0",
            ),
        )
    ok = all(abs(kl - closed) < _TOL for *_, kl, closed, _lr in rows)
    return Check(
        "KL equals the closed form (torch.distributions.kl_divergence)", "numeric check", ok, ev
    )


# ---------------------------------------------------------------------------------------------
# β versus the prior variance
# ---------------------------------------------------------------------------------------------
def beta_vs_prior_variance(as_written: bool) -> Check:
    """As written: weighting KL(q‖N(0, 1)) by β is equivalent to changing the prior variance.
    Corrected: β·KL(q‖N(0,1)) = KL(q‖N(0, 1/β)) − (β−1)·ℍ[q] + ½[(β−1) log 2π + log β]: a prior
    of variance 1/β *and* an entropy weight changed by (β−1); equivalent only when β = 1."""
    beta = 4.0
    qs = [(0.0, 1.0), (1.0, 0.5), (-0.5, 2.0), (2.0, 0.2)]  # (mean, std) of q
    std = _normal(0.0, 1.0)

    def diff(var_p: float) -> list[float]:
        prior = _normal(0.0, math.sqrt(var_p))
        return [
            float(beta * kl_divergence(_normal(m, s), std) - kl_divergence(_normal(m, s), prior))
            for m, s in qs
        ]

    grid = (0.25, 0.5, 1.0, 2.0)
    spreads = {v: max(diff(v)) - min(diff(v)) for v in grid}
    if as_written:
        return Check(
            f"for β = {beta:g} some prior variance v makes β·KL(q‖N(0,1)) − KL(q‖N(0,v)) "
            "the same for every q",
            "numeric counterexample",
            min(spreads.values()) < _TOL,
            (
                "q = N(m, s²) for (m, s) in " + str(qs),
                *(
                    f"v = {v}: the difference varies over q by {_f(sp)}"
                    for v, sp in spreads.items()
                ),
            ),
        )
    const = 0.5 * ((beta - 1) * math.log(2 * math.pi) + math.log(beta))
    resid = []
    for m, s in qs:
        q = _normal(m, s)
        lhs = beta * kl_divergence(q, std)
        rhs = kl_divergence(q, _normal(0.0, 1 / math.sqrt(beta))) - (beta - 1) * q.entropy()
        resid.append(abs(float(lhs - rhs - const)))
    return Check(
        f"β·KL(q‖N(0,1)) = KL(q‖N(0,1/β)) − (β−1)ℍ[q] + ½[(β−1) log 2π + log β], β = {beta:g}",
        "numeric check",
        max(resid) < _TOL,
        ("q = N(m, s²) for (m, s) in " + str(qs), f"max |residual| = {_f(max(resid), 12)}"),
    )


# ---------------------------------------------------------------------------------------------
# The factorisation assumptions behind the per-data-point split
# ---------------------------------------------------------------------------------------------
def factorised_encoder(as_written: bool) -> Check:
    """As written (eq. (22)): the three log-densities of the whole data set split into per-point
    terms, log p(x|z) = Σ_n log p(x_n|z_n), log p(z) = Σ_n log p(z_n) and
    log q(z|x) = Σ_n log q(z_n|x_n), with no assumption stated.  Corrected: each split holds when
    the density factorises over n; for a coupled one it fails under E_q.  Checked on N = 2 points:
    an encoder with correlation ρ = 0.6 (the split is off by the total correlation
    −½ log(1 − ρ²) = 0.2231), a prior with the same correlation (off by −½ log(1 − ρ²) − ρ²/(1 − ρ²)
    = −0.3394 under q = N(0, I)) and a decoder x = A z + noise whose x_1 also depends on z_2
    (A_12 = ½, per-point factor N(x_n; A_nn z_n, 1); off by −½ A_12² E_q[z_2²] = −0.125); with
    ρ = 0 and A_12 = 0 every split holds."""
    rho, a12 = (0.6, 0.5) if as_written else (0.0, 0.0)
    cov = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=_DT)
    joint = MultivariateNormal(torch.zeros(2, dtype=_DT), cov)
    unit = -2 * float(_normal(0.0, 1.0).entropy())  # Σ_n E[log N(z_n; 0, 1)] under unit marginals
    # encoder: E_q[log q(z|x)] against Σ_n E_q[log q(z_n|x_n)] for q = N(0, cov)
    enc = (-float(joint.entropy()), unit)
    # prior: E_q[log p(z)] against Σ_n E_q[log p(z_n)] for q = N(0, I), p = N(0, cov)
    inv = torch.linalg.inv(cov)
    prior_joint = -math.log(2 * math.pi) - 0.5 * math.log(float(torch.det(cov)))
    prior_joint -= 0.5 * float(torch.trace(inv))
    prior = (prior_joint, unit)
    # decoder: E_q[log N(x; A z, I)] against Σ_n E_q[log N(x_n; A_nn z_n, 1)], q = N(0, I), x = 0
    amat = torch.tensor([[1.0, a12], [0.0, 1.0]], dtype=_DT)
    dec_joint = -math.log(2 * math.pi) - 0.5 * float((amat**2).sum())
    dec_split = -math.log(2 * math.pi) - 0.5 * float((torch.diagonal(amat) ** 2).sum())
    dec = (dec_joint, dec_split)
    ev = (
        f"N = 2 points; encoder q(z_1, z_2 | x) = N(0, [[1, {rho}], [{rho}, 1]]): "
        f"E_q[log q(z|x)] = {_f(enc[0])}, Σ_n E_q[log q(z_n|x_n)] = {_f(enc[1])}, "
        f"difference {_f(enc[0] - enc[1])}",
        f"prior p(z_1, z_2) = N(0, [[1, {rho}], [{rho}, 1]]), q = N(0, I): "
        f"E_q[log p(z)] = {_f(prior[0])}, Σ_n E_q[log p(z_n)] = {_f(prior[1])}, "
        f"difference {_f(prior[0] - prior[1])}",
        f"decoder x = A z + N(0, I) noise, A = [[1, {a12}], [0, 1]], x = (0, 0), q = N(0, I): "
        f"E_q[log p(x|z)] = {_f(dec[0])}, Σ_n E_q[log p(x_n|z_n)] = {_f(dec[1])}, "
        f"difference {_f(dec[0] - dec[1])}",
    )
    holds = all(abs(a - b) < _TOL for a, b in (enc, prior, dec))
    fails_each = all(abs(a - b) > 0.1 for a, b in (enc, prior, dec))
    if as_written:
        return Check(
            "the three splits hold for a coupled encoder, prior and decoder (ρ = 0.6, A_12 = 0.5)",
            "numeric counterexample",
            holds or not fails_each,
            ev,
        )
    return Check(
        "the three splits hold for a factorised encoder, prior and decoder (ρ = 0, A_12 = 0)",
        "numeric check",
        holds,
        ev,
    )


# ---------------------------------------------------------------------------------------------
# Labels in the surgery decomposition
# ---------------------------------------------------------------------------------------------
def index_code_labels(as_written: bool) -> Check:
    """As written: the first term is an "expected reconstruction error".  Corrected: it is an
    expected log-likelihood, *minus* the expected reconstruction error (for a Bernoulli decoder:
    minus the binary cross-entropy), so it is maximised; and the second term is the index-code
    mutual information 𝕀_q(n; z) = log N − E_{q(z)} ℍ[q(n|z)] of the encoder."""
    x = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=_DT)
    q_z = torch.tensor([0.9, 0.1], dtype=_DT)  # q(z | x_1) over two codes
    probs = torch.tensor([[0.9, 0.1, 0.8, 0.7], [0.3, 0.6, 0.4, 0.5]], dtype=_DT)
    loglik = Bernoulli(probs=probs).log_prob(x).sum(-1)  # log p(x_1 | z), z = 0, 1
    term = float((q_z * loglik).sum())
    bce = torch.nn.functional.binary_cross_entropy(probs, x.expand(2, 4), reduction="none")
    error = float((q_z * bce.sum(-1)).sum())
    ev = (
        "x_1 = (1, 0, 1, 1); Bernoulli decoder p(x|z) over two codes; q(z|x_1) = (0.9, 0.1)",
        f"E_q[log p(x_1|z)] = {_f(term)}",
        f"expected reconstruction error E_q[BCE(x_1, decoder(z))] = {_f(error)}",
    )
    if as_written:
        return Check(
            "the first term is the expected reconstruction error (≥ 0, minimised)",
            "numeric counterexample",
            abs(term - error) < _TOL and term >= 0,
            ev,
        )
    q_zn = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], dtype=_DT)  # q(z | n), N = 3
    q_marg = q_zn.mean(0)
    mi = float((q_zn / 3 * torch.log(q_zn / q_marg)).sum())
    q_nz = q_zn / 3 / q_marg  # q(n | z), columns sum to 1
    ent = -(q_nz * torch.log(q_nz)).sum(0)  # ℍ[q(n | z)] for each z
    mi_2 = math.log(3) - float((q_marg * ent).sum())
    ok = abs(term + error) < _TOL and abs(mi - mi_2) < _TOL
    return Check(
        "E_q[log p(x|z)] = −(expected reconstruction error), and "
        "𝕀_q(n; z) = log N − E_q(z) ℍ[q(n|z)]",
        "numeric check",
        ok,
        (
            *ev,
            f"q(z|n) = {q_zn.tolist()} (N = 3): 𝕀_q(n; z) = {_f(mi)}, "
            f"log N − E_q(z) ℍ[q(n|z)] = {_f(mi_2)}",
        ),
    )
