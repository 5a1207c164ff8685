"""The one thing pyproject.toml cannot declare stably: the compiled loops in C, each with a NumPy
form that runs where they are not built (optional=True: without a C compiler the install goes on):

- handgrad.optim._fused: the optimizers' update rules, one pass each (handgrad/optim/kernels.py);
- handgrad.nn._fused: the layers' elementwise passes behind the modules' readable math (bias add,
  ReLU, finiteness check, softmax cross-entropy; handgrad/nn/kernels.py), which link the C maths
  library (libm) for exp and log.

No -ffast-math: every operation is rounded as NumPy rounds it; -fno-math-errno lets sqrt vectorise
and -ffp-contract=off keeps a*b + c two roundings, as in NumPy. -fno-strict-aliasing: the ReLU and
finiteness loops read floats through their bits (an unsigned integer pointer), which that makes
well defined.
"""

from setuptools import Extension, setup

FLAGS = ["-O3", "-fno-math-errno", "-ffp-contract=off", "-fno-strict-aliasing"]


def compiled(package: str) -> Extension:
    folder = f"src/handgrad/{package}"
    return Extension(f"handgrad.{package}._fused", sources=[f"{folder}/_fused.c"],
                     depends=[f"{folder}/_fused_rules.h", "src/handgrad/_buffers.h"],
                     extra_compile_args=FLAGS, libraries=["m"], optional=True)


setup(ext_modules=[compiled("optim"), compiled("nn")])
