"""Disentanglement diagnostics: the mutual information gap (MIG), the FactorVAE metric, traversals.

Setting.  A data set x_1..x_N generated from K discrete factors v_1..v_K (known for every
example, as in :func:`elbo_book.data.make_shapes`) and a diagonal-Gaussian encoder
q(z|x_n) = N(μ_n, diag σ_n²).  With z ~ q(z|x_n) and n uniform, the mutual information between
latent coordinate z_j and factor v_k is

    I(z_j; v_k) = E[log q(z_j | v_k) − log q(z_j)],
    q(z_j) = (1/N) Σ_m q(z_j|x_m),   q(z_j | v_k = u) = (1/N_u) Σ_{m: v_k(m) = u} q(z_j|x_m),

estimated by Monte Carlo over the draws with both mixtures computed exactly (no binning), as in
Chen et al. (2018).  The MIG is the normalised gap between the two most informative coordinates,
averaged over factors:

    MIG = (1/K) Σ_k [I(z_{j⁽¹⁾}; v_k) − I(z_{j⁽²⁾}; v_k)] / ℍ(v_k),

where j⁽¹⁾, j⁽²⁾ are the coordinates with the largest and second-largest I(z_j; v_k).  It is 1 for
a code whose every factor is captured exactly by one coordinate and 0 when each factor is spread
evenly over two or more.

The FactorVAE metric of Kim & Mnih (2018) uses the encoder means c_n = μ_n only.  Normalise
each coordinate by its standard deviation over the data, s_j = std_n c_nj, and drop the
coordinates with s_j below a threshold (collapsed ones).  One *vote*: draw a factor k uniformly,
a value u of v_k uniformly, and L examples uniformly (with replacement) among those with v_k = u;
the vote is (k, j*) with

    j* = argmin_j Var_L[c_nj / s_j]    (the empirical variance over the L examples).

A majority-vote classifier maps each coordinate j to the factor that won most of its training
votes; the metric is its accuracy, on the training votes (as Kim & Mnih report it) and on a
fresh set of votes.  It is 1 when fixing each factor freezes a coordinate of its own, and
1/K in expectation on held-out votes for a code independent of the factors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Normal

from elbo_book.models import VAE
from elbo_book.validation import (
    check_generator,
    check_int,
    check_nonnegative,
    check_scale,
    check_tensor,
)

__all__ = [
    "FactorVAEScore",
    "MIGResult",
    "factor_vae_score",
    "latent_factor_mutual_information",
    "latent_traversals",
    "mutual_information_gap",
]


def _check_codes(loc: torch.Tensor, scale: torch.Tensor, factor_indices: torch.Tensor) -> None:
    check_tensor(loc, "loc", ndim=2)
    check_scale(scale, "scale", ndim=2)
    if scale.shape != loc.shape:
        raise ValueError(
            f"scale must have the shape of loc {tuple(loc.shape)}, got {tuple(scale.shape)}"
        )
    if (
        not isinstance(factor_indices, torch.Tensor)
        or factor_indices.is_floating_point()
        or factor_indices.dim() != 2
        or factor_indices.shape[0] != loc.shape[0]
    ):
        raise ValueError(
            f"factor_indices must be an integer tensor of shape (N, K) with N = {loc.shape[0]} "
            "(one row of factor values per example)"
        )


@torch.no_grad()
def latent_factor_mutual_information(
    loc: torch.Tensor,
    scale: torch.Tensor,
    factor_indices: torch.Tensor,
    *,
    n_samples: int = 4,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """I(z_j; v_k) in nats for every latent coordinate j and factor k.

    Monte Carlo over ``n_samples`` draws z ~ q(z|x_n) per example; q(z_j) and q(z_j | v_k) are
    exact mixtures over the N encoders.  Memory O(N² d) per draw; computed in float64.

    Args:
        loc: the encoder means μ_n, shape ``(N, d)``.
        scale: the encoder standard deviations σ_n, shape ``(N, d)``.
        factor_indices: each example's factor values as integers, shape ``(N, K)``.
        n_samples: draws per example, ≥ 1.
        generator: a ``torch.Generator``, or None for torch's global one.

    Returns:
        A float64 tensor of shape ``(d, K)``.

    Raises:
        ValueError: a bad argument.
    """
    _check_codes(loc, scale, factor_indices)
    n_samples = check_int(n_samples, "n_samples")
    check_generator(generator)
    loc, scale = loc.double(), scale.double()
    n, d = loc.shape
    components = Normal(loc.unsqueeze(0), scale.unsqueeze(0))  # q(z_j | x_m) at [·, m, j]
    same_value = [
        (factor_indices[:, k, None] == factor_indices[None, :, k]).double()  # (N, M)
        for k in range(factor_indices.shape[1])
    ]
    total = torch.zeros(d, factor_indices.shape[1], dtype=torch.float64)
    for _ in range(n_samples):
        noise = torch.randn(loc.shape, generator=generator, dtype=torch.float64)
        z = loc + scale * noise  # z[n] ~ q(z|x_n)
        log_q = components.log_prob(z.unsqueeze(1))  # (N, M, d): log q(z_nj | x_m)
        # Shift by the largest component; x_n's own component lies in every sum below, and it is
        # within log(σ_max/σ_min) + ε²/2 nats of the largest, so nothing underflows.
        shift = log_q.amax(dim=1)
        weights = torch.exp(log_q - shift.unsqueeze(1))
        log_marginal = weights.sum(dim=1).log() + shift - math.log(n)  # log q(z_nj)
        for k, same in enumerate(same_value):
            members = torch.einsum("nmd,nm->nd", weights, same)
            log_conditional = members.log() + shift - same.sum(dim=1, keepdim=True).log()
            total[:, k] += (log_conditional - log_marginal).mean(dim=0)
    return total / n_samples


@dataclass(frozen=True)
class MIGResult:
    """The mutual information gap and its parts.

    Attributes:
        score: the MIG, averaged over factors.
        per_factor: the normalised gap of each factor.
        mutual_information: the matrix I(z_j; v_k) in nats, shape ``(d, K)``.
        factor_entropy: the factor entropies ℍ(v_k) in nats, shape ``(K,)``.
    """

    score: float
    per_factor: tuple[float, ...]
    mutual_information: torch.Tensor
    factor_entropy: torch.Tensor


def _entropy_of_labels(labels: torch.Tensor) -> float:
    counts = torch.unique(labels, return_counts=True)[1].double()
    p = counts / counts.sum()
    return float(-(p * p.log()).sum())


def mutual_information_gap(
    loc: torch.Tensor,
    scale: torch.Tensor,
    factor_indices: torch.Tensor,
    *,
    n_samples: int = 4,
    generator: torch.Generator | None = None,
) -> MIGResult:
    """MIG = (1/K) Σ_k [I(z_{j⁽¹⁾}; v_k) − I(z_{j⁽²⁾}; v_k)] / ℍ(v_k) (Chen et al. 2018).

    Args:
        loc: the encoder means, shape ``(N, d)`` with d ≥ 2.
        scale: the encoder standard deviations, shape ``(N, d)``.
        factor_indices: integer factor values, shape ``(N, K)``; each factor takes ≥ 2 values.
        n_samples: draws per example, ≥ 1.
        generator: a ``torch.Generator``, or None for torch's global one.

    Returns:
        The :class:`MIGResult`.

    Raises:
        ValueError: a bad argument, d < 2, or a constant factor.
    """
    _check_codes(loc, scale, factor_indices)
    if loc.shape[1] < 2:
        raise ValueError(f"the MIG needs at least 2 latent coordinates, got d = {loc.shape[1]}")
    entropy = torch.tensor(
        [_entropy_of_labels(factor_indices[:, k]) for k in range(factor_indices.shape[1])],
        dtype=torch.float64,
    )
    if not bool((entropy > 0).all()):
        raise ValueError("every factor must take at least two values (entropy ℍ(v_k) > 0)")
    info = latent_factor_mutual_information(
        loc, scale, factor_indices, n_samples=n_samples, generator=generator
    )
    top_two = torch.topk(info, 2, dim=0).values  # (2, K)
    per_factor = (top_two[0] - top_two[1]) / entropy
    return MIGResult(
        score=float(per_factor.mean()),
        per_factor=tuple(float(g) for g in per_factor),
        mutual_information=info,
        factor_entropy=entropy,
    )


def _check_factor_indices(factor_indices: object, n: int) -> torch.Tensor:
    if (
        not isinstance(factor_indices, torch.Tensor)
        or factor_indices.is_floating_point()
        or factor_indices.is_complex()
        or factor_indices.dim() != 2
        or factor_indices.shape[0] != n
        or factor_indices.shape[1] == 0
    ):
        raise ValueError(
            f"factor_indices must be an integer tensor of shape (N, K) with N = {n} and K >= 1 "
            "(one row of factor values per example)"
        )
    return factor_indices


@dataclass(frozen=True)
class FactorVAEScore:
    """The FactorVAE metric and its parts.

    Attributes:
        train_accuracy: the majority-vote classifier's accuracy on the votes it was built from
            (the number Kim & Mnih report).
        eval_accuracy: its accuracy on a fresh, independent set of votes.
        votes: the training votes, ``votes[j, k]`` the number of votes (k, j), shape ``(d, K)``.
        active: for each coordinate, whether it was kept (its standard deviation over the data
            is at least the threshold).
    """

    train_accuracy: float
    eval_accuracy: float
    votes: torch.Tensor
    active: tuple[bool, ...]


def _factor_vae_votes(
    normalised: torch.Tensor,
    groups: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    n_votes: int,
    batch_size: int,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_votes`` votes (factor k, coordinate j*) as two int64 tensors of shape ``(n_votes,)``."""
    factors = torch.randint(len(groups), (n_votes,), generator=generator)
    coordinates = torch.empty(n_votes, dtype=torch.int64)
    for k, (order, starts, counts) in enumerate(groups):
        rows = (factors == k).nonzero().squeeze(1)
        if rows.numel() == 0:
            continue
        value = torch.randint(len(counts), (rows.numel(),), generator=generator)
        uniform = torch.rand(rows.numel(), batch_size, generator=generator, dtype=torch.float64)
        offsets = (uniform * counts[value, None]).long().clamp(max=counts[value, None] - 1)
        members = order[starts[value, None] + offsets]  # (votes, L) examples with v_k = u
        coordinates[rows] = normalised[members].var(dim=1, correction=0).argmin(dim=1)
    return factors, coordinates


@torch.no_grad()
def factor_vae_score(
    codes: torch.Tensor,
    factor_indices: torch.Tensor,
    *,
    batch_size: int = 64,
    n_train: int = 2000,
    n_eval: int = 1000,
    active_threshold: float = 0.05,
    generator: torch.Generator | None = None,
) -> FactorVAEScore:
    """The FactorVAE disentanglement metric (Kim & Mnih 2018), train and held-out accuracy.

    With c_n the code of example n and s_j = std_n c_nj, each vote fixes a factor k at a value
    u, draws L = ``batch_size`` examples with v_k = u and votes for
    j* = argmin_j Var_L[c_nj / s_j] among the active coordinates (s_j > 0 and
    s_j ≥ ``active_threshold``).
    The classifier maps coordinate j to argmax_k votes[j, k] (the smallest k on ties, also for a
    coordinate without votes); its accuracy is Σ_j max_k votes[j, k] / ``n_train`` on the
    training votes and the fraction of ``n_eval`` fresh votes it classifies correctly.

    Args:
        codes: the representation of each example (for a VAE the encoder means), shape
            ``(N, d)``.
        factor_indices: each example's factor values as integers, shape ``(N, K)``; every
            factor takes at least two values.
        batch_size: L, the examples per vote, ≥ 2.
        n_train: the votes that build the classifier, ≥ 1.
        n_eval: the fresh votes it is scored on, ≥ 1.
        active_threshold: the smallest standard deviation s_j of a kept coordinate, ≥ 0.
        generator: a ``torch.Generator``, or None for torch's global one.

    Returns:
        The :class:`FactorVAEScore`.

    Raises:
        ValueError: a bad argument, a constant factor, or no coordinate above the threshold.
    """
    check_tensor(codes, "codes", ndim=2)
    n, d = codes.shape
    factor_indices = _check_factor_indices(factor_indices, n)
    batch_size = check_int(batch_size, "batch_size", minimum=2)
    n_train = check_int(n_train, "n_train")
    n_eval = check_int(n_eval, "n_eval")
    active_threshold = check_nonnegative(active_threshold, "active_threshold")
    check_generator(generator)
    groups = []
    for k in range(factor_indices.shape[1]):
        values, counts = torch.unique(factor_indices[:, k], return_counts=True)
        if values.numel() < 2:
            raise ValueError(f"every factor must take at least two values; factor {k} is constant")
        order = torch.argsort(factor_indices[:, k], stable=True)
        starts = torch.cumsum(counts, dim=0) - counts
        groups.append((order, starts, counts))
    codes = codes.double()
    spread = codes.std(dim=0, correction=0)
    active = (spread >= active_threshold) & (spread > 0)
    if not bool(active.any()):
        raise ValueError(
            "no coordinate of the code varies over the data with a standard deviation >= "
            f"active_threshold = {active_threshold}"
        )
    normalised = codes[:, active] / spread[active]
    coordinate_of = active.nonzero().squeeze(1)  # active column → coordinate of the code
    n_factors = factor_indices.shape[1]

    train_factors, train_columns = _factor_vae_votes(
        normalised, groups, n_train, batch_size, generator
    )
    votes = torch.zeros(d, n_factors, dtype=torch.int64)
    votes.index_put_(
        (coordinate_of[train_columns], train_factors),
        torch.ones(n_train, dtype=torch.int64),
        accumulate=True,
    )
    classifier = votes.argmax(dim=1)  # first maximum on ties
    eval_factors, eval_columns = _factor_vae_votes(
        normalised, groups, n_eval, batch_size, generator
    )
    eval_correct = classifier[coordinate_of[eval_columns]] == eval_factors
    return FactorVAEScore(
        train_accuracy=float(votes.max(dim=1).values.sum()) / n_train,
        eval_accuracy=float(eval_correct.double().mean()),
        votes=votes,
        active=tuple(bool(a) for a in active),
    )


@torch.no_grad()
def latent_traversals(model: VAE, anchor: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Decoder means E[x | z] for z = anchor with coordinate j replaced by each of ``values``.

    Args:
        model: the :class:`~elbo_book.models.VAE`.
        anchor: the starting latent point, shape ``(d,)``.
        values: the values each coordinate takes in turn, shape ``(V,)``.

    Returns:
        A tensor of shape ``(d, V, data_dim)``, whose row j is the traversal of latent axis j.

    Raises:
        ValueError: another model, or malformed tensors.
    """
    if not isinstance(model, VAE):
        raise ValueError(f"model must be an elbo_book VAE, got {type(model).__name__}")
    check_tensor(anchor, "anchor", ndim=1, last_dim=model.latent_dim)
    check_tensor(values, "values", ndim=1)
    d, count = anchor.shape[0], values.shape[0]
    z = anchor.expand(d, count, d).clone()
    for j in range(d):
        z[j, :, j] = values
    return model.decode(z).mean
