"""Training objectives that penalise the total correlation: β-TCVAE (Chen et al. 2018) and
FactorVAE (Kim & Mnih 2018).

Setting as :mod:`elbo_book.total_correlation`: a data set of N points, a diagonal-Gaussian
encoder q(z|n), the aggregate posterior q(z) = (1/N) Σ_n q(z|n) and the prior p(z) = N(0, I).
The KL term of the ELBO, averaged over the data, splits into the index-code mutual information,
the total correlation and the dimension-wise KL, 𝔼_n KL(q(z|n) ‖ p(z)) = 𝕀(n; z) + TC + DWKL.
β-TCVAE keeps the first and last with weight 1 and multiplies the total correlation by a weight
β_TC, so that per minibatch it minimises

    loss = −mean_i log p(x_i | z_i) + 𝕀̂(n; z) + β_TC · TĈ + DWKL̂,     z_i ~ q(z | x_i),

with the three estimates of :func:`elbo_book.total_correlation.minibatch_kl_terms`.  At β_TC = 1
the three add up to mean_i [log q(z_i|x_i) − log p(z_i)] for any weights, so the loss is the
one-sample negative ELBO.  The estimates use a (B, B) weight matrix from
:func:`elbo_book.surgery.minibatch_weights`; the default is the equal off-diagonal weights
w_ii = 1/N, w_ik = (N − 1)/(N (B − 1)), which are unbiased for q(z), and exact when the batch is
the whole data set (B = N), unlike Chen et al.'s stratified weights.

FactorVAE estimates the total correlation with a classifier instead (the density-ratio trick).
A discriminator D(z) ∈ (0, 1) is trained to tell draws of q(z) (the batch's z_i) from draws of
the product of its marginals q̄(z) = Π_j q(z_j) (the batch with each coordinate permuted across
rows, :func:`permute_dimensions`).  At its optimum D*(z) = q(z) / (q(z) + q̄(z)), so
logit D*(z) = log q(z)/q̄(z), whose mean under q(z) is the total correlation KL(q(z) ‖ q̄(z)).
The VAE minimises the negative ELBO plus γ times that estimate,

    loss = −mean_i [log p(x_i | z_i) − KL(q(z | x_i) ‖ p(z))] + γ · mean_i logit D(z_i),

which, unlike β-TCVAE, keeps the whole ELBO (the index-code information and the dimension-wise
KL are not down-weighted or up-weighted) and adds the penalty on top.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.distributions import kl_divergence
from torch.nn import functional as F

from elbo_book.models import VAE, _mlp
from elbo_book.surgery import minibatch_weights
from elbo_book.total_correlation import minibatch_kl_terms
from elbo_book.validation import (
    check_choice,
    check_int,
    check_nonnegative,
    check_positive,
    check_seed,
    check_tensor,
)

__all__ = ["BetaTCVAE", "BetaTCVAETerms", "FactorVAE", "permute_dimensions"]


@dataclass(frozen=True)
class BetaTCVAETerms:
    """One minibatch's terms of the β-TCVAE loss (nats per example, 0-d tensors).

    Attributes:
        distortion: −mean_i log p(x_i | z_i).
        mutual_information: the estimate of 𝕀(n; z).
        total_correlation: the estimate of the total correlation of q(z).
        dimensionwise_kl: the estimate of Σ_j KL(q(z_j) ‖ p(z_j)).
    """

    distortion: torch.Tensor
    mutual_information: torch.Tensor
    total_correlation: torch.Tensor
    dimensionwise_kl: torch.Tensor


class BetaTCVAE:
    """The β-TCVAE objective (Chen et al. 2018) for ``elbo_book.training.fit``.

    ``loss`` = −mean log p(x|z) + 𝕀̂(n; z) + β_TC · TĈ + DWKL̂ on one minibatch (module
    docstring).  ``held_out`` is minus the same quantity on the rows it is given: as one batch
    when ``held_out_batch_size`` is None (with the whole data set and the equal weights, B = N,
    its three terms are then exact up to the one draw of z per example), or averaged over
    consecutive batches of that size (the estimator training minimises, at a cost of B² d per
    batch instead of N² d).  There is no auxiliary network.  Noise comes from torch's global
    RNG.

    Args:
        tc_weight: β_TC ≥ 0, the weight of the total correlation.
        dataset_size: N, the number of training examples (the weights need it).
        weights: ``"equal"`` (default) or ``"mss"`` (Chen et al.'s stratified weights).
        held_out_batch_size: the batch size of ``held_out`` (≥ 2), or None for one batch.

    Raises:
        ValueError: a bad argument.
    """

    def __init__(
        self,
        tc_weight: float,
        dataset_size: int,
        *,
        weights: Literal["equal", "mss"] = "equal",
        held_out_batch_size: int | None = None,
    ) -> None:
        self.tc_weight = check_nonnegative(tc_weight, "tc_weight")
        self.dataset_size = check_int(dataset_size, "dataset_size", minimum=2)
        self.weights: Literal["equal", "mss"] = check_choice(  # type: ignore[assignment]
            weights, "weights", ("equal", "mss")
        )
        self.held_out_batch_size = (
            None
            if held_out_batch_size is None
            else check_int(held_out_batch_size, "held_out_batch_size", minimum=2)
        )

    def __repr__(self) -> str:
        return (
            f"BetaTCVAE(tc_weight={self.tc_weight!r}, dataset_size={self.dataset_size!r}, "
            f"weights={self.weights!r}, held_out_batch_size={self.held_out_batch_size!r})"
        )

    def config(self) -> dict[str, Any]:
        """The parameters that define the objective (for cache keys and records).

        Returns:
            A dict with the keys ``tc_weight``, ``dataset_size``, ``weights`` and
            ``held_out_batch_size``.
        """
        return {
            "tc_weight": self.tc_weight,
            "dataset_size": self.dataset_size,
            "weights": self.weights,
            "held_out_batch_size": self.held_out_batch_size,
        }

    def terms(self, model: VAE, x: torch.Tensor) -> BetaTCVAETerms:
        """The four terms on the minibatch ``x``, one draw z_i ~ q(z|x_i) each; differentiable.

        Args:
            model: the :class:`~elbo_book.models.VAE`.
            x: the minibatch, shape ``(B, data_dim)`` with 2 ≤ B ≤ N.

        Returns:
            The :class:`BetaTCVAETerms`.

        Raises:
            ValueError: another model, or a malformed or wrongly sized batch.
        """
        if not isinstance(model, VAE):
            raise ValueError(f"model must be an elbo_book VAE, got {type(model).__name__}")
        check_tensor(x, "x", ndim=2, last_dim=model.data_dim)
        batch = x.shape[0]
        if not 2 <= batch <= self.dataset_size:
            raise ValueError(
                f"the minibatch estimators need 2 <= B <= N = {self.dataset_size} rows, got "
                f"B = {batch}"
            )
        q = model.encode(x)
        z = q.rsample()
        distortion = -model.likelihood(z).log_prob(x).mean()
        weights = minibatch_weights(batch, self.dataset_size, self.weights, dtype=z.dtype)
        parts = minibatch_kl_terms(z, q.base_dist.loc, q.base_dist.scale, weights)
        return BetaTCVAETerms(
            distortion=distortion,
            mutual_information=parts.mutual_information,
            total_correlation=parts.total_correlation,
            dimensionwise_kl=parts.dimensionwise_kl,
        )

    def loss(self, model: VAE, x: torch.Tensor) -> torch.Tensor:
        """The β-TCVAE loss of one minibatch: D + 𝕀̂ + β_TC · TĈ + DWKL̂ (to minimise).

        Args:
            model: the :class:`~elbo_book.models.VAE`.
            x: the minibatch, shape ``(B, data_dim)`` with 2 ≤ B ≤ N.

        Returns:
            A 0-d tensor with gradients.

        Raises:
            ValueError: as :meth:`terms`.
        """
        t = self.terms(model, x)
        return (
            t.distortion
            + t.mutual_information
            + self.tc_weight * t.total_correlation
            + t.dimensionwise_kl
        )

    def held_out(self, model: VAE, x: torch.Tensor) -> float:
        """Minus :meth:`loss` on ``x``, as one batch or averaged over batches (larger is better).

        With ``held_out_batch_size`` = b, ``x`` is split into consecutive batches of b rows (a
        last batch of one row joins the one before) and the losses are averaged with weights
        proportional to the batch sizes.

        Args:
            model: the :class:`~elbo_book.models.VAE`.
            x: the evaluation data, shape ``(M, data_dim)`` with 2 ≤ M, and M ≤ N for one batch.

        Returns:
            The value as a float.

        Raises:
            ValueError: as :meth:`terms`.
        """
        check_tensor(x, "x", ndim=2)
        size = x.shape[0] if self.held_out_batch_size is None else self.held_out_batch_size
        batches = list(x.split(size))
        if len(batches) > 1 and batches[-1].shape[0] == 1:
            batches[-2:] = [torch.cat(batches[-2:])]
        with torch.no_grad():
            total = sum(float(self.loss(model, b)) * b.shape[0] for b in batches)
        return -total / x.shape[0]


def permute_dimensions(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draws from the product of the batch's marginals: every column of ``z`` shuffled on its own.

    Row i of the result takes coordinate j from row π_j(i), with independent uniform
    permutations π_1, …, π_d (Kim & Mnih 2018, Algorithm 2).  Each column keeps its values, so
    every one-dimensional marginal of the batch is unchanged, while the dependence between
    coordinates is destroyed.

    Args:
        z: a batch of codes, shape ``(B, d)`` with B ≥ 2.
        generator: a ``torch.Generator`` for the permutations (None: torch's global one).

    Returns:
        A tensor of the shape, dtype and device of ``z`` (no gradient flows through the
        permutation indices; values keep their gradients).

    Raises:
        ValueError: ``z`` is not a finite floating tensor of shape (B ≥ 2, d).
    """
    check_tensor(z, "z", ndim=2)
    if z.shape[0] < 2:
        raise ValueError(f"z needs at least two rows to permute, got shape {tuple(z.shape)}")
    keys = torch.rand(z.shape, generator=generator, dtype=torch.float64, device="cpu")
    return z.gather(0, keys.argsort(dim=0).to(z.device))


class FactorVAE:
    """The FactorVAE objective (Kim & Mnih 2018) for ``elbo_book.training.fit``, with its
    discriminator.

    ``loss`` is the negative one-draw ELBO (analytic KL) plus γ times the discriminator's
    estimate of the total correlation, mean_i logit D(z_i) (module docstring).  **It has a side
    effect:** after computing the VAE's loss with the current discriminator, each call takes one
    Adam step on the discriminator (:meth:`discriminator_step`) with the same batch's z, detached,
    as Algorithm 1 of Kim & Mnih does with a second batch (disentanglement_lib permutes the same
    batch, as here).  The discriminator is an MLP with leaky-ReLU (slope 0.2) hidden layers and one
    output, the logit; its initial weights come from ``seed``, so two objectives with one config
    start alike.  ``held_out`` is minus the loss on the rows it is given, without a step.

    One objective trains one model: ``loss`` refuses a second model, whose discriminator would
    start from another model's.  :meth:`state_dict` and :meth:`load_state_dict` save and restore
    the discriminator with its optimiser and step count, so
    :func:`elbo_book.training.cached_fit` stores it with the model and a cache hit gives the
    trained discriminator too.  Noise (z and the permutations) comes from torch's global RNG,
    which ``fit`` seeds.

    Args:
        tc_weight: γ ≥ 0, the weight of the total-correlation penalty (γ = 0: the VAE).
        latent_dim: d, the dimension of the codes the discriminator reads.
        hidden: the widths of the discriminator's hidden layers, each ≥ 1.
        lr: the discriminator's Adam learning rate, > 0.
        betas: the discriminator's Adam (β1, β2), each in [0, 1) (Kim & Mnih: 0.5, 0.9).
        seed: seeds the discriminator's initial weights.

    Raises:
        ValueError: a bad argument.
    """

    def __init__(
        self,
        tc_weight: float,
        latent_dim: int,
        *,
        hidden: Sequence[int] = (256, 256),
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.9),
        seed: int = 0,
    ) -> None:
        self.tc_weight = check_nonnegative(tc_weight, "tc_weight")
        self.latent_dim = check_int(latent_dim, "latent_dim")
        if isinstance(hidden, str | bytes) or not isinstance(hidden, Sequence) or not hidden:
            raise ValueError(f"hidden must be a non-empty sequence of widths, got {hidden!r}")
        self.hidden = tuple(check_int(width, "hidden width") for width in hidden)
        self.lr = check_positive(lr, "lr")
        if not (
            isinstance(betas, tuple)
            and len(betas) == 2
            and all(not isinstance(b, bool) and isinstance(b, int | float) for b in betas)
            and all(0 <= b < 1 for b in betas)
        ):
            raise ValueError(f"betas must be a pair of numbers in [0, 1), got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.seed = check_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            #: The discriminator, an MLP from codes ``(B, d)`` to logits ``(B, 1)``.
            self.discriminator = _mlp([self.latent_dim, *self.hidden, 1], lambda: nn.LeakyReLU(0.2))
        self._optimizer = torch.optim.Adam(
            self.discriminator.parameters(), lr=self.lr, betas=self.betas
        )
        #: The number of steps the discriminator has taken.
        self.discriminator_steps = 0
        self._model: weakref.ReferenceType[VAE] | None = None

    def __repr__(self) -> str:
        return (
            f"FactorVAE(tc_weight={self.tc_weight!r}, latent_dim={self.latent_dim!r}, "
            f"hidden={self.hidden!r}, lr={self.lr!r}, betas={self.betas!r}, seed={self.seed!r})"
        )

    def config(self) -> dict[str, Any]:
        """The parameters that define the objective and its discriminator (for cache keys).

        Returns:
            A dict with the keys ``tc_weight``, ``latent_dim``, ``hidden``, ``lr``, ``betas`` and
            ``seed``.
        """
        return {
            "tc_weight": self.tc_weight,
            "latent_dim": self.latent_dim,
            "hidden": list(self.hidden),
            "lr": self.lr,
            "betas": list(self.betas),
            "seed": self.seed,
        }

    def state_dict(self) -> dict[str, Any]:
        """The trained state: the discriminator's weights, its optimiser's state, its steps.

        Returns:
            A dict with the keys ``discriminator``, ``optimizer`` and ``discriminator_steps``
            (tensors are references, as ``torch.nn.Module.state_dict`` gives them).
        """
        return {
            "discriminator": self.discriminator.state_dict(),
            "optimizer": self._optimizer.state_dict(),
            "discriminator_steps": self.discriminator_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a :meth:`state_dict` of an objective with the same :meth:`config`.

        Args:
            state: as :meth:`state_dict` returns it.

        All or nothing: when ``state`` does not fit, the objective keeps its own state (torch's
        ``Module.load_state_dict`` copies the tensors that fit before it reports the ones that do
        not, so the earlier state is restored).

        Raises:
            ValueError: ``state`` lacks a key, has a negative step count, or does not fit this
                discriminator's shapes or its optimiser.
        """
        keys = {"discriminator", "optimizer", "discriminator_steps"}
        if not isinstance(state, dict) or set(state) != keys:
            raise ValueError(f"state must be a dict with the keys {sorted(keys)}")
        steps = state["discriminator_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"discriminator_steps must be an int >= 0, got {steps!r}")
        before = copy.deepcopy(self.state_dict())
        try:
            self.discriminator.load_state_dict(state["discriminator"])
            # a deep copy: Adam would otherwise share its moment tensors with ``state``'s owner
            self._optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        except (RuntimeError, KeyError, TypeError, ValueError) as error:
            self.discriminator.load_state_dict(before["discriminator"])
            self._optimizer.load_state_dict(before["optimizer"])
            raise ValueError(f"state does not fit this discriminator: {error}") from error
        self.discriminator_steps = steps

    def _check_codes(self, z: torch.Tensor) -> torch.Tensor:
        check_tensor(z, "z", ndim=2, last_dim=self.latent_dim)
        if z.shape[0] < 2:
            raise ValueError(f"z needs at least two rows, got shape {tuple(z.shape)}")
        self.discriminator.to(z.device, z.dtype)
        return z

    def total_correlation_estimate(self, z: torch.Tensor) -> float:
        """The discriminator's estimate of the total correlation, mean_i logit D(z_i).

        Only as good as the discriminator: it estimates KL(q(z) ‖ q̄(z)) when D is near its
        optimum for the distribution ``z`` was drawn from.

        Args:
            z: draws of q(z), shape ``(B, d)`` with B ≥ 2.

        Returns:
            The estimate in nats.

        Raises:
            ValueError: malformed ``z``, or a discriminator that has taken no step.
        """
        z = self._check_codes(z)
        if self.discriminator_steps == 0:
            raise ValueError("the discriminator is untrained: it has taken no step")
        with torch.no_grad():
            return float(self.discriminator(z).mean())

    def discriminator_step(self, z: torch.Tensor) -> float:
        """One Adam step of the discriminator on the batch ``z`` (detached) against its
        coordinate-wise permutation.

        Minimises the binary cross-entropy −½ [mean_i log D(z_i) + mean_i log(1 − D(z̃_i))] with
        z̃ = :func:`permute_dimensions` (z) (global RNG).

        Args:
            z: draws of q(z), shape ``(B, d)`` with B ≥ 2.

        Returns:
            The cross-entropy before the step, in nats.

        Raises:
            ValueError: malformed ``z``.
        """
        z = self._check_codes(z).detach()
        permuted = permute_dimensions(z)
        logits = self.discriminator(torch.cat([z, permuted])).squeeze(-1)
        labels = torch.cat([torch.ones(z.shape[0]), torch.zeros(z.shape[0])]).to(logits)
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer.step()
        self.discriminator_steps += 1
        return float(loss.detach())

    def _negative_objective(self, model: VAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(model, VAE):
            raise ValueError(f"model must be an elbo_book VAE, got {type(model).__name__}")
        check_tensor(x, "x", ndim=2, last_dim=model.data_dim)
        if model.latent_dim != self.latent_dim:
            raise ValueError(
                f"the discriminator reads codes of dimension {self.latent_dim}, the model's "
                f"are {model.latent_dim}"
            )
        q = model.encode(x)
        z = q.rsample()
        self._check_codes(z)
        negative_elbo = (kl_divergence(q, model.prior()) - model.likelihood(z).log_prob(x)).mean()
        # The penalty reads a detached copy of the discriminator's weights: its gradient reaches
        # the encoder only, and the discriminator's step in ``loss`` (which changes the weights
        # in place) cannot invalidate the graph that ``backward()`` of this loss still needs.
        frozen = {name: t.detach().clone() for name, t in self.discriminator.named_parameters()}
        penalty = torch.func.functional_call(self.discriminator, frozen, (z,)).mean()
        return negative_elbo + self.tc_weight * penalty, z

    def loss(self, model: VAE, x: torch.Tensor) -> torch.Tensor:
        """−ELBO + γ · mean logit D(z) on the minibatch ``x``, then one discriminator step.

        Args:
            model: the :class:`~elbo_book.models.VAE` being trained (always the same one).
            x: the minibatch, shape ``(B, data_dim)`` with B ≥ 2.

        Returns:
            A 0-d tensor with gradients for the model (none for the discriminator).

        Raises:
            ValueError: another model than the first one, a model whose latent dimension is not
                ``latent_dim``, or a malformed batch.
        """
        if self._model is None:
            self._model = weakref.ref(model)
        elif self._model() is not model:
            raise ValueError(
                "this FactorVAE objective's discriminator was trained with another model; "
                "make one objective per model"
            )
        loss, z = self._negative_objective(model, x)
        self.discriminator_step(z)
        return loss

    def held_out(self, model: VAE, x: torch.Tensor) -> float:
        """Minus :meth:`loss` on ``x`` (one batch, no discriminator step), larger is better.

        Args:
            model: the :class:`~elbo_book.models.VAE`.
            x: the evaluation data, shape ``(M, data_dim)`` with M ≥ 2.

        Returns:
            The value as a float.

        Raises:
            ValueError: as :meth:`loss`.
        """
        with torch.no_grad():
            loss, _ = self._negative_objective(model, x)
        return -float(loss)
