"""Property-based bad-input suite over the public torch-side API.

For every public function and class, hypothesis starts from a valid call and replaces any
subset of its arguments by bad or unusual values (wrong types, truthy strings, NumPy and 0-d
tensor numbers, NaN/inf, negative or zero sizes, empty, 1-D and 3-D tensors, wrong dtypes,
tiny and huge scales, non-binary data for a Bernoulli decoder, ...).  Each call must either
raise one of the documented errors (``ValueError``, ``TypeError``, ``OSError``; training also
``NonFiniteLossError``) or return values that are all finite — never another exception, never
a silent NaN.  The last test checks how many cases were tried.
"""

from __future__ import annotations

import atexit
import dataclasses
import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.distributions import Categorical, Distribution

from elbo_book import (
    checkpoint,
    data,
    disentanglement,
    gaussian_kl,
    gradient_snr,
    gradients,
    importance,
    linear_vae,
    models,
    objectives,
    standard_normal,
    surgery,
    toy_models,
    training,
    validation,
)
from elbo_book.training import NonFiniteLossError

DOCUMENTED = (ValueError, TypeError, OSError)
EXAMPLES = 60
TRIED: dict[str, int] = {}

Factory = Callable[[], Any]


def _t(*shape: int, low: float = -1.0, high: float = 1.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(shape, generator=g)


def _binary(*shape: int) -> torch.Tensor:
    return (_t(*shape, low=0.0) > 0.5).float()


def _with(value: float, *shape: int) -> torch.Tensor:
    out = _t(*shape)
    out.view(-1)[0] = value
    return out


# Values that are wrong for (almost) any argument, and numbers in unusual containers.
GENERIC: dict[str, Factory] = {
    "None": lambda: None,
    "True": lambda: True,
    "'no'": lambda: "no",
    "[]": lambda: [],
    "object()": lambda: object(),
    "nan": lambda: math.nan,
    "inf": lambda: math.inf,
    "-1": lambda: -1,
    "0": lambda: 0,
    "0.5": lambda: 0.5,
    "np.int64(2)": lambda: np.int64(2),
    "np.float32(0.3)": lambda: np.float32(0.3),
    "tensor(2)": lambda: torch.tensor(2),
    "tensor(0.5)": lambda: torch.tensor(0.5),
    "tensor([1, 2])": lambda: torch.tensor([1, 2]),
}
TINY: dict[str, Factory] = {"1e-4": lambda: 1e-4, "1e-30": lambda: 1e-30}
SEEDS: dict[str, Factory] = {"2**63": lambda: 2**63, "2**64": lambda: 2**64, "-5": lambda: -5}


def tensor_variants(*shape: int, binary: bool = False) -> dict[str, Factory]:
    """Bad and unusual tensors for an argument whose valid value has ``shape``."""
    base = (lambda: _binary(*shape)) if binary else (lambda: _t(*shape))
    first = shape[0] if shape else 1
    return {
        "nan entry": lambda: _with(math.nan, *shape),
        "inf entry": lambda: _with(math.inf, *shape),
        "float64": lambda: base().double(),
        "int64": lambda: base().long(),
        "bool": lambda: base() > 0,
        "empty": lambda: torch.zeros(0, *shape[1:]),
        "1-D": lambda: base().reshape(-1),
        "3-D": lambda: base().reshape(1, *shape),
        "0-d": lambda: torch.tensor(0.5),
        "wrong last dim": lambda: _t(first, (shape[-1] if shape else 1) + 1),
        "huge": lambda: base() * 1e15,  # squares stay below float32's overflow (3.4e38)
        "tiny": lambda: base() * 1e-30 + 1e-30,
        "negative": lambda: -base().abs() - 1.0,
        "non-binary": lambda: _t(*shape, low=0.2, high=0.8),
        "requires_grad": lambda: base().requires_grad_(True),
        "numpy": lambda: base().numpy(),
        "list": lambda: base().tolist(),
    }


@dataclasses.dataclass
class Case:
    """A function, a valid call (argument factories) and per-argument bad values."""

    name: str
    function: Callable[..., Any]
    valid: dict[str, Factory]
    bad: dict[str, dict[str, Factory]]
    allow_nan: bool = False  # documented NaN results (SNR of constant coordinates)
    allow_neg_inf: bool = False  # documented -inf results (log of zero weights)
    extra_errors: tuple[type[BaseException], ...] = ()


def _vae(likelihood: str = "bernoulli") -> models.VAE:
    torch.manual_seed(0)
    return models.VAE(5, 2, (4,), likelihood=likelihood)  # type: ignore[arg-type]


def _optimizer_for(model: models.VAE) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=1e-3)


MODEL_BAD: dict[str, Factory] = {
    "Linear": lambda: torch.nn.Linear(5, 5),
    "gaussian VAE": lambda: _vae("gaussian"),
    "float64 VAE": lambda: _vae().double(),
    "wrong data_dim": lambda: models.VAE(6, 2, (4,)),
    "toy model": lambda: toy_models.ConjugateGaussian(5),
}


def _bad(shape: tuple[int, ...], binary: bool = False, **extra: Factory) -> dict[str, Factory]:
    return {**GENERIC, **tensor_variants(*shape, binary=binary), **extra}


def _numbers(**extra: Factory) -> dict[str, Factory]:
    return {**GENERIC, **extra}


LOC, SCALE = (lambda: _t(6, 2)), (lambda: _t(6, 2, low=0.1, high=1.0))
SCALE_BAD = _bad(
    (6, 2), tiny_scale=lambda: torch.full((6, 2), 1e-30), zero=lambda: torch.zeros(6, 2)
)
X = lambda: _binary(4, 5)  # noqa: E731
GEN = {"generator": lambda: torch.Generator().manual_seed(0)}
GEN_BAD = {"generator": _numbers(int_seed=lambda: 0, cuda=lambda: "cuda")}
CONJ = toy_models.ConjugateGaussian(3, 0.5)
CONJ_Q = lambda: models.diagonal_gaussian(_t(4, 1), _t(4, 1, low=0.2, high=1.0))  # noqa: E731

FILES = Path(tempfile.mkdtemp(prefix="elbo_book_bad_inputs_"))
atexit.register(shutil.rmtree, FILES, ignore_errors=True)


def _file(name: str, write: Callable[[Path], object]) -> Callable[[], Path]:
    path = FILES / name
    write(path)
    return lambda: path


ARRAY_FILES: dict[str, Factory] = {
    "missing": lambda: FILES / "missing.npy",
    "folder": lambda: FILES,
    "txt": _file("data.txt", lambda p: p.write_text("1,2\n")),
    "garbage npy": _file("garbage.npy", lambda p: p.write_bytes(b"\x93NUMPY garbage")),
    "1-D npy": _file("one_d.npy", lambda p: np.save(p, np.zeros(4))),
    "empty npy": _file("empty.npy", lambda p: np.save(p, np.zeros((0, 3)))),
    "nan npy": _file("nan.npy", lambda p: np.save(p, np.full((2, 3), np.nan))),
    "object npy": _file("obj.npy", lambda p: np.save(p, np.array([{}], dtype=object))),
    "string npy": _file("str.npy", lambda p: np.save(p, np.array([["a", "b"]]))),
    "two-array npz": _file("two.npz", lambda p: np.savez(p, a=np.zeros((2, 2)), b=np.ones(2))),
    "pickled pt": _file("obj.pt", lambda p: torch.save({"model": torch.nn.Linear(1, 1)}, p)),
    "list pt": _file("list.pt", lambda p: torch.save([1, 2], p)),
    "ragged csv": _file("ragged.csv", lambda p: p.write_text("1,2\n3\n")),
    "text csv": _file("text.csv", lambda p: p.write_text("a,b\nc,d\n")),
    "int": lambda: 3,
}
MNIST_FILES: dict[str, Factory] = {
    "more labels": _file(
        "labels.npz",
        lambda p: np.savez(
            p,
            x_train=np.zeros((3, 784), np.uint8),
            y_train=np.zeros(5, np.int64),
            x_test=np.zeros((2, 784), np.uint8),
            y_test=np.zeros(2, np.int64),
        ),
    ),
    "float labels": _file(
        "flabels.npz",
        lambda p: np.savez(
            p,
            x_train=np.zeros((3, 784), np.uint8),
            y_train=np.zeros(3),
            x_test=np.zeros((2, 784), np.uint8),
            y_test=np.zeros(2),
        ),
    ),
    "range": _file(
        "range.npz",
        lambda p: np.savez(
            p,
            x_train=np.full((3, 784), 2.0),
            y_train=np.zeros(3, np.int64),
            x_test=np.zeros((2, 784)),
            y_test=np.zeros(2, np.int64),
        ),
    ),
    "missing": lambda: FILES / "missing.npz",
    "folder": lambda: FILES,
}
GOOD_MNIST = _file(
    "mnist.npz",
    lambda p: np.savez(
        p,
        x_train=np.zeros((3, 28, 28), np.uint8),
        y_train=np.zeros(3, np.int64),
        x_test=np.zeros((2, 28, 28), np.uint8),
        y_test=np.zeros(2, np.int64),
    ),
)
SHAPES = data.make_shapes(image_size=8, sizes=(4, 6))


def _conjugate_outputs(data_dim: int, noise_scale: float, n: int) -> tuple[object, ...]:
    model = toy_models.ConjugateGaussian(data_dim, noise_scale)
    z, x = model.sample(n)
    return z, x, model.log_evidence(x), model.exact_posterior(x)


def _nan_vae() -> models.VAE:
    model = _vae()
    with torch.no_grad():
        model.encoder[0].weight[0, 0] = math.nan
    return model


CASES: list[Case] = [
    # data
    Case(
        "load_digits",
        data.load_digits,
        {"binarize": lambda: True, "test_fraction": lambda: 0.2, "seed": lambda: 0},
        {
            "binarize": _numbers(no=lambda: "no"),
            "test_fraction": _numbers(one=lambda: 1.0),
            "seed": _numbers(**SEEDS),
        },
    ),
    Case(
        "make_shapes",
        data.make_shapes,
        {"image_size": lambda: 8, "sizes": lambda: (4, 6)},
        {
            "image_size": _numbers(big=lambda: 4),
            "sizes": _numbers(
                odd=lambda: (5,), same=lambda: (4, 4), big=lambda: (30,), empty=lambda: ()
            ),
        },
    ),
    Case(
        "FactorDataset.index_of",
        SHAPES.index_of,
        {"factor_indices": lambda: SHAPES.factor_indices[:3]},
        {"factor_indices": _bad((3, 4), out_of_range=lambda: SHAPES.factor_indices[:3] + 10)},
    ),
    Case(
        "load_array_file",
        data.load_array_file,
        {"path": _file("good.npy", lambda p: np.save(p, np.eye(3, dtype=np.uint8)))},
        {"path": ARRAY_FILES},
    ),
    Case(
        "load_mnist_npz",
        data.load_mnist_npz,
        {"path": GOOD_MNIST, "binarize": lambda: False},
        {"path": MNIST_FILES, "binarize": _numbers()},
    ),
    # checkpoints
    Case(
        "save_checkpoint",
        checkpoint.save_checkpoint,
        {"model": _vae, "path": lambda: FILES / "save" / "m.pt", "metadata": lambda: {"seed": 1}},
        {
            "model": {**MODEL_BAD, "nan VAE": _nan_vae},
            "path": {"folder": lambda: FILES, "under a file": lambda: FILES / "data.txt" / "m.pt"},
            "metadata": _numbers(nested=lambda: {"a": {"b": 1}}, key=lambda: {1: 2}),
        },
    ),
    Case(
        "load_checkpoint",
        checkpoint.load_checkpoint,
        {"path": lambda: checkpoint.save_checkpoint(_vae(), FILES / "load" / "m.pt")},
        {"path": {**ARRAY_FILES, "mnist": GOOD_MNIST}},
    ),
    Case(
        "check_output_path",
        checkpoint.check_output_path,
        {"path": lambda: FILES / "out" / "m.pt", "overwrite": lambda: True},
        {
            "path": {"folder": lambda: FILES, "under a file": lambda: FILES / "data.txt" / "m"},
            "overwrite": _numbers(),
        },
    ),
    # validation
    Case(
        "reduce",
        validation.reduce,
        {"values": lambda: _t(4), "reduction": lambda: "mean"},
        {"reduction": _numbers(upper=lambda: "MEAN"), "values": {"empty": lambda: torch.zeros(0)}},
    ),
    # models
    Case(
        "diagonal_gaussian",
        models.diagonal_gaussian,
        {"loc": LOC, "scale": SCALE},
        {"loc": _bad((6, 2)), "scale": SCALE_BAD},
    ),
    Case(
        "diagonal_gaussian_from_logvar",
        models.diagonal_gaussian_from_logvar,
        {"loc": LOC, "logvar": lambda: _t(6, 2)},
        {"loc": _bad((6, 2)), "logvar": _bad((6, 2), big=lambda: torch.full((6, 2), 1e4))},
    ),
    Case(
        "VAE",
        models.VAE,
        {
            "data_dim": lambda: 5,
            "latent_dim": lambda: 2,
            "hidden": lambda: (4,),
            "likelihood": lambda: "gaussian",
            "decoder_scale": lambda: 0.1,
            "activation": lambda: "tanh",
        },
        {
            "data_dim": _numbers(),
            "latent_dim": _numbers(),
            "hidden": _numbers(
                int8=lambda: 8, str_=lambda: "8", zero=lambda: (0,), nested=lambda: ((4,),)
            ),
            "likelihood": _numbers(poisson=lambda: "poisson"),
            "decoder_scale": _numbers(
                tiny=lambda: 1e-30, learned=lambda: "learned", learnt=lambda: "learnt"
            ),
            "activation": _numbers(gelu=lambda: "gelu"),
        },
    ),
    Case(
        "VAE.encode",
        lambda model, x: model.encode(x),
        {"model": _vae, "x": X},
        {"x": _bad((4, 5), binary=True)},
    ),
    Case(
        "VAE.decode",
        lambda model, z: model.decode(z),
        {"model": _vae, "z": lambda: _t(4, 2)},
        {"z": _bad((4, 2))},
    ),
    Case(
        "VAE.sample",
        lambda model, n, generator: model.sample(n, generator),
        {"model": _vae, "n": lambda: 3, **GEN},
        {"n": _numbers(), **GEN_BAD},
    ),
    Case(
        "VAE.reconstruct",
        lambda model, x: model.reconstruct(x),
        {"model": _vae, "x": X},
        {"x": _bad((4, 5), binary=True)},
    ),
    Case("StandardNormal", standard_normal.StandardNormal, {"dim": lambda: 3}, {"dim": _numbers()}),
    # objectives
    *[
        Case(
            f"objectives.{fn.__name__}",
            fn,
            {"model": _vae, "x": X, "n_samples": lambda: 2, "reduction": lambda: "mean"},
            {
                "model": MODEL_BAD,
                "x": _bad((4, 5), binary=True),
                "n_samples": _numbers(),
                "reduction": _numbers(avg=lambda: "avg"),
            },
        )
        for fn in (objectives.elbo, objectives.rate, objectives.distortion)
    ],
    Case(
        "elbo_terms",
        objectives.elbo_terms,
        {"model": lambda: CONJ, "x": lambda: _t(4, 3), "q": CONJ_Q, "analytic_kl": lambda: True},
        {
            "x": _bad((4, 3)),
            "q": _numbers(
                categorical=lambda: Categorical(logits=torch.zeros(4, 2)),
                wrong_batch=lambda: models.diagonal_gaussian(_t(3, 1), _t(3, 1, low=0.2)),
            ),
            "analytic_kl": _numbers(no=lambda: "no"),
        },
    ),
    Case(
        "beta_elbo",
        objectives.beta_elbo,
        {"model": _vae, "x": X, "beta": lambda: 2.0},
        {"beta": _numbers(), "x": _bad((4, 5), binary=True)},
    ),
    # importance
    Case(
        "log_mean_exp",
        importance.log_mean_exp,
        {"values": lambda: _t(5, 3), "dim": lambda: 0},
        {
            "values": _bad((5, 3), minus_inf=lambda: torch.full((5, 3), -math.inf)),
            "dim": _numbers(two=lambda: 2, minus3=lambda: -3),
        },
        allow_neg_inf=True,
    ),
    *[
        Case(
            f"importance.{fn.__name__}",
            fn,
            {"model": _vae, "x": X, "n_samples": lambda: 3},
            {"model": MODEL_BAD, "x": _bad((4, 5), binary=True), "n_samples": _numbers()},
        )
        for fn in (
            importance.log_importance_weights,
            importance.iwae_bound,
            importance.log_evidence_estimate,
        )
    ],
    Case(
        "iwae_bound chunked",
        importance.iwae_bound,
        {"model": _vae, "x": X, "n_samples": lambda: 5, "chunk_size": lambda: 2},
        {"chunk_size": _numbers()},
    ),
    Case(
        "iwae_loss",
        importance.iwae_loss,
        {"model": _vae, "x": X, "n_samples": lambda: 3, "estimator": lambda: "dreg"},
        {
            "x": _bad((4, 5), binary=True),
            "n_samples": _numbers(),
            "estimator": _numbers(dreg_=lambda: "DReG"),
        },
    ),
    # training
    Case(
        "train_step",
        lambda model, x, kl_weight, n_samples: training.train_step(
            model,
            _optimizer_for(model) if isinstance(model, models.VAE) else None,  # type: ignore[arg-type]
            x,
            kl_weight=kl_weight,
            n_samples=n_samples,
        ),
        {"model": _vae, "x": X, "kl_weight": lambda: 0.5, "n_samples": lambda: 1},
        {
            "model": MODEL_BAD,
            "x": _bad((4, 5), binary=True),
            "kl_weight": _numbers(),
            "n_samples": _numbers(),
        },
        extra_errors=(NonFiniteLossError,),
    ),
    Case(
        "evaluate",
        training.evaluate,
        {"model": _vae, "x": X, "batch_size": lambda: 2, "n_samples": lambda: 1},
        {
            "model": MODEL_BAD,
            "x": _bad((4, 5), binary=True),
            "batch_size": _numbers(),
            "n_samples": _numbers(),
        },
    ),
    Case(
        "fit",
        training.fit,
        {
            "model": _vae,
            "x_train": X,
            "x_test": X,
            "epochs": lambda: 1,
            "batch_size": lambda: 2,
            "lr": lambda: 1e-3,
            "beta": lambda: 1.0,
            "kl_warmup_epochs": lambda: 0,
            "seed": lambda: 0,
            "device": lambda: "cpu",
            "progress": lambda: False,
        },
        {
            "model": MODEL_BAD,
            "x_train": _bad((4, 5), binary=True),
            "x_test": _bad((4, 5), binary=True),
            "epochs": _numbers(),
            "batch_size": _numbers(),
            "lr": _numbers(huge=lambda: 1e30),
            "beta": _numbers(),
            "kl_warmup_epochs": _numbers(),
            "seed": _numbers(**SEEDS),
            "device": _numbers(cuda=lambda: "cuda:7", bad=lambda: "gpu", meta=lambda: "meta"),
            "progress": _numbers(yes=lambda: "yes"),
        },
        extra_errors=(NonFiniteLossError,),
    ),
    Case(
        "resolve_device",
        training.resolve_device,
        {"device": lambda: "cpu"},
        {"device": _numbers(cuda=lambda: "cuda:9", bad=lambda: "gpu", meta=lambda: "meta")},
    ),
    Case(
        "History.from_dict",
        training.History.from_dict,
        {"data": lambda: training.History(elbo=[1.0]).to_dict()},
        {
            "data": _numbers(
                partial=lambda: {"elbo": [1.0]},
                strings=lambda: {**training.History().to_dict(), "elbo": ["x"]},
            )
        },
    ),
    # surgery
    Case(
        "log_aggregate_posterior",
        surgery.log_aggregate_posterior,
        {"z": lambda: _t(7, 2), "loc": LOC, "scale": SCALE, "chunk_size": lambda: 3},
        {"z": _bad((7, 2)), "loc": _bad((6, 2)), "scale": SCALE_BAD, "chunk_size": _numbers()},
    ),
    Case(
        "log_aggregate_marginals",
        surgery.log_aggregate_marginals,
        {"z": lambda: _t(7, 2), "loc": LOC, "scale": SCALE},
        {"z": _bad((7, 2)), "loc": _bad((6, 2)), "scale": SCALE_BAD},
    ),
    Case(
        "minibatch_weights",
        surgery.minibatch_weights,
        {"batch_size": lambda: 3, "dataset_size": lambda: 10, "method": lambda: "mss"},
        {
            "batch_size": _numbers(),
            "dataset_size": _numbers(two=lambda: 2),
            "method": _numbers(mws=lambda: "mws", x=lambda: "MSS"),
        },
    ),
    Case(
        "minibatch_log_aggregate_posterior",
        surgery.minibatch_log_aggregate_posterior,
        {
            "z": lambda: _t(6, 2),
            "loc": LOC,
            "scale": SCALE,
            "dataset_size": lambda: 20,
            "per_dimension": lambda: False,
        },
        {
            "z": _bad((6, 2)),
            "scale": SCALE_BAD,
            "dataset_size": _numbers(),
            "per_dimension": _numbers(no=lambda: "no"),
        },
    ),
    Case(
        "encode_gaussian",
        surgery.encode_gaussian,
        {"model": _vae, "x": X, "batch_size": lambda: 2},
        {"model": MODEL_BAD, "x": _bad((4, 5), binary=True), "batch_size": _numbers()},
    ),
    Case(
        "kl_decomposition",
        surgery.kl_decomposition,
        {"loc": LOC, "scale": SCALE, "n_samples": lambda: 2, **GEN},
        {"loc": _bad((6, 2)), "scale": SCALE_BAD, "n_samples": _numbers(), **GEN_BAD},
    ),
    Case(
        "surgery_terms",
        surgery.surgery_terms,
        {"model": _vae, "x": X, "n_samples": lambda: 2, **GEN},
        {
            "model": MODEL_BAD,
            "x": _bad((4, 5), binary=True, one=lambda: _binary(1, 5)),
            "n_samples": _numbers(),
            **GEN_BAD,
        },
    ),
    # linear VAE
    Case(
        "closed_form_optimum",
        linear_vae.closed_form_optimum,
        {"v": lambda: 2.0, "sigma2": lambda: 0.5, "beta": lambda: 1.0},
        {
            "v": _numbers(huge=lambda: 1e300),
            "sigma2": _numbers(tiny=lambda: 1e-300),
            "beta": _numbers(),
        },
    ),
    Case(
        "population_objective",
        linear_vae.population_objective,
        {
            "w": lambda: 0.5,
            "a": lambda: 0.5,
            "s2": lambda: 0.3,
            "v": lambda: 2.0,
            "sigma2": lambda: 0.5,
            "beta": lambda: 1.0,
        },
        {
            "w": _numbers(),
            "a": _numbers(),
            "s2": _numbers(),
            "v": _numbers(),
            "sigma2": _numbers(),
            "beta": _numbers(),
        },
    ),
    Case(
        "expected_log_evidence",
        linear_vae.expected_log_evidence,
        {"w": lambda: 0.5, "v": lambda: 2.0, "sigma2": lambda: 0.5},
        {"w": _numbers(), "v": _numbers(), "sigma2": _numbers()},
    ),
    Case(
        "isotropic_gaussian_kl",
        gaussian_kl.isotropic_gaussian_kl,
        {
            "mu_q": lambda: _t(4, 2),
            "var_q": lambda: _t(4, low=0.1),
            "mu_p": lambda: _t(4, 2),
            "var_p": lambda: _t(4, low=0.1),
        },
        {"mu_q": _bad((4, 2)), "var_q": _bad((4,)), "mu_p": _bad((4, 2)), "var_p": _bad((4,))},
    ),
    Case(
        "LinearGaussianVAE",
        linear_vae.LinearGaussianVAE,
        {"sigma2": lambda: 0.5, "prior_var": lambda: 1.0, "init_scale": lambda: 0.5},
        {"sigma2": _numbers(**TINY), "prior_var": _numbers(**TINY), "init_scale": _numbers()},
    ),
    Case(
        "fit_linear_vae",
        linear_vae.fit_linear_vae,
        {
            "x": lambda: _t(8, 1),
            "sigma2": lambda: 0.5,
            "beta": lambda: 1.0,
            "steps": lambda: 3,
            "n_samples": lambda: 2,
            "seed": lambda: 0,
        },
        {
            "x": _bad((8, 1)),
            "sigma2": _numbers(),
            "beta": _numbers(),
            "steps": _numbers(),
            "n_samples": _numbers(),
            "seed": _numbers(**SEEDS),
        },
    ),
    # gradients
    *[
        Case(
            f"gradients.{fn.__name__}",
            fn,
            {
                "model": lambda: CONJ,
                "x": lambda: _t(4, 3),
                "loc": lambda: _t(4, 1),
                "scale": lambda: _t(4, 1, low=0.2),
                "n_samples": lambda: 2,
                "n_estimates": lambda: 3,
            },
            {
                "model": MODEL_BAD,
                "x": _bad((4, 3)),
                "loc": _bad((4, 1)),
                "scale": _bad((4, 1), zero=lambda: torch.zeros(4, 1)),
                "n_samples": _numbers(),
                "n_estimates": _numbers(),
            },
        )
        for fn in (gradients.reparameterised_gradient, gradients.score_function_gradient)
    ],
    Case(
        "exact_mean_gradient",
        gradients.exact_mean_gradient,
        {"model": lambda: CONJ, "x": lambda: _t(4, 3), "loc": lambda: _t(4, 1)},
        {"model": MODEL_BAD, "x": _bad((4, 3)), "loc": _bad((4, 1))},
    ),
    # gradient SNR
    Case(
        "signal_to_noise",
        gradient_snr.signal_to_noise,
        {"draws": lambda: _t(5, 3), "reduction": lambda: "mean"},
        {
            "draws": _bad((5, 3), constant=lambda: torch.ones(5, 3)),
            "reduction": _numbers(sum_=lambda: "sum"),
        },
        allow_nan=True,
    ),
    Case(
        "gradient_draws",
        lambda n_draws, params: gradient_snr.gradient_draws(
            lambda: (
                (params[0] ** 2).sum() if isinstance(params, list) and params else torch.zeros(())
            ),
            params,
            n_draws=n_draws,
        ),
        {"n_draws": lambda: 3, "params": lambda: [torch.nn.Parameter(torch.ones(2))]},
        {"n_draws": _numbers(), "params": _numbers(empty=lambda: [])},
    ),
    Case(
        "LinearGaussianTestBed",
        toy_models.LinearGaussianTestBed,
        {"theta": lambda: _t(2), "weight": lambda: _t(2, 2), "bias": lambda: _t(2)},
        {"theta": _bad((2,)), "weight": _bad((2, 2)), "bias": _bad((2,))},
    ),
    Case(
        "iwae_gradient_snr",
        gradient_snr.iwae_gradient_snr,
        {"model": _vae, "x": X, "n_samples": lambda: 2, "n_draws": lambda: 3},
        {
            "model": MODEL_BAD,
            "x": _bad((4, 5), binary=True),
            "n_samples": _numbers(),
            "n_draws": _numbers(),
            "estimator": _numbers(x=lambda: "x"),
        },
        allow_nan=True,
    ),
    # disentanglement
    Case(
        "latent_factor_mutual_information",
        disentanglement.latent_factor_mutual_information,
        {
            "loc": LOC,
            "scale": SCALE,
            "factor_indices": lambda: torch.arange(12).reshape(6, 2) % 3,
            "n_samples": lambda: 2,
            **GEN,
        },
        {
            "loc": _bad((6, 2)),
            "scale": SCALE_BAD,
            "factor_indices": _bad(
                (6, 2),
                short=lambda: torch.zeros(5, 2, dtype=torch.long),
                negative=lambda: -torch.ones(6, 2, dtype=torch.long),
            ),
            "n_samples": _numbers(),
            **GEN_BAD,
        },
    ),
    Case(
        "mutual_information_gap",
        disentanglement.mutual_information_gap,
        {
            "loc": LOC,
            "scale": SCALE,
            "factor_indices": lambda: torch.arange(12).reshape(6, 2) % 3,
            "n_samples": lambda: 2,
            **GEN,
        },
        {
            "loc": _bad((6, 2), one_dim=lambda: _t(6, 1)),
            "scale": SCALE_BAD,
            "factor_indices": _bad((6, 2), constant=lambda: torch.zeros(6, 2, dtype=torch.long)),
            "n_samples": _numbers(),
            **GEN_BAD,
        },
    ),
    Case(
        "latent_traversals",
        disentanglement.latent_traversals,
        {"model": _vae, "anchor": lambda: _t(2), "values": lambda: _t(3)},
        {"model": MODEL_BAD, "anchor": _bad((2,)), "values": _bad((3,))},
    ),
    # toy models
    Case(
        "ConjugateGaussian",
        lambda data_dim, noise_scale, n: _conjugate_outputs(data_dim, noise_scale, n),
        {"data_dim": lambda: 3, "noise_scale": lambda: 0.5, "n": lambda: 4},
        {"data_dim": _numbers(), "noise_scale": _numbers(**TINY), "n": _numbers()},
    ),
    Case(
        "ConjugateGaussian.log_evidence",
        lambda x: CONJ.log_evidence(x),
        {"x": lambda: _t(4, 3)},
        {"x": _bad((4, 3))},
    ),
    Case(
        "ConjugateGaussian.exact_posterior",
        lambda x: CONJ.exact_posterior(x),
        {"x": lambda: _t(4, 3)},
        {"x": _bad((4, 3))},
    ),
    Case(
        "GaussianMixture",
        lambda weights, means, x, noise_scale: toy_models.GaussianMixture(
            weights, means, noise_scale
        ).log_evidence(x),
        {
            "weights": lambda: _t(3, low=0.1),
            "means": lambda: _t(3, 2),
            "x": lambda: _t(4, 2),
            "noise_scale": lambda: 0.5,
        },
        {
            "weights": _bad((3,)),
            "means": _bad((3, 2)),
            "x": _bad((4, 2)),
            "noise_scale": _numbers(**TINY),
        },
    ),
]


def _assert_finite(value: object, case: Case, path: str = "result") -> None:
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            return
        bad = (
            torch.isnan(value) if not case.allow_nan else torch.zeros_like(value, dtype=torch.bool)
        )
        bad = bad | (value == math.inf)
        if not case.allow_neg_inf:
            bad = bad | (value == -math.inf)
        assert not bool(bad.any()), f"{case.name}: {path} has non-finite entries: {value}"
    elif isinstance(value, float):
        if not (case.allow_nan and math.isnan(value)):
            assert math.isfinite(value), f"{case.name}: {path} = {value}"
    elif isinstance(value, Distribution):
        for name in value.arg_constraints:
            if name in value.__dict__:
                _assert_finite(value.__dict__[name], case, f"{path}.{name}")
        base = getattr(value, "base_dist", None)
        if base is not None:
            _assert_finite(base, case, f"{path}.base_dist")
    elif isinstance(value, torch.nn.Module):
        for name, parameter in value.named_parameters():
            _assert_finite(parameter.detach(), case, f"{path}.{name}")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _assert_finite(getattr(value, f.name), case, f"{path}.{f.name}")
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            _assert_finite(item, case, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _assert_finite(item, case, f"{path}[{key!r}]")


@st.composite
def _calls(draw: st.DrawFn, case: Case) -> tuple[dict[str, str], dict[str, Any]]:
    labels: dict[str, str] = {}
    kwargs: dict[str, Any] = {}
    for name in sorted(set(case.valid) | set(case.bad)):
        options = {"valid": case.valid[name]} if name in case.valid else {}
        options.update(case.bad.get(name, {}))
        # Mostly valid arguments, so that one bad argument at a time is well covered.
        pick = draw(
            st.one_of(
                st.just("valid") if name in case.valid else st.sampled_from(sorted(options)),
                st.sampled_from(sorted(options)),
            )
        )
        if pick == "valid" and name not in case.valid:
            continue
        labels[name] = pick
        kwargs[name] = options[pick]()
    return labels, kwargs


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_inputs_raise_documented_errors_or_give_finite_values(case: Case) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(_calls(case))
    def run(call: tuple[dict[str, str], dict[str, Any]]) -> None:
        labels, kwargs = call
        TRIED[case.name] = TRIED.get(case.name, 0) + 1
        torch.manual_seed(0)
        try:
            result = case.function(**kwargs)
        except DOCUMENTED + case.extra_errors:
            return
        except Exception as error:  # the property: no other exception escapes
            raise AssertionError(
                f"{case.name}({labels}) raised an undocumented {type(error).__name__}: {error}"
            ) from error
        _assert_finite(result, case)

    run()


CLI_OPTIONS: dict[str, list[str | None]] = {
    "--data": [
        None,
        "shapes",
        "digits",
        "mnist",
        "nonsense",
        str(FILES / "good.npy"),
        str(FILES / "nan.npy"),
        str(FILES / "one_d.npy"),
        str(FILES / "text.csv"),
        str(FILES / "missing.npy"),
        str(FILES),
    ],
    "--epochs": [None, "1", "0", "-1", "x", "1.5"],
    "--latent-dim": [None, "2", "0", "two"],
    "--hidden": [None, "4", "0", "4 x"],
    "--lr": [None, "0.01", "0", "nan", "inf", "-1"],
    "--beta": [None, "0", "-0.5", "nan"],
    "--seed": [None, "3", str(2**63), "-2"],
    "--likelihood": [None, "gaussian", "bernoulli", "poisson"],
    "--decoder-scale": [None, "0.2", "learned", "0", "1e-30", "big"],
    "--test-fraction": [None, "0.5", "1.0", "0"],
    "--device": [None, "cpu", "cuda:9", "gpu"],
    "--batch-size": [None, "64", "0"],
}


@settings(max_examples=40, deadline=None, database=None, derandomize=True)
@given(st.fixed_dictionaries({k: st.sampled_from(v) for k, v in CLI_OPTIONS.items()}))
def test_cli_train_exits_0_or_2_without_a_traceback(options: dict[str, str | None]) -> None:
    import contextlib
    import io

    from elbo_book.cli import main

    TRIED["cli train"] = TRIED.get("cli train", 0) + 1
    argv = ["train", "--quiet", "--threads", "1", "-o", str(FILES / "cli" / "m.pt"), "--force"]
    for option, value in options.items():
        if value is not None:
            argv += [option, *value.split()]
    if options["--epochs"] is None:
        argv += ["--epochs", "1"]
    if options["--hidden"] is None:
        argv += ["--hidden", "4"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(argv, prog="elbo-book")
        except SystemExit as exit_:  # argparse's usage errors
            status = exit_.code  # type: ignore[assignment]
    assert status in (0, 2), (argv, status, err.getvalue())
    assert "Traceback" not in err.getvalue() and "unexpected" not in err.getvalue(), argv
    if status == 2:
        assert "error: " in err.getvalue(), argv


def test_zz_number_of_cases_tried() -> None:
    """Runs after the suite (file order): every case ran its examples; print the total."""
    if len(TRIED) < len(CASES) + 1:
        pytest.skip("the suite above was not run in this session (e.g. -k selection)")
    total = sum(TRIED.values())
    print(f"bad-input suite: {total} calls over {len(CASES)} public functions and the CLI")
    assert all(count >= 10 for count in TRIED.values()), TRIED
    assert total >= 20 * len(CASES)
