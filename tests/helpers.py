"""Helpers shared by the tests."""

from npgan.gradcheck import gradcheck

TOL = 1e-6  # relative error bound in float64 (a correct pass gives ~1e-9, a wrong one O(1))


def assert_grads_ok(layer, x, training=True, max_checks=150):
    report = gradcheck(layer, x, training=training, max_checks=max_checks)
    assert report.ok(TOL), f"\n{report}"
    return report
