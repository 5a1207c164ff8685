"""Exact Hessian-vector products by Pearlmutter's R-operator: in :mod:`handgrad.optim.curvature`,
where Newton's method uses them too; these names stay importable from here."""

from handgrad.optim.curvature import SUPPORTED_LOSSES, exact_hessian_vector_product

__all__ = ["SUPPORTED_LOSSES", "exact_hessian_vector_product"]
