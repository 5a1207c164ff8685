"""Bad input gets a clear exception at the public boundary that names the problem: never a NumPy
broadcasting error from deep inside, never a silent NaN."""

import numpy as np
import pytest

from handgrad.errors import OptionError
from handgrad.nn import (MLP, BatchNorm1d, Dropout, Linear, Maxout, NonFiniteError, Sequential,
                         ShapeError, get_activation, get_loss)


def _mlp():
    return MLP([4, 6, 3], activation="relu", rng=0)


def _y(rows=3, cols=4):
    return np.random.default_rng(0).normal(size=(rows, cols))


# id -> (call, exception type, pattern the message must match)
BAD_INPUT = {
    # input width or rank that does not match the first layer
    "input_width": (lambda: _mlp()(np.ones((2, 5))), ShapeError,
                    r"input x has 5 features but the first layer expects 4"),
    "input_1d": (lambda: _mlp()(np.ones(4)), ShapeError, r"must be 2-D.*shape \(4,\)"),
    "input_3d": (lambda: _mlp()(np.ones((2, 4, 1))), ShapeError, r"must be 2-D"),
    "input_strings": (lambda: _mlp()(np.array([["a"] * 4])), TypeError,
                      r"input x must be a numeric array"),
    "linear_alone_width": (lambda: Linear(4, 3)(np.ones((2, 5))), ShapeError,
                           r"input x has 5 features but Linear\(4 -> 3, bias=True\) expects 4"),
    # layers that do not fit together are refused when the container is built
    "inner_layer_width": (lambda: Sequential(Linear(4, 3), Linear(5, 2)), ShapeError,
                          r"Linear\(5 -> 2, bias=True\) expects 5 input features, but the layer "
                          r"before it gives 3"),
    "maxout_then_linear": (lambda: Sequential(Linear(4, 6), Maxout(4)), ShapeError,
                           r"Maxout with pool 4 needs a width divisible by it, got 6"),
    "maxout_width": (lambda: Maxout(2).forward(np.ones((2, 5))), ShapeError,
                     r"pool 2 needs a width divisible by it, got 5"),
    # NaN or inf in the input or the prediction/target
    "input_nan": (lambda: _mlp()(np.array([[0.0, np.nan, 1.0, 2.0]])), NonFiniteError,
                  r"input x contains 1 NaN or inf"),
    "input_inf": (lambda: _mlp()(np.array([[0.0, np.inf, -np.inf, 2.0]])),
                  NonFiniteError, r"input x contains 2 NaN or inf"),
    "prediction_nan": (lambda: get_loss("mse")(np.full((2, 2), np.nan), np.ones((2, 2))),
                       NonFiniteError, r"prediction y contains 4 NaN"),
    "logits_inf": (lambda: get_loss("cross_entropy")(np.array([[np.inf, 0.0]]), [0]),
                   NonFiniteError, r"prediction z contains 1 NaN or inf"),
    "target_nan": (lambda: get_loss("mse")(np.ones((2, 2)), np.array([[1.0, np.nan], [0, 0]])),
                   NonFiniteError, r"target d contains 1 NaN"),
    "class_index_nan": (lambda: get_loss("cross_entropy")(_y(), np.array([0.0, np.nan, 1.0])),
                        NonFiniteError, r"class indices contains 1 NaN"),
    # target shape or dtype that does not match the loss
    "target_shape": (lambda: get_loss("mse")(_y(), np.ones((3, 3))), ShapeError,
                     r"mse: target d has shape \(3, 3\) but prediction y has shape \(3, 4\)"),
    "target_rows": (lambda: get_loss("half_mse")(_y(), np.ones((2, 4))), ShapeError,
                    r"target d has shape \(2, 4\)"),
    "target_1d_for_wide_output": (lambda: get_loss("mae")(_y(), np.ones(3)), ShapeError,
                                  r"target d has shape \(3,\)"),
    "prob_rows_width": (lambda: get_loss("cross_entropy")(_y(), np.full((3, 3), 1 / 3)),
                        ShapeError, r"cross_entropy: target d has shape \(3, 3\)"),
    "index_count": (lambda: get_loss("nll")(_y(), np.array([0, 1])), ShapeError,
                    r"nll: 2 class indices for 3 predictions"),
    "target_strings": (lambda: get_loss("mse")(_y(3, 1), np.array(["a", "b", "c"])), TypeError,
                       r"target d must be a numeric array, got dtype <U1"),
    "target_complex": (lambda: get_loss("mse")(_y(3, 1), np.ones(3) + 1j), TypeError,
                       r"target d must be real"),
    "fractional_index": (lambda: get_loss("cross_entropy")(_y(), np.array([0, 1.5, 2])),
                         TypeError, r"class indices must be integers"),
    "bool_index": (lambda: get_loss("cross_entropy")(_y(2), np.array([True, False])), TypeError,
                   r"class indices must be integers, got dtype bool"),
    "hinge_01_targets": (lambda: get_loss("hinge")(_y(3, 1), np.array([0.0, 1.0, 1.0])),
                         ValueError, r"hinge: targets must be -1 or \+1"),
    "bce_target_range": (lambda: get_loss("bce")(np.full((2, 1), 0.5), np.array([0.0, 2.0])),
                         ValueError, r"bce: targets must lie in \[0, 1\]"),
    "bce_prediction_range": (lambda: get_loss("bce")(np.array([[1.5], [0.2]]), np.array([0, 1])),
                             ValueError, r"predictions must be probabilities.*bce_logits"),
    "kl_prediction_range": (lambda: get_loss("kl")(2 * np.ones((2, 3)), np.array([0, 1])),
                            ValueError, r"kl: predictions must be probabilities"),
    "msle_domain": (lambda: get_loss("msle")(np.array([[-2.0]]), np.array([[1.0]])), ValueError,
                    r"msle needs predictions and targets greater than -1"),
    # class index out of range
    "index_too_big": (lambda: get_loss("cross_entropy")(_y(), np.array([0, 4, 1])), IndexError,
                      r"cross_entropy: class index 4 is out of range for 4 classes"),
    "index_negative": (lambda: get_loss("nll")(_y(), np.array([0, -1, 1])), IndexError,
                       r"nll: class index -1 is out of range for 4 classes"),
    "index_column": (lambda: get_loss("kl")(np.full((3, 4), 0.25), np.array([[0], [9], [1]])),
                     IndexError, r"kl: class index 9 is out of range for 4 classes"),
    # unknown names and options
    "unknown_activation": (lambda: get_activation("relux"), ValueError,
                           r"unknown activation 'relux'; expected one of: .*relu"),
    "unknown_hidden_activation": (lambda: MLP([3, 4, 2], activation="sigmod"), ValueError,
                                  r"unknown activation 'sigmod'"),
    "unknown_activation_no_hidden": (lambda: MLP([3, 2], activation="bogus"), ValueError,
                                     r"unknown activation 'bogus'"),
    "unknown_output": (lambda: MLP([3, 2], output="softmaxx"), ValueError,
                       r"unknown activation 'softmaxx'"),
    "activation_option": (lambda: get_activation("relu", alpha=0.1), ValueError,
                          r"activation 'relu' does not take the option\(s\) \['alpha'\]"),
    "unknown_loss": (lambda: get_loss("cross_entropi"), ValueError,
                     r"unknown loss 'cross_entropi'; expected one of: .*cross_entropy"),
    "unknown_reduction": (lambda: get_loss("mse", reduction="avg"), ValueError,
                          r"unknown reduction 'avg'; expected one of: mean, sum"),
    "unknown_init": (lambda: MLP([3, 2], init="glorot"), ValueError,
                     r"unknown initialization 'glorot'"),
    "unsupported_dtype": (lambda: MLP([3, 2], dtype=np.float16), ValueError,
                          r"invalid dtype: float16 \(expected float32 or float64\)"),
    "garbage_dtype": (lambda: MLP([3, 2], dtype="floaty"), OptionError,
                      r"invalid dtype: 'floaty' \(expected float32 or float64\)"),
    "mlp_sizes": (lambda: MLP([3]), OptionError, r"invalid MLP sizes: \[3\] \(expected a list "
                  r"of at least two positive integer widths"),
    "maxout_pool": (lambda: Maxout(0), OptionError, r"invalid Maxout pool: 0 \(expected a value in "
                    r"\[1, inf\]\)"),
    "maxout_pool_fraction": (lambda: Maxout(2.5), OptionError,
                             r"invalid Maxout pool: 2\.5 \(expected an integer\)"),
    "leaky_alpha_text": (lambda: get_activation("leaky_relu", alpha="x"), OptionError,
                         r"invalid leaky_relu alpha: 'x' \(expected a number\)"),
    "elu_alpha_nan": (lambda: get_activation("elu", alpha=float("nan")), OptionError,
                      r"invalid elu alpha: nan \(expected a finite number\)"),
    # issue 13's constructor holes: nothing truncated, every message names the option
    "linear_fraction": (lambda: Linear(2.5, 3), OptionError,
                        r"invalid Linear in_features: 2\.5 \(expected an integer\)"),
    "linear_text": (lambda: Linear("3", 4), OptionError,
                    r"invalid Linear in_features: '3' \(expected an integer\)"),
    "linear_zero_out": (lambda: Linear(3, 0), OptionError, r"invalid Linear out_features: 0"),
    "linear_bias_text": (lambda: Linear(3, 2, bias="no"), OptionError,
                         r"invalid Linear bias: 'no' \(expected True or False\)"),
    "mlp_fraction": (lambda: MLP([4, 2.7, 3]), OptionError,
                     r"invalid MLP sizes\[1\]: 2\.7 \(expected an integer\)"),
    "mlp_none": (lambda: MLP(None), OptionError, r"invalid MLP sizes: None"),
    "mlp_text_sizes": (lambda: MLP("784,10"), OptionError, r"invalid MLP sizes: '784,10'"),
    "mlp_negative": (lambda: MLP([4, -2, 3]), OptionError, r"invalid MLP sizes\[1\]: -2"),
    "mlp_activation_none": (lambda: MLP([4, 3], activation=None), OptionError,
                            r"invalid MLP activation: None \(expected an activation name"),
    "mlp_activation_instance": (lambda: MLP([4, 5, 3], activation=get_activation("relu")),
                                OptionError, r"invalid MLP activation: ReLU\(\)"),
    "mlp_dropout_one": (lambda: MLP([4, 5, 3], dropout=1.0), OptionError,
                        r"invalid MLP dropout: 1\.0 \(expected a value in \[0\.0, 1\.0\)\)"),
    "mlp_batchnorm_text": (lambda: MLP([4, 5, 3], batchnorm="no"), OptionError,
                           r"invalid MLP batchnorm: 'no' \(expected True or False\)"),
    "mlp_layers_between": (lambda: MLP([4, 5, 3], layers_between=3), OptionError,
                           r"invalid MLP layers_between: 3"),
    "dropout_p_one": (lambda: Dropout(1.0), OptionError, r"invalid Dropout p: 1\.0"),
    "dropout_p_text": (lambda: Dropout("0.5"), OptionError,
                       r"invalid Dropout p: '0\.5' \(expected a number\)"),
    "dropout_rng": (lambda: Dropout(0.5, rng=-1), OptionError, r"invalid Dropout rng: -1"),
    "batchnorm_features": (lambda: BatchNorm1d(2.5), OptionError,
                           r"invalid BatchNorm1d num_features: 2\.5"),
    "batchnorm_eps": (lambda: BatchNorm1d(3, eps=0), OptionError, r"invalid BatchNorm1d eps: 0"),
    "batchnorm_momentum": (lambda: BatchNorm1d(3, momentum=2), OptionError,
                           r"invalid BatchNorm1d momentum: 2"),
    # errors from NumPy or Python internals before (issue 13)
    "ce_empty": (lambda: get_loss("cross_entropy")(np.zeros((0, 3)), np.zeros(0, int)), ShapeError,
                 r"prediction z is empty \(shape \(0, 3\)\)"),
    "mse_empty": (lambda: get_loss("mse")(np.zeros((0, 1)), np.zeros(0)), ShapeError,
                  r"prediction y is empty"),
    "hinge_three_classes": (lambda: get_loss("hinge")(_y(3, 3), np.array([0, 1, 2])), ShapeError,
                            r"hinge is a two-class loss .*got 3 outputs.*use cross_entropy"),
    "hinge_class_labels": (lambda: get_loss("hinge")(_y(3, 1), np.array([0.0, 1.0, 2.0])),
                           ValueError, r"targets must be -1 or \+1, got 0, 1, 2: hinge is a "
                           r"two-class loss.*cross_entropy"),
    "linear_backward_first": (lambda: Linear(3, 2).backward(np.ones((1, 2))), RuntimeError,
                              r"Linear.backward called before forward"),
    "relu_backward_first": (lambda: get_activation("relu").backward(np.ones((1, 2))), RuntimeError,
                            r"ReLU.backward called before forward"),
    "softmax_backward_first": (lambda: get_activation("softmax").backward(np.ones((1, 2))),
                               RuntimeError, r"Softmax.backward called before forward"),
    "batchnorm_backward_first": (lambda: BatchNorm1d(3).backward(np.ones((2, 3))), RuntimeError,
                                 r"BatchNorm1d.backward called before forward"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_raises_a_clear_error(case):
    call, error, pattern = BAD_INPUT[case]
    with pytest.raises(error, match=pattern):
        call()


def test_names_are_case_and_dash_insensitive():
    assert get_activation("Leaky-ReLU").name == "leaky_relu"
    assert get_loss("Cross-Entropy").name == "cross_entropy"
    model = MLP([4, 6, 3], activation="Maxout", rng=0)  # was built with mismatched widths
    assert model.forward(np.ones((2, 4))).shape == (2, 3)


def test_backward_with_wrong_grad_shape_or_before_forward():
    model = MLP([3, 4, 2], activation="tanh", rng=0)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        model.backward(np.ones((5, 2)))
    model.forward(np.ones((5, 3)))
    # (1, 2) would broadcast through tanh's backward to (5, 2) without the check
    with pytest.raises(ShapeError, match=r"grad_y has shape \(1, 2\).*\(5, 2\)"):
        model.backward(np.ones((1, 2)))


@pytest.mark.parametrize("shape, where", [((3000, 700), (2999, 699)), ((2_500_000,), (0,)),
                                          ((40, 300, 200), (39, 0, 199))])
def test_large_arrays_are_checked_block_by_block_to_the_last_entry(shape, where):
    from handgrad.errors import NonFiniteError
    from handgrad.validate import check_finite
    x = np.ones(shape, dtype=np.float32)
    check_finite("x", x)
    check_finite("x", x.T)  # non-contiguous
    x[where] = np.inf
    with pytest.raises(NonFiniteError, match="1 NaN or inf"):
        check_finite("x", x)
    with pytest.raises(NonFiniteError, match="1 NaN or inf"):
        check_finite("x", x.T)
