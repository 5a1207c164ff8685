"""The Hessian tools of the lab: they live in :mod:`handgrad.optim.curvature`, where Newton's method
uses them too; these names stay importable from here."""

from handgrad.optim.curvature import (ExtremeEigen, extreme_eigenvalues, hessian,
                                      hessian_from_loss_values, hessian_vector_product,
                                      loss_and_gradient, restored_theta, train_to_minimum)

__all__ = ["ExtremeEigen", "extreme_eigenvalues", "hessian", "hessian_from_loss_values",
           "hessian_vector_product", "loss_and_gradient", "restored_theta", "train_to_minimum"]
