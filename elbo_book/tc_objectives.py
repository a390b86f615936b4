"""Training objectives that penalise the total correlation: β-TCVAE (Chen et al. 2018).

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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from elbo_book.models import VAE
from elbo_book.surgery import minibatch_weights
from elbo_book.total_correlation import minibatch_kl_terms
from elbo_book.validation import check_choice, check_int, check_nonnegative, check_tensor

__all__ = ["BetaTCVAE", "BetaTCVAETerms"]


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
