"""The amortisation gap (Cremer et al. 2018): how much of log p(x) − ELBO the encoder costs.

For an image x, a decoder p_θ(x | z) with prior p(z) = N(0, I) and the diagonal Gaussian family
q_λ(z) = N(m, diag s²), λ = (m, log s), the gap of the encoder's q_φ(z | x) splits as

    log p(x) − ℒ(x; φ) = [log p(x) − ℒ(x; λ*)] + [ℒ(x; λ*) − ℒ(x; φ)],
                          approximation gap       amortisation gap

with ℒ(x; λ) = E_{q_λ}[log p_θ(x | z)] − KL(q_λ ‖ N(0, I)) and λ* = argmax_λ ℒ(x; λ), the best
member of the family *for this x* (a separate optimisation per image).

* :func:`fit_local_gaussians` finds λ* for a batch of images in one optimisation.  The expectation
  is replaced by an average over S fixed draws ε_s ~ N(0, I) (z = m + s ⊙ ε_s, common random
  numbers), so each image's objective
  f_i(λ_i) = (1/S) Σ_s log p_θ(x_i | m_i + s_i ⊙ ε_{s,i}) − KL(q_{λ_i} ‖ N(0, I))
  is a deterministic, piecewise smooth function.  The images' problems are independent: each
  row of one batched tensor runs its own L-BFGS with its own line search, and image i counts as
  *converged* when max abs(∇_{λ_i} f_i) ≤ ``grad_tol`` or when f_i rose by less than
  ``tol_change`` over the last ``window`` iterations (the decoder's ReLUs make f_i piecewise
  smooth, so the gradient need not vanish at a maximum).  The optimisation starts at the
  encoder's output, so it finds a local optimum near it; another, better optimum would only
  shrink the approximation gap.
* :func:`amortisation_gap` then estimates, per image and with fresh draws: ℒ(x; φ) and
  ℒ(x; λ̂) (each from ``n_eval`` draws, with its Monte Carlo standard error; fresh draws make the
  estimate of ℒ(x; λ̂) unbiased, while the fitting draws would overstate it), and log p(x) by
  importance sampling with K draws, half from q_λ̂ and half from q_φ, weighted against the
  mixture ½ q_λ̂ + ½ q_φ (log (1/K) Σ_k w_k; its standard error by the delta
  method, sd(w) / (√K mean(w)) = √((K Σ_k w̃_k² − 1) / K) with w̃ the normalised weights, and the
  effective sample size 1 / Σ_k w̃_k²).

Everything runs in float64 on a copy of the model; the model itself is not changed.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch.distributions import Independent, Normal

from elbo_book.models import VAE
from elbo_book.validation import check_int, check_positive, check_seed, check_tensor

__all__ = ["GapSplit", "LocalFit", "amortisation_gap", "fit_local_gaussians"]


@dataclass(frozen=True)
class LocalFit:
    """Per-image Gaussians q_λ̂(z) = N(loc, diag scale²) from :func:`fit_local_gaussians`.

    ``objective`` is f_i(λ̂_i) on the fitting draws, ``grad_max`` the largest abs(∂f_i/∂λ) of image i
    at the end; ``converged`` whether image i met one of the two stopping rules of
    :func:`fit_local_gaussians`, ``by_gradient`` whether it met the gradient rule;
    ``iterations`` is the number of batched L-BFGS iterations run (the last image to stop
    needed that many).  All tensors are float64 with one row per image.
    """

    loc: torch.Tensor
    scale: torch.Tensor
    objective: torch.Tensor
    grad_max: torch.Tensor
    converged: torch.Tensor
    by_gradient: torch.Tensor
    iterations: int


@dataclass(frozen=True)
class GapSplit:
    """The per-image estimates of :func:`amortisation_gap` (float64 tensors, one entry per image).

    ``log_px`` and ``log_px_se``: the importance-sampled log p(x) and its standard error;
    ``ess``: the effective sample size of its weights; ``elbo_local`` / ``elbo_amortised`` and
    their ``_se``: ℒ(x; λ̂) and ℒ(x; φ) with their Monte Carlo standard errors; ``fit``: the
    :class:`LocalFit`; ``n_importance``: K.
    """

    log_px: torch.Tensor
    log_px_se: torch.Tensor
    ess: torch.Tensor
    elbo_local: torch.Tensor
    elbo_local_se: torch.Tensor
    elbo_amortised: torch.Tensor
    elbo_amortised_se: torch.Tensor
    fit: LocalFit
    n_importance: int

    @property
    def approximation_gap(self) -> torch.Tensor:
        """log p(x) − ℒ(x; λ̂) per image."""
        return self.log_px - self.elbo_local

    @property
    def amortisation_gap(self) -> torch.Tensor:
        """ℒ(x; λ̂) − ℒ(x; φ) per image."""
        return self.elbo_local - self.elbo_amortised

    def summary(self) -> dict[str, tuple[float, float]]:
        """Mean over images and its standard error (sd / √n) of each quantity.

        Returns:
            ``{"log_px", "elbo_local", "elbo_amortised", "gap", "approximation_gap",
            "amortisation_gap"}`` ↦ ``(mean, standard error)``; ``gap`` is log p(x) − ℒ(x; φ).
        """
        values = {
            "log_px": self.log_px,
            "elbo_local": self.elbo_local,
            "elbo_amortised": self.elbo_amortised,
            "gap": self.log_px - self.elbo_amortised,
            "approximation_gap": self.approximation_gap,
            "amortisation_gap": self.amortisation_gap,
        }
        n = self.log_px.numel()
        return {
            key: (float(v.mean()), float(v.std()) / math.sqrt(n) if n > 1 else math.nan)
            for key, v in values.items()
        }


def _float64_copy(model: VAE) -> VAE:
    if not isinstance(model, VAE):
        raise TypeError(f"model must be an elbo_book.models.VAE, got {type(model).__name__}")
    twin = copy.deepcopy(model).to(torch.float64)
    twin.requires_grad_(False)
    twin.eval()
    return twin


def _kl_to_standard_normal(loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """KL(N(m, diag s²) ‖ N(0, I)) = ½ Σ_j (m_j² + s_j² − 1 − 2 log s_j), per row."""
    return 0.5 * (loc**2 + torch.exp(2 * log_scale) - 1 - 2 * log_scale).sum(-1)


def _elbo_draws(
    model: VAE, x: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """log p(x | m + s ⊙ ε_s) − KL(q ‖ N(0, I)) for each draw s, shape ``(S, batch)``."""
    z = loc + torch.exp(log_scale) * eps
    return model.likelihood(z).log_prob(x) - _kl_to_standard_normal(loc, log_scale)


def _data(model: VAE, x: torch.Tensor) -> torch.Tensor:
    check_tensor(x, "x", ndim=2, last_dim=model.data_dim)
    model.check_data(x.to(model.dtype))
    return x.to(torch.float64)


def _lbfgs_direction(
    grad: torch.Tensor, s_hist: torch.Tensor, y_hist: torch.Tensor, count: torch.Tensor
) -> torch.Tensor:
    """The L-BFGS two-loop recursion, batched: −H_i ∇F_i for each row i (its own history).

    ``s_hist``/``y_hist`` have shape ``(n, m, p)``, newest pair last; pairs beyond ``count[i]``
    or with yᵀs ≤ 0 are skipped (ρ = 0).
    """
    n, m, _ = s_hist.shape
    sy = (s_hist * y_hist).sum(-1)
    valid = (torch.arange(m).expand(n, m) >= m - count[:, None]) & (sy > 0)
    rho = torch.where(valid, 1 / torch.where(valid, sy, torch.ones_like(sy)), torch.zeros_like(sy))
    r = grad.clone()
    alpha = torch.zeros(n, m, dtype=grad.dtype)
    for j in reversed(range(m)):
        alpha[:, j] = rho[:, j] * (s_hist[:, j] * r).sum(-1)
        r = r - alpha[:, j, None] * y_hist[:, j]
    yy = (y_hist[:, -1] ** 2).sum(-1)
    gamma = torch.where(valid[:, -1], sy[:, -1] / torch.where(valid[:, -1], yy, 1.0), 1.0)
    r = gamma[:, None] * r
    for j in range(m):
        beta = rho[:, j] * (y_hist[:, j] * r).sum(-1)
        r = r + (alpha[:, j] - beta)[:, None] * s_hist[:, j]
    return -r


def fit_local_gaussians(
    model: VAE,
    x: torch.Tensor,
    *,
    n_draws: int = 100,
    max_iter: int = 300,
    grad_tol: float = 1e-4,
    tol_change: float = 1e-6,
    window: int = 5,
    history: int = 10,
    seed: int = 0,
) -> LocalFit:
    """Maximise each image's ELBO over its own diagonal Gaussian, all images in one batch.

    The objective of image i is the fixed-draw average f_i(λ_i) of the module docstring, with
    λ_i = (m_i, log s_i) started at the encoder's output for x_i.  The problems are independent,
    so each row runs its own L-BFGS (its own curvature history and its own backtracking line
    search with the Armijo condition F(λ + t d) ≤ F(λ) + 10⁻⁴ t ∇Fᵀd, F = −f), all rows in one
    tensor.  A row stops (counts as converged) once max abs(∇f_i) ≤ ``grad_tol``, or once f_i has
    risen by less than ``tol_change`` nats over the last ``window`` iterations: with a ReLU
    decoder f_i is only piecewise smooth in λ_i (a hidden unit switches at a kink), so its
    gradient need not vanish at the maximum and the second rule is the one that usually applies.

    Args:
        model: a trained :class:`~elbo_book.models.VAE` (copied to float64, not changed).
        x: images, shape ``(n, data_dim)``, valid data for ``model``.
        n_draws: S, the fixed draws per image, ≥ 1.
        max_iter: the iteration budget, ≥ 1.
        grad_tol: the per-image convergence threshold on max abs(∇f_i), > 0.
        tol_change: the stall threshold on the rise of f_i over ``window`` iterations, > 0.
        window: the stall window, ≥ 1.
        history: the number of L-BFGS curvature pairs kept per image, ≥ 1.
        seed: seeds the fixed draws.

    Returns:
        The :class:`LocalFit`.

    Raises:
        TypeError: ``model`` is not a VAE.
        ValueError: a bad argument.
    """
    twin = _float64_copy(model)
    data = _data(twin, x)
    n_draws = check_int(n_draws, "n_draws")
    max_iter = check_int(max_iter, "max_iter")
    grad_tol = check_positive(grad_tol, "grad_tol")
    tol_change = check_positive(tol_change, "tol_change")
    window = check_int(window, "window")
    history = check_int(history, "history")
    generator = torch.Generator().manual_seed(check_seed(seed))
    with torch.no_grad():
        q = twin.encode(data)
        d = q.base_dist.loc.shape[-1]
        params = torch.cat([q.base_dist.loc, q.base_dist.scale.log()], -1)
    eps = torch.randn((n_draws, *q.base_dist.loc.shape), generator=generator, dtype=torch.float64)

    def value(lam: torch.Tensor) -> torch.Tensor:  # F_i = −f_i, per row
        return -_elbo_draws(twin, data, lam[:, :d], lam[:, d:], eps).mean(0)

    def value_and_grad(lam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lam = lam.detach().requires_grad_(True)
        f = value(lam)
        (g,) = torch.autograd.grad(f.sum(), lam)
        return f.detach(), g

    n, p = params.shape
    s_hist = torch.zeros(n, history, p, dtype=torch.float64)
    y_hist = torch.zeros_like(s_hist)
    count = torch.zeros(n, dtype=torch.long)
    f, g = value_and_grad(params)
    past = [f]  # F after each iteration, for the stall rule
    stalled = torch.zeros(n, dtype=torch.bool)
    iterations = 0
    while iterations < max_iter:
        active = (g.abs().amax(-1) > grad_tol) & ~stalled
        if not bool(active.any()):
            break
        iterations += 1
        direction = _lbfgs_direction(g, s_hist, y_hist, count)
        slope = (g * direction).sum(-1)
        uphill = slope >= 0  # not a descent direction: restart that row from steepest descent
        direction[uphill] = -g[uphill]
        slope = torch.where(uphill, -(g**2).sum(-1), slope)
        count[uphill] = 0
        step = torch.where(count == 0, 0.1 / g.abs().amax(-1).clamp(min=1.0), 1.0)
        step = torch.where(active, step, torch.zeros_like(step))
        with torch.no_grad():
            for _ in range(20):
                trial = value(params + step[:, None] * direction)
                bad = active & ~(trial <= f + 1e-4 * step * slope)
                if not bool(bad.any()):
                    break
                step = torch.where(bad, step / 2, step)
            step = torch.where(bad, torch.zeros_like(step), step)  # no acceptable step: stay
        new_params = params + step[:, None] * direction
        new_f, new_g = value_and_grad(new_params)
        moved = step > 0
        s_new = torch.where(moved[:, None], new_params - params, s_hist[:, -1])
        y_new = torch.where(moved[:, None], new_g - g, y_hist[:, -1])
        s_hist = torch.cat([s_hist[:, 1:], s_new[:, None]], 1)
        y_hist = torch.cat([y_hist[:, 1:], y_new[:, None]], 1)
        count = torch.clamp(count + moved.long(), max=history)
        params, f, g = new_params, new_f, new_g
        past.append(f)
        if len(past) > window:
            stalled = stalled | (past[-1 - window] - f < tol_change)
    grad_max = g.abs().amax(-1)
    by_gradient = grad_max <= grad_tol
    return LocalFit(
        loc=params[:, :d].clone(),
        scale=params[:, d:].exp(),
        objective=-f,
        grad_max=grad_max,
        converged=by_gradient | stalled,
        by_gradient=by_gradient,
        iterations=iterations,
    )


def _elbo_estimate(
    model: VAE,
    x: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    n_eval: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    eps = torch.randn((n_eval, *loc.shape), generator=generator, dtype=torch.float64)
    draws = _elbo_draws(model, x, loc, scale.log(), eps)
    return draws.mean(0), draws.std(0) / math.sqrt(n_eval)


def _importance(
    model: VAE,
    x: torch.Tensor,
    proposals: tuple[Independent, Independent],
    n_importance: int,
    chunk: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log (1/K) Σ_k w_k with the two-component mixture proposal, its delta-method standard
    error and the ESS, per image.  Half the draws come from each component, and every weight is
    p(x, z_k) / (½ q_1(z_k) + ½ q_2(z_k)) (the deterministic-mixture estimator, unbiased for
    p(x))."""
    log_sum = torch.full(x.shape[:-1], -math.inf, dtype=torch.float64)
    log_sum_sq = log_sum.clone()
    for i, component in enumerate(proposals):
        share = n_importance // 2 if i == 0 else n_importance - n_importance // 2
        loc, scale = component.base_dist.loc, component.base_dist.scale
        done = 0
        while done < share:
            size = min(chunk, share - done)
            z = loc + scale * torch.randn((size, *loc.shape), generator=generator, dtype=loc.dtype)
            log_mix = torch.logsumexp(torch.stack([p.log_prob(z) for p in proposals]), 0)
            log_w = (
                model.likelihood(z).log_prob(x)
                + model.prior().log_prob(z)
                - (log_mix - math.log(2))
            )
            log_sum = torch.logaddexp(log_sum, torch.logsumexp(log_w, 0))
            log_sum_sq = torch.logaddexp(log_sum_sq, torch.logsumexp(2 * log_w, 0))
            done += size
    sum_sq_normalised = torch.exp(log_sum_sq - 2 * log_sum)  # Σ_k w̃_k²
    se = torch.sqrt(torch.clamp(n_importance * sum_sq_normalised - 1, min=0) / n_importance)
    return log_sum - math.log(n_importance), se, 1 / sum_sq_normalised


def amortisation_gap(
    model: VAE,
    x: torch.Tensor,
    *,
    n_draws: int = 100,
    max_iter: int = 300,
    grad_tol: float = 1e-4,
    n_eval: int = 1000,
    n_importance: int = 5000,
    chunk_size: int = 500,
    seed: int = 0,
) -> GapSplit:
    """Split log p(x) − ℒ(x; φ) into the approximation and the amortisation gap, per image.

    Args:
        model: a trained :class:`~elbo_book.models.VAE` (copied to float64, not changed).
        x: images, shape ``(n, data_dim)``, valid data for ``model``.
        n_draws: fixed draws per image for :func:`fit_local_gaussians`, ≥ 1.
        max_iter: its L-BFGS iteration budget, ≥ 1.
        grad_tol: its convergence threshold, > 0.
        n_eval: fresh draws per image for each ELBO estimate, ≥ 2.
        n_importance: K, importance draws per image for log p(x), ≥ 2.
        chunk_size: importance draws per chunk (bounds memory), ≥ 1.
        seed: seeds every draw (the fitting draws with ``seed``, the rest with ``seed + 1``).

    Returns:
        The :class:`GapSplit`.

    Raises:
        TypeError: ``model`` is not a VAE.
        ValueError: a bad argument.
    """
    seed = check_seed(seed)
    n_eval = check_int(n_eval, "n_eval", minimum=2)
    n_importance = check_int(n_importance, "n_importance", minimum=2)
    chunk_size = check_int(chunk_size, "chunk_size")
    fit = fit_local_gaussians(
        model, x, n_draws=n_draws, max_iter=max_iter, grad_tol=grad_tol, seed=seed
    )
    twin = _float64_copy(model)
    data = _data(twin, x)
    generator = torch.Generator().manual_seed(check_seed(seed + 1))
    with torch.no_grad():
        q = twin.encode(data)
        amortised, amortised_se = _elbo_estimate(
            twin, data, q.base_dist.loc, q.base_dist.scale, n_eval, generator
        )
        local, local_se = _elbo_estimate(twin, data, fit.loc, fit.scale, n_eval, generator)
        local_q = Independent(Normal(fit.loc, fit.scale), 1)
        log_px, log_px_se, ess = _importance(
            twin, data, (local_q, q), n_importance, chunk_size, generator
        )
    return GapSplit(
        log_px=log_px,
        log_px_se=log_px_se,
        ess=ess,
        elbo_local=local,
        elbo_local_se=local_se,
        elbo_amortised=amortised,
        elbo_amortised_se=amortised_se,
        fit=fit,
        n_importance=n_importance,
    )
