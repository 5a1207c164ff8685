"""The one thing pyproject.toml cannot declare stably: the optimizers' fused update loops in C
(handgrad.optim._fused, see handgrad/optim/kernels.py).

optional=True: where no C compiler is found the install goes on and the same rules run as NumPy.
No -ffast-math: every operation is rounded as NumPy rounds it; -fno-math-errno lets sqrt vectorise
and -ffp-contract=off keeps a*b + c two roundings, as in NumPy.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "handgrad.optim._fused",
    sources=["src/handgrad/optim/_fused.c"],
    depends=["src/handgrad/optim/_fused_rules.h"],
    extra_compile_args=["-O3", "-fno-math-errno", "-ffp-contract=off"],
    optional=True,
)])
