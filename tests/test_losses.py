"""Loss functions: derivatives against finite differences (float64), NaN
targets, batch averaging on 2-D and 3-D activations, LossSet, layer checks and
resolve_loss."""

import warnings

import numpy as np

import hessianfree as hf
import pytest

from hessianfree.losses import loss_funcs as lf
from hessianfree.layers import nonlinearities as nl
from hessianfree.nets.derivative_checks import assert_close, central_difference


class Damping:
    damping = 0.25


DIFFERENTIABLE = [lf.SquaredError(), lf.CrossEntropy(curvature="hessian"),
                  lf.SparseL1(0.3),
                  lf.SparseL2(0.7, target=0.2), lf.SparseL2(0.5, layers=[-2, 0]),
                  lf.StructuralDamping(2.0, optimizer=Damping()),
                  lf.LossSet([lf.SquaredError(), lf.SparseL2(0.1)])]
SHAPES = {"2d": (4,), "3d": (4, 5)}  # leading axes: (batch,) or (batch, time)
SIZES = [3, 4, 2]  # units per layer


def make_case(lead, seed=0):
    """Activations of 3 layers (all positive, away from 0) and NaN-free
    normalised targets."""
    rng = np.random.default_rng(seed)
    acts = [rng.uniform(0.1, 0.9, lead + (n,)) for n in SIZES]
    targets = rng.dirichlet(np.ones(SIZES[-1]), size=lead)
    return acts, targets


def per_layer_loss(loss, acts, targets, i):
    """Loss of layer i summed over units (and time), per example."""
    values = loss.loss(acts, targets)[i]
    if values is None:
        return np.zeros(acts[i].shape[0])
    return values.reshape(values.shape[0], -1).sum(axis=1)


def with_layer(acts, i, flat):
    new = list(acts)
    new[i] = flat.reshape(acts[i].shape)
    return new


@pytest.mark.parametrize("lead", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("loss", DIFFERENTIABLE, ids=repr)
def test_derivatives_match_finite_differences(loss, lead):
    acts, targets = make_case(lead)
    d1, d2 = loss.d_loss(acts, targets), loss.d2_loss(acts, targets)
    assert len(d1) == len(d2) == len(acts)
    for i, a in enumerate(acts):
        total = central_difference(
            lambda v: per_layer_loss(loss, with_layer(acts, i, v), targets, i).sum(),
            a.ravel())
        grad = np.zeros_like(a) if d1[i] is None else d1[i]
        assert grad.shape == a.shape
        assert_close(f"{loss!r} d_loss[{i}]", grad.ravel(), total.ravel())

        hess = central_difference(
            lambda v: _d_loss_or_zero(loss, with_layer(acts, i, v), targets, i),
            a.ravel())
        diag = np.zeros_like(a) if d2[i] is None else d2[i]
        assert diag.shape == a.shape
        assert np.abs(hess - np.diag(np.diag(hess))).max() < 1e-6
        if not isinstance(loss, lf.StructuralDamping):  # d2 only, by design
            assert_close(f"{loss!r} d2_loss[{i}]", diag.ravel(), np.diag(hess))


def _d_loss_or_zero(loss, acts, targets, i):
    d = loss.d_loss(acts, targets)[i]
    return np.zeros(acts[i].size) if d is None else d.ravel()


@pytest.mark.parametrize("lead", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("loss", DIFFERENTIABLE + [lf.ClassificationError()],
                         ids=repr)
def test_batch_loss_is_mean_over_batch(loss, lead):
    acts, targets = make_case(lead)
    entries = [v for v in loss.loss(acts, targets) if v is not None]
    expected = sum(v.sum() for v in entries) / lead[0]
    if isinstance(loss, lf.ClassificationError):
        expected = entries[0].mean()  # fraction wrong
    assert loss.batch_loss(acts, targets) == pytest.approx(expected)
    assert isinstance(loss.batch_loss(acts, targets), float)


@pytest.mark.parametrize("lead", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("loss", [lf.SquaredError(), lf.CrossEntropy(),
                                  lf.CrossEntropy(curvature="hessian")], ids=repr)
def test_nan_targets_contribute_nothing(loss, lead):
    acts, targets = make_case(lead)
    targets[0] = np.nan        # a whole example without targets
    targets[1, ..., 0] = np.nan  # single units without targets
    missing = np.isnan(targets)
    for func in (loss.loss, loss.d_loss, loss.d2_loss):
        out = func(acts, targets)[-1]
        assert np.all(np.isfinite(out))
        assert np.all(out[missing] == 0)
        assert np.all(out[~missing] != 0)
    full = loss.batch_loss(acts, np.where(missing, acts[-1], targets)
                           if isinstance(loss, lf.SquaredError) else
                           np.where(missing, 0.0, targets))
    assert loss.batch_loss(acts, targets) == pytest.approx(full)


def test_squared_error_values():
    acts = [None, np.array([[1.0, 2.0], [0.0, 0.0]])]
    t = np.array([[0.0, 0.0], [1.0, np.nan]])
    loss = lf.SquaredError()
    np.testing.assert_array_equal(loss.loss(acts, t)[1], [[0.5, 2.0], [0.5, 0]])
    assert loss.loss(acts, t)[0] is None
    assert loss.batch_loss(acts, t) == 1.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_stable_and_keeps_dtype(dtype):
    y = np.array([[0.0, 1.0, -0.5]], dtype=dtype)
    t = np.array([[1.0, 0.0, 0.0]])  # float64 targets
    loss = lf.CrossEntropy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for func in (loss.loss, loss.d_loss, loss.d2_loss):
            out = func([y], t)[-1]
            assert out.dtype == dtype
            assert np.all(np.isfinite(out))
    assert loss.loss([y], t)[-1][0, 0] > 40  # -log of a tiny floor


def test_classification_error():
    y = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    t = np.array([[0, 1], [0, 1], [np.nan, np.nan], [1, np.nan]])
    loss = lf.ClassificationError()
    np.testing.assert_array_equal(loss.loss([y], t)[-1], [0, 1, 0, 0])
    assert loss.batch_loss([y], t) == pytest.approx(1 / 3)  # 3 with targets
    assert loss.batch_loss([y], np.full_like(t, np.nan)) == 0.0
    y3 = np.stack([y, y[::-1]], axis=1)  # (batch, time, n)
    t3 = np.stack([t, t], axis=1)
    assert loss.loss([y3], t3)[-1].shape == (4, 2)
    for func in (loss.d_loss, loss.d2_loss):
        with pytest.raises(NotImplementedError, match="validation"):
            func([y], t)


def test_sparse_and_damping_layers():
    acts, targets = make_case((4,))
    acts[1] = None  # skipped layers stay None
    assert lf.SparseL1(1.0).loss(acts, targets) == [None, None, None]
    acts, targets = make_case((4,))
    out = lf.SparseL2(1.0, layers=[0, -1]).d2_loss(acts, targets)
    assert out[1] is None and np.all(out[0] == 1) and np.all(out[2] == 1)
    sd = lf.StructuralDamping(3.0, optimizer=Damping())
    assert sd.loss(acts, targets) == [None] * 3
    assert sd.d_loss(acts, targets) == [None] * 3
    d2 = sd.d2_loss(acts, targets)
    assert d2[0] is None and d2[2] is None and np.all(d2[1] == 0.75)
    assert np.all(lf.StructuralDamping(3.0).d2_loss(acts, targets)[1] == 3.0)
    with pytest.raises(ValueError, match="layers"):
        lf.SparseL1(1.0, layers=[3]).check_layers([nl.Linear()] * 3)
    with pytest.raises(ValueError, match="weight"):
        lf.SparseL2(-1.0)


def test_loss_set_sums_entrywise():
    acts, targets = make_case((4, 5))
    members = [lf.SquaredError(), lf.SparseL2(0.5), lf.SparseL1(0.2, layers=[1, 2]),
               lf.StructuralDamping(1.0)]
    ls = lf.LossSet(members)
    for name in ("loss", "d_loss", "d2_loss"):
        got = getattr(ls, name)(acts, targets)
        for i in range(len(acts)):
            parts = [getattr(m, name)(acts, targets)[i] for m in members]
            parts = [p for p in parts if p is not None]
            if not parts:
                assert got[i] is None
            else:
                np.testing.assert_allclose(got[i], sum(parts))
    assert ls.batch_loss(acts, targets) == pytest.approx(
        sum(m.batch_loss(acts, targets) for m in members))


def test_loss_set_does_not_modify_member_results():
    class Cached(lf.LossFunction):
        def __init__(self, value):
            self.value = value

        def loss(self, activities, targets):
            return [None, self.value]

    value = np.ones((2, 3))
    ls = lf.LossSet([Cached(value), Cached(value), Cached(value)])
    np.testing.assert_array_equal(ls.loss([None, value], None)[1], 3.0)
    np.testing.assert_array_equal(value, 1.0)


def test_cross_entropy_check_layers():
    ce = lf.CrossEntropy()
    for bad in (nl.Linear(), nl.Tanh(), nl.ReLU(), nl.SoftLIF(),
                nl.Continuous(nl.Tanh())):
        with pytest.raises(ValueError, match="CrossEntropy"):
            ce.check_layers([nl.Linear(), bad])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ce.check_layers([nl.Linear(), nl.Softmax()])
    with pytest.warns(UserWarning, match="Softmax"):
        ce.check_layers([nl.Linear(), nl.Logistic()])
    with pytest.raises(ValueError, match="CrossEntropy"):
        lf.LossSet([lf.SquaredError(), ce]).check_layers([nl.Tanh(), nl.Tanh()])


def test_targets_shape_checked():
    acts, targets = make_case((4,))
    with pytest.raises(ValueError, match="targets"):
        lf.SquaredError().loss(acts, targets[:, :1])
    with pytest.raises(TypeError, match="targets"):
        lf.CrossEntropy().d_loss(acts, None)


def test_resolve_loss():
    se = lf.SquaredError()
    assert lf.resolve_loss(se) is se
    ls = lf.resolve_loss([se, lf.SparseL1(0.1)])
    assert isinstance(ls, lf.LossSet) and ls.set[0] is se
    assert isinstance(lf.resolve_loss(lf.CrossEntropy), lf.CrossEntropy)
    for bad in ("squared", None, [se, 3]):
        with pytest.raises(TypeError, match="loss_type"):
            lf.resolve_loss(bad)
    with pytest.raises(ValueError, match="loss_type"):
        lf.resolve_loss([])
    with pytest.raises(TypeError, match=r"set\[1\]"):
        lf.LossSet([se, "x"])


def test_base_class_not_implemented():
    with pytest.raises(NotImplementedError):
        lf.LossFunction().loss([np.zeros((1, 1))], np.zeros((1, 1)))
    assert lf.LossFunction().check_layers([nl.Tanh()]) is None


def test_crossentropy_fisher_curvature_is_the_softmax_gauss_newton():
    """Through the Softmax Jacobian S, S diag(1/y) S = diag(y) - y y^T: the
    Hessian of softmax + cross-entropy with respect to the logits."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 4))
    y = hf.nl.Softmax().activation(z)
    t = np.eye(4)[rng.integers(0, 4, 5)]
    S = hf.nl.Softmax().d_activation(z, y)
    d2 = lf.CrossEntropy(curvature="fisher").d2_loss([y], t)[-1]
    np.testing.assert_allclose(d2, 1 / y)
    GN = np.einsum("bki,bk,bkj->bij", S, d2, S)
    logit_hessian = np.stack([np.diag(yb) - np.outer(yb, yb) for yb in y])
    np.testing.assert_allclose(GN, logit_hessian, atol=1e-12)
    with pytest.raises(ValueError, match="curvature"):
        lf.CrossEntropy(curvature="exact")


def test_classification_error_counts_nonfinite_outputs_as_wrong():
    targets = np.eye(3)[[0, 1, 2, 0]]
    outputs = targets.copy()
    outputs[0] = np.nan  # argmax 0 would match the target
    outputs[1, 2] = np.inf
    loss = hf.loss_funcs.ClassificationError()
    assert loss.batch_loss([outputs], targets) == 0.5


def test_classes_needing_arguments_are_refused_naming_the_parameter():
    with pytest.raises(TypeError, match="loss_type: StructuralDamping cannot be created"):
        hf.FFNet([2, 3, 1], loss_type=hf.loss_funcs.StructuralDamping)
    with pytest.raises(TypeError, match="layers: Needy cannot be created"):
        hf.nl.resolve(type("Needy", (hf.nl.Continuous,), {}), "layers")
    assert isinstance(hf.loss_funcs.resolve_loss(hf.loss_funcs.SquaredError),
                      hf.loss_funcs.SquaredError)
