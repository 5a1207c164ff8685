"""Gradient checking by central finite differences in float64 (see :mod:`handgrad.check.gradcheck`)."""

from handgrad.check.gradcheck import (GradcheckReport, TensorCheck, central_differences, gradcheck,
                                      gradcheck_loss, gradcheck_model)

__all__ = ["GradcheckReport", "TensorCheck", "central_differences", "gradcheck", "gradcheck_loss",
           "gradcheck_model"]
