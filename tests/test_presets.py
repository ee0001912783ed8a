"""hessianfree.presets: the recommended settings live there (the demos and
the benchmarks re-export or import them), each names where it was measured,
and the moved library pieces (the reconstruction loss, the point-mass plant)
are public in their modules."""

import ast
import inspect
import pathlib

import numpy as np
import pytest

import hessianfree as hf
from hessianfree import demos, presets

PRESETS = ("classifier_settings", "pathological_settings", "PATHOLOGICAL_RULES",
           "AUTOENCODER_HF", "AUTOENCODER_MINIBATCH", "AUTOENCODER_ENCODER",
           "MNIST_HIDDEN", "autoencoder_network", "reconstruction_error")


def test_presets_are_public_and_the_demos_reexport_them():
    assert hf.presets is presets
    for name in PRESETS:
        assert name in presets.__all__
        assert getattr(demos, name) is getattr(presets, name), name
    assert demos.ReconstructionError is hf.loss_funcs.ReconstructionError
    assert demos.PointMass is hf.nl.PointMass


def test_each_preset_says_where_it_was_measured():
    source = pathlib.Path(presets.__file__).read_text()
    for name in PRESETS:
        if callable(getattr(presets, name)) and name != "reconstruction_error":
            doc = inspect.getdoc(getattr(presets, name))
        else:  # a constant: its "#:" comment
            lines = source.split(f"\n{name} = ")[0].splitlines()
            doc = "\n".join(line for line in lines[-8:] if line.startswith("#:"))
        if name == "reconstruction_error":
            assert "Martens" in inspect.getdoc(presets.reconstruction_error)
            continue
        assert "docs/" in doc or "Martens" in doc, name


def test_presets_import_no_package_root():
    tree = ast.parse(pathlib.Path(presets.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(a.name != "hessianfree" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "hessianfree":
            assert all(a.name != "*" for a in node.names)


def test_classifier_and_pathological_settings():
    optimizer, schedule = presets.classifier_settings(CG_iter=7)
    assert optimizer.CG_iter == 7 and optimizer.curvature_fraction == 0.1
    assert isinstance(optimizer.preconditioner, hf.kfac.KFAC)
    assert optimizer.preconditioner.rank == 64 and optimizer.objective_fraction == 0.25
    assert isinstance(schedule, hf.schedule.VarianceSchedule)
    optimizer, minibatch = presets.pathological_settings("memorization")
    assert minibatch == 1000 and optimizer.CG_iter == 300
    assert optimizer.cg_start == "warm-if-better"
    assert presets.martens_sutskever_2011("addition").optimizer.cg_start == "warm"
    assert optimizer.cg_storage == hf.opt.RULE_SETS["original"]["cg_storage"]
    with pytest.raises(ValueError, match="task"):
        presets.pathological_settings("adding")


def test_autoencoder_presets():
    assert presets.AUTOENCODER_ENCODER == (784, 1000, 500, 250, 30)
    assert presets.AUTOENCODER_MINIBATCH == 1000
    optimizer = hf.opt.HessianFree(**presets.AUTOENCODER_HF)
    assert optimizer.CG_iter == 20 and isinstance(optimizer.preconditioner, hf.kfac.KFAC)
    net = presets.autoencoder_network((6, 4, 2), rng=0)
    assert net.shape == [6, 4, 2, 4, 6]
    x = np.random.default_rng(0).uniform(0, 1, (5, 6)).astype(np.float32)
    expected = np.mean(np.sum((hf.backend.to_numpy(net.forward(x)[-1]) - x) ** 2, axis=1))
    assert presets.reconstruction_error(net, x, chunk=2) == pytest.approx(expected,
                                                                         rel=1e-5)
    loss = hf.loss_funcs.ReconstructionError()
    assert net.error(inputs=x, targets=x, loss_type=loss) == pytest.approx(expected,
                                                                           rel=1e-5)


def test_point_mass_is_a_plant_of_hf_nl():
    mass = hf.nl.PointMass([0.0, 0.5], n_steps=3)
    assert isinstance(mass, hf.nl.Plant) and mass.shape == (2, 3, 2)
    assert "PointMass" in hf.nl.__all__


def test_pathological_recipes():
    recipe = presets.pathological_recipe("addition")
    assert recipe.n_train is None and recipe.minibatch_size == 1000  # fresh data
    assert recipe.optimizer.CG_iter == 300
    assert recipe.network == {"input_scale": 0.25}
    recipe.network["input_scale"] = 1  # each recipe has its own dict
    assert presets.PATHOLOGICAL_NETWORK["input_scale"] == 0.25
    paper = presets.pathological_recipe("temporal_order_3bit", "paper", plotting=False)
    assert paper.optimizer.state.damping == pytest.approx(0.08)
    paper = presets.martens_sutskever_2011("temporal_order_3bit")
    opt = paper.optimizer
    assert paper.n_train is None and paper.minibatch_size == 10000  # fresh data
    assert opt.curvature_fraction == 0.1 and opt.CG_iter == 300 and opt.cg_decay == 0.95
    assert opt.state.damping == pytest.approx(0.08)  # 0.01 x 8 outputs
    assert opt.cg_rel_tol == 0
    assert paper.network["structural_damping"] == 0.03
    assert paper.network["input_scale"] == 0.25
    assert paper.network["init_scale"] == pytest.approx(15 ** -0.5)
    assert presets.martens_sutskever_2011("xor", CG_iter=5).optimizer.CG_iter == 5
    with pytest.raises(ValueError, match="preset"):
        presets.pathological_recipe("xor", "fast")
    with pytest.raises(ValueError, match="task"):
        presets.pathological_recipe("adding")
    for name in ("pathological_recipe", "martens_sutskever_2011", "PathologicalRecipe",
                 "PATHOLOGICAL_PRESETS"):
        assert name in presets.__all__
