"""``hf.minimize`` against SciPy's Newton-CG and trust-krylov.

Runs ``hf.minimize`` (its default trust-region method, ``hf``, and its
damping method, ``hf-damping``) and the two SciPy methods, each given the
same ``fun``, ``jac`` and Hessian-vector product, on SciPy's Rosenbrock function
(``scipy.optimize.rosen``, ``rosen_der``, ``rosen_hess_prod``) in 2 to 1000
dimensions from two starting points: the classic alternating
``(-1.2, 1, -1.2, 1, ...)`` and ``linspace(-1, 2, n)``.  Prints, per case and
method, the iterations, the function, gradient and Hessian-vector product
counts, the final objective and the median wall time of ``--repeats`` runs,
as an rst table, then one ``RESULT`` line per case with the ratios of
Hessian-vector products and time (``hf`` over the SciPy method) and
``as_low_as_trust_krylov``: whether ``hf`` ends at most 1e-6 above
trust-krylov's final value (``tests/test_minimizer.py`` holds this and
``nhev_ratio_trust_krylov <= 1`` for 2 to 100 dimensions).

Usage: ``python bench/minimize.py [--repeats 5] [--dims 2 10 100 1000]``.
"""

import argparse
import os
import time

import numpy as np
from scipy.optimize import minimize as scipy_minimize
from scipy.optimize import rosen, rosen_der, rosen_hess_prod

import hessianfree as hf

METHODS = ("hf", "hf-damping", "Newton-CG", "trust-krylov")


def starts(n):
    alternating = np.tile([-1.2, 1.0], n // 2 + 1)[:n]
    return {"alternating": alternating, "linspace": np.linspace(-1.0, 2.0, n)}


def solve(method, x0):
    options = {"maxiter": 1000}
    if method.startswith("hf"):
        if method == "hf-damping":
            options["method"] = "damping"
        return hf.minimize(rosen, x0, rosen_der, hessp=rosen_hess_prod, **options)
    return scipy_minimize(rosen, x0, jac=rosen_der, hessp=rosen_hess_prod,
                          method=method, options=options)


def measure(method, x0, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = solve(method, x0)
        times.append(time.perf_counter() - start)
    return result, float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 10, 100, 1000])
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; "
          f"median of {args.repeats} runs")
    header = ("n", "start", "method", "nit", "nfev", "njev", "nhev", "f final", "time ms")
    rows, results = [], []
    for n in args.dims:
        for name, x0 in starts(n).items():
            case = {}
            for method in METHODS:
                r, t = measure(method, x0, args.repeats)
                case[method] = (r, t)
                rows.append((str(n), name, method, str(r.nit), str(r.nfev), str(r.njev),
                             str(r.nhev), f"{r.fun:.2e}", f"{1e3 * t:.1f}"))
            results.append((n, name, case))
    print_table(header, rows)
    for n, name, case in results:
        hf_r, hf_t = case["hf"]
        ratios = " ".join(
            f"nhev_ratio_{m.replace('-', '_')}={hf_r.nhev / case[m][0].nhev:.3g} "
            f"time_ratio_{m.replace('-', '_')}={hf_t / case[m][1]:.3g}"
            for m in METHODS[2:])
        low = hf_r.fun <= case["trust-krylov"][0].fun + 1e-6
        print(f"RESULT n={n} start={name} hf_fun={hf_r.fun:.3g} {ratios} "
              f"as_low_as_trust_krylov={low}")


def print_table(header, rows):
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    rule = "  ".join("=" * w for w in widths)
    print(rule)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print(rule)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print(rule)


if __name__ == "__main__":
    main()
