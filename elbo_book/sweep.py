"""Training S independent VAEs of one architecture at once: the cost of a sweep, not of S runs.

A sweep trains models that share an architecture (one :class:`~elbo_book.models.VAEConfig`) but
not their numbers: each member s has its own seed (initial weights, reparameterisation noise,
minibatch order), its own KL weight β_s and warm-up, its own Adam state and its own
:class:`~elbo_book.training.History`.  Their weights are stacked along a leading model axis, so
that every linear layer of all S models is one batched matrix product,

    h_s = act(x_s W_s + b_s)   for s = 1, …, S   (``torch.baddbmm`` on (S, B, ·) tensors),

and one Adam optimiser over the stacked tensors updates every model with its own moments (Adam
is elementwise).  The loss is Σ_s L_s, with L_s = mean_n [β_s(t) KL_n − E_q log p(x_n|z)] the
loss :func:`elbo_book.training.fit` minimises for model s; since ∂(Σ_r L_r)/∂θ_s = ∂L_s/∂θ_s,
each model receives exactly its own gradient.  Every random draw comes from that model's own
generators, in the order ``fit`` makes it, so :func:`fit_batched` is the computation of S
separate ``fit`` runs: the tests compare every history and weight (bitwise with MKL's AVX-512
kernels; BLAS kernels that block a batched product differently from a single one leave float32
rounding differences, 10⁻⁷ relative after a few dozen steps).

A model whose loss becomes NaN/inf stops with its weights from before that step and a record
in its history (``stop_reason="non-finite"``); a model whose held-out ELBO has converged
(:class:`~elbo_book.stopping.Convergence`) stops too; the others go on, in a smaller batch.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
from torch import nn
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence
from torch.nn import functional as F
from torch.optim.adam import adam as adam_update
from tqdm import tqdm

from elbo_book.experiment_cache import ExperimentCache, tensor_digest
from elbo_book.models import MIN_DECODER_SCALE, VAE, VAEConfig, _gaussian_from_logvar
from elbo_book.standard_normal import StandardNormal
from elbo_book.stopping import Convergence
from elbo_book.training import History, NonFiniteLossError, adam, default_device
from elbo_book.validation import check_int, check_nonnegative, check_positive

__all__ = ["Member", "SweepRun", "fit_batched", "grid", "init_models", "train_sweep"]

_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "softplus": F.softplus}


@dataclass(frozen=True)
class Member:
    """One model of a sweep and its per-model settings.

    Args:
        seed: seeds the initial weights (:func:`init_models`), the reparameterisation noise and
            the minibatch order, as ``fit(..., seed=seed)`` after ``torch.manual_seed(seed)``.
        beta: the KL weight β ≥ 0 of the β-objective (1 is the ELBO).
        kl_warmup_epochs: epochs over which the KL weight ramps linearly from 0 to β.

    Raises:
        ValueError: a negative or non-int seed or warm-up, or a negative or non-finite β.
    """

    seed: int
    beta: float = 1.0
    kl_warmup_epochs: int = 0

    def __post_init__(self) -> None:
        check_int(self.seed, "seed", minimum=0)
        object.__setattr__(self, "beta", check_nonnegative(self.beta, "beta"))
        check_int(self.kl_warmup_epochs, "kl_warmup_epochs", minimum=0)

    def to_dict(self) -> dict[str, Any]:
        """The member as plain data (for cache keys and checkpoint metadata)."""
        return asdict(self)


def grid(
    *,
    seeds: Sequence[int],
    betas: Sequence[float] = (1.0,),
    kl_warmup_epochs: Sequence[int] = (0,),
) -> list[Member]:
    """All members of the grid seeds × betas × kl_warmup_epochs, in that nesting order
    (the seed varies slowest).

    Args:
        seeds: one or more seeds.
        betas: one or more KL weights.
        kl_warmup_epochs: one or more warm-up lengths.

    Returns:
        ``len(seeds) · len(betas) · len(kl_warmup_epochs)`` members.

    Raises:
        ValueError: an empty axis (an empty grid), a repeated member or an invalid value.
    """
    axes = {"seeds": seeds, "betas": betas, "kl_warmup_epochs": kl_warmup_epochs}
    for name, values in axes.items():
        if len(values) == 0:
            raise ValueError(f"empty grid: {name} has no values")
    members = [
        Member(seed=s, beta=b, kl_warmup_epochs=w)
        for s, b, w in itertools.product(seeds, betas, kl_warmup_epochs)
    ]
    if len(set(members)) != len(members):
        raise ValueError(
            "the grid repeats a member: its seeds, betas and warm-ups must be distinct"
        )
    return members


def init_models(config: VAEConfig, members: Sequence[Member]) -> list[VAE]:
    """One VAE per member, initialised under ``torch.manual_seed(member.seed)``.

    Args:
        config: the shared architecture.
        members: the sweep's members.

    Returns:
        untrained models, in the order of ``members``.
    """
    models = []
    for member in members:
        torch.manual_seed(member.seed)
        models.append(VAE.from_config(config))
    return models


def _linears(sequential: nn.Module) -> list[nn.Linear]:
    return [layer for layer in sequential.modules() if isinstance(layer, nn.Linear)]


class _Stack:
    """The weights of the active models stacked on a leading axis, and their forward pass.

    ``weights[i]`` is (A, n_in, n_out) — nn.Linear's weight transposed, so that a layer is
    ``baddbmm(bias, x, weight)`` — and ``biases[i]`` is (A, 1, n_out), encoder layers first,
    then decoder layers; ``raw_scale`` is the learned Gaussian decoder scale (A, D) or None.
    """

    def __init__(self, models: Sequence[VAE], device: torch.device) -> None:
        config = models[0].config
        self.config = config
        self.n_encoder = len(_linears(models[0].encoder))
        layers = [_linears(m.encoder) + _linears(m.decoder) for m in models]
        self.weights = [
            torch.stack([m[i].weight.detach().t() for m in layers]).to(device).contiguous()
            for i in range(len(layers[0]))
        ]
        self.biases = [
            torch.stack([m[i].bias.detach() for m in layers]).unsqueeze(1).to(device)
            for i in range(len(layers[0]))
        ]
        self.raw_scale: torch.Tensor | None = None
        if models[0].decoder_raw_scale is not None:
            self.raw_scale = torch.stack(
                [m.decoder_raw_scale.detach() for m in models if m.decoder_raw_scale is not None]
            ).to(device)
        for tensor in self.parameters():
            tensor.requires_grad_(True)
        self.prior = StandardNormal(
            config.latent_dim, dtype=self.weights[0].dtype, device=self.weights[0].device
        )

    def parameters(self) -> list[torch.Tensor]:
        scale = [] if self.raw_scale is None else [self.raw_scale]
        return [*self.weights, *self.biases, *scale]

    def _mlp(self, x: torch.Tensor, layers: range) -> torch.Tensor:
        act = _ACTIVATIONS[self.config.activation]
        for i in layers:
            x = torch.baddbmm(self.biases[i], x, self.weights[i])
            if i != layers[-1]:
                x = act(x)
        return x

    def terms(self, x: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example E_q[log p(x|z)] and KL(q ‖ p) of every active model, shape (A, B).

        ``x`` is (A, B, D) and ``noise`` the standard normal draws ε of shape (A, B, L), or
        (A, n, B, L) for n > 1 samples averaged as ``fit`` averages them.
        """
        encoded = self._mlp(x, range(self.n_encoder))
        loc, logvar = encoded.chunk(2, dim=-1)
        q = _gaussian_from_logvar(loc, logvar)
        base = q.base_dist
        single = noise.dim() == 3
        if single:
            z = base.loc + noise * base.scale  # Normal.rsample's arithmetic
        else:
            z = base.loc.unsqueeze(1) + noise * base.scale.unsqueeze(1)
        n_models, n_draws = z.shape[0], 1 if single else z.shape[1]
        flat = z.reshape(n_models, -1, z.shape[-1])
        out = self._mlp(flat, range(self.n_encoder, len(self.weights)))
        out = out.reshape(*z.shape[:-1], out.shape[-1])
        target = x if single else x.unsqueeze(1)
        if self.config.likelihood == "bernoulli":
            likelihood: Independent = Independent(Bernoulli(logits=out, validate_args=False), 1)
        else:
            if self.raw_scale is not None:
                scale = F.softplus(self.raw_scale) + MIN_DECODER_SCALE
                scale = scale.reshape(n_models, *([1] * (out.dim() - 2)), out.shape[-1])
            else:
                scale = torch.full(
                    (out.shape[-1],), float(cast(float, self.config.decoder_scale)), dtype=out.dtype
                ).to(out.device)
            likelihood = Independent(Normal(out, scale, validate_args=False), 1)
        reconstruction = likelihood.log_prob(target)
        if n_draws > 1:
            reconstruction = reconstruction.mean(dim=1)
        return reconstruction, kl_divergence(q, self.prior)

    def keep(self, rows: list[int]) -> None:
        """Drop every model not in ``rows`` (positions in the stack, in order)."""
        index = torch.tensor(rows, device=self.weights[0].device)
        kept = [p.detach().index_select(0, index).requires_grad_(True) for p in self.parameters()]
        k = len(self.weights)
        self.weights, self.biases = kept[:k], kept[k : 2 * k]
        self.raw_scale = kept[2 * k] if self.raw_scale is not None else None

    def export(self, row: int, model: VAE) -> None:
        """Copy model ``row``'s current weights into ``model`` (in place)."""
        layers = _linears(model.encoder) + _linears(model.decoder)
        with torch.no_grad():
            for layer, weight, bias in zip(layers, self.weights, self.biases, strict=True):
                layer.weight.copy_(weight[row].t())
                layer.bias.copy_(bias[row, 0])
            if self.raw_scale is not None and model.decoder_raw_scale is not None:
                model.decoder_raw_scale.copy_(self.raw_scale[row])


class _BatchedAdam:
    """Adam over the stacked parameters: every model gets exactly the update of its own ``fit``.

    ``fit`` trains with :func:`elbo_book.training.adam`, PyTorch's fused Adam on the CPU and on
    CUDA.  Its kernel is elementwise, so one call updates a stack of S models as S optimisers
    would, with one exception this class works around: a tensor's last ``numel mod w``
    elements (w the SIMD width) take a scalar code path whose rounding can differ in the last
    place from the vectorised one.  A stacked tensor whose per-model size is a multiple of
    :attr:`ALIGNED` (a multiple of every SIMD width) is passed whole; any other, such as a
    12-element bias, is passed as S per-model views, so each model's elements take the paths
    they take in its own ``fit``.  Where ``adam`` is not fused the update is
    ``torch.optim.adam.adam``'s default on the same views.
    """

    ALIGNED = 64
    BETAS = (0.9, 0.999)
    EPS = 1e-8

    def __init__(self, params: list[torch.Tensor], lr: float) -> None:
        self.lr = lr
        self.fused = adam(params, lr).defaults["fused"]
        self._set(
            params,
            [torch.zeros_like(p) for p in params],
            [torch.zeros_like(p) for p in params],
            0,
        )

    def _set(
        self,
        params: list[torch.Tensor],
        exp_avgs: list[torch.Tensor],
        exp_avg_sqs: list[torch.Tensor],
        steps: int,
    ) -> None:
        self.params, self.exp_avgs, self.exp_avg_sqs = params, exp_avgs, exp_avg_sqs
        self.moment_views = (
            [self._views(m) for m in exp_avgs],
            [self._views(v) for v in exp_avg_sqs],
        )
        count = sum(len(views) for views in self.moment_views[0])
        self.steps = [torch.tensor(float(steps)) for _ in range(count)]

    def _views(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        whole = tensor[0].numel() % self.ALIGNED == 0
        return [tensor] if whole else list(tensor.unbind(0))

    def step(self) -> None:
        """One Adam step on every parameter (gradients must be set; they are cleared)."""
        params: list[torch.Tensor] = []
        grads: list[torch.Tensor] = []
        for p in self.params:
            if p.grad is None:
                raise RuntimeError("a stacked parameter has no gradient")
            params.extend(self._views(p.detach()))
            grads.extend(self._views(p.grad))
        beta1, beta2 = self.BETAS
        adam_update(
            params,
            grads,
            [m for views in self.moment_views[0] for m in views],
            [v for views in self.moment_views[1] for v in views],
            [],
            self.steps,
            fused=self.fused,
            amsgrad=False,
            beta1=beta1,
            beta2=beta2,
            lr=self.lr,
            weight_decay=0.0,
            eps=self.EPS,
            maximize=False,
        )
        for p in self.params:
            p.grad = None

    def keep(self, rows: list[int], params: list[torch.Tensor]) -> None:
        """Keep the moments of the models in ``rows``; ``params`` are their new stacked tensors."""
        index = torch.tensor(rows, device=params[0].device)
        self._set(
            params,
            [m.index_select(0, index) for m in self.exp_avgs],
            [v.index_select(0, index) for v in self.exp_avg_sqs],
            int(self.steps[0].item()),
        )


def _check_models(models: Sequence[VAE]) -> VAEConfig:
    if len(models) == 0:
        raise ValueError("empty sweep: pass at least one model")
    for i, model in enumerate(models):
        if not isinstance(model, VAE):
            raise ValueError(f"models[{i}] must be an elbo_book VAE, got {type(model).__name__}")
    config = models[0].config
    for i, model in enumerate(models):
        if model.config != config:
            raise ValueError(
                f"a sweep trains one architecture: models[{i}] has {model.config}, "
                f"models[0] has {config}; train different architectures in separate sweeps"
            )
    return config


def _noise(
    generators: Sequence[torch.Generator], shape: tuple[int, ...], like: torch.Tensor
) -> torch.Tensor:
    """One standard normal draw of ``shape`` per generator, stacked: what ``fit``'s
    ``Normal.rsample`` draws from the global generator for each model."""
    return torch.stack(
        [
            torch.empty(shape, dtype=like.dtype, device=like.device).normal_(generator=g)
            for g in generators
        ]
    )


def fit_batched(
    models: Sequence[VAE],
    x_train: torch.Tensor,
    x_test: torch.Tensor | None = None,
    *,
    members: Sequence[Member],
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    n_samples: int = 1,
    stopping: Convergence | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> list[History]:
    """Train every model as ``fit(models[s], x_train, x_test, seed=, beta=, kl_warmup_epochs=``
    of ``members[s]``, ``epochs=…)`` would, all in one batched loop; models are trained in place.

    The shared settings (``epochs``, ``batch_size``, ``lr``, ``n_samples``, ``stopping``,
    ``device``) mean what they mean for :func:`~elbo_book.training.fit`.  Where ``fit`` raises
    :class:`~elbo_book.training.NonFiniteLossError`, the model concerned stops instead: it keeps
    the weights from before the failing step and its history says ``stop_reason="non-finite"``
    with the error's message in ``stop_note``; the others continue.

    Args:
        models: S ≥ 1 VAEs of one configuration (already initialised, e.g. by
            :func:`init_models`).
        x_train: training data (N, D), checked once as ``fit`` checks it.
        x_test: optional held-out data; evaluated after every epoch (needed by ``stopping``).
        members: S per-model settings, ``members[s]`` for ``models[s]``.
        epochs, batch_size, lr, n_samples, stopping, device, progress: as for ``fit``.

    Returns:
        one :class:`~elbo_book.training.History` per model, in order.

    Raises:
        ValueError: no models, models of different configurations, ``len(members) != S``, an
            invalid setting or invalid data.
    """
    config = _check_models(models)
    if len(members) != len(models):
        raise ValueError(f"need one member per model: {len(members)} members, {len(models)} models")
    epochs = check_int(epochs, "epochs")
    batch_size = check_int(batch_size, "batch_size")
    lr = check_positive(lr, "lr")
    n_samples = check_int(n_samples, "n_samples")
    models[0].check_data(x_train, "x_train")
    if x_test is not None:
        models[0].check_data(x_test, "x_test")
    if stopping is not None and x_test is None:
        raise ValueError("stopping needs a held-out set: pass x_test")
    device = torch.device(device) if device is not None else default_device()

    stack = _Stack(models, device)
    data = x_train.to(device)
    held_out = x_test.to(device) if x_test is not None else None
    optimizer = _BatchedAdam(stack.parameters(), lr)
    noise_generators = [torch.Generator(device).manual_seed(m.seed) for m in members]
    order_generators = [torch.Generator().manual_seed(m.seed) for m in members]
    steps_per_epoch = math.ceil(data.shape[0] / batch_size)
    histories = [History() for _ in models]
    active = list(range(len(models)))  # row r of the stack is model active[r]
    step = 0
    sums = torch.zeros(len(active), 3, dtype=torch.float64, device=device)

    def weight(s: int, at: int) -> float:  # fit's KL weight of model s at step ``at``
        warmup_steps = members[s].kl_warmup_epochs * steps_per_epoch
        return members[s].beta * min(1.0, at / warmup_steps) if warmup_steps else members[s].beta

    def drop(rows: list[int]) -> None:  # rows whose models stop (exported beforehand)
        nonlocal sums
        if not rows:
            return
        keep = [r for r in range(len(active)) if r not in rows]
        if keep:
            stack.keep(keep)
            optimizer.keep(keep, stack.parameters())
            sums = sums[keep]
        active[:] = [active[r] for r in keep]

    bar = tqdm(range(epochs), disable=not progress, desc=f"sweep of {len(models)}", unit="epoch")

    def epoch_mean_weight(s: int, end: int) -> float:  # as fit: the mean over the epoch's steps
        total = 0.0
        for at in range(end - steps_per_epoch, end):
            total += weight(s, at)
        return total / steps_per_epoch

    for _ in bar:
        orders = torch.stack(
            [torch.randperm(data.shape[0], generator=order_generators[s]) for s in active]
        ).to(device)
        sums = torch.zeros(len(active), 3, dtype=torch.float64, device=device)
        for start in range(0, data.shape[0], batch_size):
            index = orders[:, start : start + batch_size]
            batch = index.shape[1]
            shape = (
                (batch, config.latent_dim)
                if n_samples == 1
                else (n_samples, batch, config.latent_dim)
            )
            noise = _noise([noise_generators[s] for s in active], shape, data)
            reconstruction, kl = stack.terms(data[index], noise)
            kl_weight = torch.tensor([weight(s, step) for s in active], dtype=kl.dtype)
            loss = (kl_weight.to(device).unsqueeze(1) * kl - reconstruction).mean(dim=1)
            reconstruction, kl = reconstruction.detach().mean(dim=1), kl.detach().mean(dim=1)
            losses = loss.tolist()
            failed = [r for r, value in enumerate(losses) if not math.isfinite(value)]
            for r in failed:  # as fit, stop before the step touches the weights
                terms = {"loss": losses[r], "reconstruction": float(reconstruction[r])}
                terms["kl"] = float(kl[r])
                history = histories[active[r]]
                history.stop_reason = "non-finite"
                history.stop_note = str(NonFiniteLossError(step, terms))
                stack.export(r, models[active[r]])
            # Models are independent, so a failed model's NaNs stay in its own rows.
            loss.sum().backward()
            optimizer.step()
            sums += torch.stack([reconstruction - kl, reconstruction, kl], dim=1).double() * batch
            step += 1
            if failed:
                drop(failed)
                if not active:
                    break
                orders = orders[[r for r in range(orders.shape[0]) if r not in failed]]
        if not active:
            break
        train = (sums / data.shape[0]).tolist()
        for r, s in enumerate(active):
            history = histories[s]
            history.elbo.append(train[r][0])
            history.reconstruction.append(train[r][1])
            history.kl.append(train[r][2])
            history.kl_weight.append(epoch_mean_weight(s, step))
        if held_out is not None:
            test = _evaluate(stack, held_out, [noise_generators[s] for s in active], n_samples)
            for r, s in enumerate(active):
                histories[s].test_elbo.append(test[r][0])
                histories[s].test_reconstruction.append(test[r][1])
                histories[s].test_kl.append(test[r][2])
        if stopping is not None:
            converged = [
                r
                for r, s in enumerate(active)
                if stopping.converged(histories[s].test_objective(members[s].beta))
            ]
            for r in converged:
                history, beta = histories[active[r]], members[active[r]].beta
                history.stop_reason, history.converged_epoch = "converged", history.epochs
                history.stop_note = stopping.describe(history.test_objective(beta))
                stack.export(r, models[active[r]])
            drop(converged)
            if not active:
                break
        best = max(histories[s].elbo[-1] for s in active)
        bar.set_postfix(models=len(active), best_train_elbo=f"{best:.2f}")
    bar.close()
    for r, s in enumerate(active):
        histories[s].stop_reason = "epochs"
        if stopping is not None:
            histories[s].stop_note = stopping.describe(histories[s].test_objective(members[s].beta))
        stack.export(r, models[s])
    for model in models:
        model.to(device)
    return histories


@torch.no_grad()
def _evaluate(
    stack: _Stack,
    x: torch.Tensor,
    generators: Sequence[torch.Generator],
    n_samples: int,
    batch_size: int = 512,
) -> list[list[float]]:
    """Mean (ELBO, reconstruction, KL) per example over ``x`` for every active model, as
    :func:`elbo_book.training.evaluate` computes it (same chunks, same draws)."""
    totals = torch.zeros(len(generators), 3, dtype=torch.float64)
    for start in range(0, x.shape[0], batch_size):
        batch = x[start : start + batch_size]
        shape = (batch.shape[0], stack.config.latent_dim)
        noise = _noise(generators, shape if n_samples == 1 else (n_samples, *shape), batch)
        reconstruction, kl = stack.terms(batch.expand(len(generators), *batch.shape), noise)
        reconstruction, kl = reconstruction.sum(dim=1), kl.sum(dim=1)
        totals += torch.stack([reconstruction - kl, reconstruction, kl], dim=1).double().cpu()
    return (totals / x.shape[0]).tolist()


@dataclass
class SweepRun:
    """One finished member of :func:`train_sweep`: its model (CPU, eval mode), its history and
    whether it came from the cache."""

    member: Member
    model: VAE
    history: History
    cached: bool


def train_sweep(
    config: VAEConfig,
    members: Sequence[Member],
    x_train: torch.Tensor,
    x_test: torch.Tensor | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    n_samples: int = 1,
    stopping: Convergence | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    cache: ExperimentCache | None = None,
) -> list[SweepRun]:
    """Initialise one model per member (:func:`init_models`), train them with
    :func:`fit_batched`, and return the finished runs; with a ``cache``, runs already stored
    for the same configuration, member, settings, data and package source are loaded instead
    of trained, and new ones are stored.

    The cache is an optimisation only: a run is keyed so that retraining it would repeat it
    (see :mod:`elbo_book.experiment_cache`), and a member trains bit for bit the same whether
    its batch holds all members or only the ones missing from the cache (the tests check this).

    Args:
        config: the architecture shared by all members.
        members: the sweep (e.g. :func:`grid`); at least one.
        x_train, x_test, epochs, batch_size, lr, n_samples, stopping, device, progress: as for
            :func:`fit_batched`.
        cache: where finished runs are stored, or None for no caching.

    Returns:
        one :class:`SweepRun` per member, in order.

    Raises:
        ValueError: an empty sweep, repeated members, or anything :func:`fit_batched` rejects.
    """
    if len(members) == 0:
        raise ValueError("empty sweep: pass at least one member")
    if len(set(members)) != len(members):
        raise ValueError("the sweep repeats a member: each (seed, beta, warm-up) at most once")
    settings: dict[str, Any] = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "n_samples": n_samples,
        "stopping": None if stopping is None else stopping.to_dict(),
        "device": torch.device(device if device is not None else default_device()).type,
        "threads": torch.get_num_threads(),
    }
    data = {
        "x_train": tensor_digest(x_train),
        "x_test": None if x_test is None else tensor_digest(x_test),
    }
    keys = [
        ExperimentCache.key(
            kind="vae-sweep-run",
            config=config.to_dict(),
            member=member.to_dict(),
            settings=settings,
            data=data,
        )
        for member in members
    ]
    runs: dict[int, SweepRun] = {}
    if cache is not None:
        for i, (member, key) in enumerate(zip(members, keys, strict=True)):
            entry = cache.load(key)
            if entry is not None:
                model = VAE.from_config(config)
                model.load_state_dict(entry["state_dict"])
                runs[i] = SweepRun(member, model.eval(), History(**entry["history"]), True)
    todo = [i for i in range(len(members)) if i not in runs]
    if todo:
        models = init_models(config, [members[i] for i in todo])
        histories = fit_batched(
            models,
            x_train,
            x_test,
            members=[members[i] for i in todo],
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            n_samples=n_samples,
            stopping=stopping,
            device=device,
            progress=progress,
        )
        for i, model, history in zip(todo, models, histories, strict=True):
            model = model.cpu().eval()
            runs[i] = SweepRun(members[i], model, history, False)
            if cache is not None:
                cache.save(
                    keys[i],
                    {
                        "config": config.to_dict(),
                        "member": members[i].to_dict(),
                        "settings": settings,
                        "state_dict": {
                            k: v.detach().clone() for k, v in model.state_dict().items()
                        },
                        "history": asdict(history),
                    },
                )
    return [runs[i] for i in range(len(members))]
