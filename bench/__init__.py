"""handgrad's benchmark suite: handgrad against PyTorch CPU eager, scikit-learn and a minimal NumPy
floor, side by side, with the machine's roofline measured in the same run (``python -m bench.run``).

bench/ is not part of the library: it may import torch; src/handgrad never does.
"""
