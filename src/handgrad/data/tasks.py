"""The notes' digit-recognition set-ups (001, "Setting up for digit recognition") as data sets.

Both use scikit-learn's bundled 8x8 handwritten digits (1797 images, pixel values 0..16).

``digits_2_vs_not_2`` -- "Recognizing 2 or not 2": one output unit with a sigmoid, y in (0, 1),
    d = 1 for a "2" and d = 0 for every other digit, trained with the binary divergence (KL between
    Bernoulli(d) and Bernoulli(y), which for d in {0, 1} is the binary cross-entropy):
    ``handgrad train --data digits_2_vs_not_2 --loss bce`` (or ``bce_logits``). Classes are
    ``["not 2", "2"]``; about 10 % of the images are 2s.

``digits_11`` -- "Network with 10 (or 11) outputs ... optional 11th is for none of the above":
    the ten digits (classes "0".."9") plus an 11th class "none" of non-digit inputs, one softmax
    over 11 outputs. The non-digit inputs are as many as an average digit class (180), drawn from a
    fixed seed, half of each kind:

    * noise: every pixel uniform on the integers 0..16 (the digits' range);
    * scrambled digits: a real digit image with its 64 pixels randomly permuted, so the ink and
      its intensity histogram are a digit's but there are no strokes.
"""

from __future__ import annotations

import numpy as np

NONE_SEED = 11
N_NONE = 180


def _digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data.astype(np.float64), bunch.target.astype(np.int64), list(bunch.feature_names)


def load_digits_2_vs_not_2():
    """The 8x8 digits with d = 1 for "2" and d = 0 for "not 2" (001)."""
    x, digit, names = _digits()
    return x, (digit == 2).astype(np.int64), "classification", ["not 2", "2"], names, "is_2"


def non_digit_images(n: int, x_digits: np.ndarray, seed: int = NONE_SEED) -> np.ndarray:
    """``n`` "none of the above" inputs: half uniform noise, half scrambled digit images."""
    rng = np.random.default_rng(seed)
    n_noise = n // 2
    noise = rng.integers(0, 17, size=(n_noise, x_digits.shape[1])).astype(np.float64)
    picks = x_digits[rng.choice(len(x_digits), size=n - n_noise, replace=False)]
    scrambled = np.stack([rng.permutation(row) for row in picks])
    return np.concatenate([noise, scrambled])


def load_digits_11():
    """The ten digits plus an 11th class "none" of non-digit inputs (001)."""
    x, digit, names = _digits()
    none = non_digit_images(N_NONE, x)
    x = np.concatenate([x, none])
    d = np.concatenate([digit, np.full(len(none), 10, dtype=np.int64)])
    return x, d, "classification", [str(k) for k in range(10)] + ["none"], names, "digit"


TASK_SETS = {"digits_2_vs_not_2": load_digits_2_vs_not_2, "digits_11": load_digits_11}
