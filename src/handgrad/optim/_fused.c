/* handgrad.optim._fused: the optimizers' update rules compiled to one pass over the flat vectors.
 *
 * Why C: NumPy spends a pass over memory per arithmetic operation, so Adam on 1.9 M parameters is
 * ten passes (~3.5 ms); one fused loop is ~0.85 ms (compiled for AVX2 as well, see CLONES in
 * _buffers.h). Numba gives the same loop but costs ~110 MB of resident memory for LLVM in every
 * training process; this module costs a few kilobytes and no start-up. kernels.py holds the
 * same rules in NumPy, which run wherever this module could not be built and to which the tests
 * hold these bit for bit, subnormals aside: the loops run with flush-to-zero (BEGIN_UPDATE,
 * _buffers.h says why).
 *
 * Each function takes contiguous, non-overlapping NumPy arrays of one native element type,
 * float32 (suffix _f32) or float64 (_f64), and checks all of that before it touches memory;
 * kernels.py picks the suffix by dtype. Built with -fno-math-errno so that sqrt
 * vectorises; no -ffast-math and no FMA contraction (-ffp-contract=off): every operation is
 * rounded as NumPy rounds it. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>

#define BUFFER_WHO "fused update"
#include "../_buffers.h"


#define T float
#define NAME(f) f##_f32
#define SQRT sqrtf
#define TYPECODE 'f'
#include "_fused_rules.h"  /* which #undefs these at its end */

#define T double
#define NAME(f) f##_f64
#define SQRT sqrt
#define TYPECODE 'd'
#include "_fused_rules.h"  /* which #undefs these at its end */

#define BOTH(f) {#f "_f32", f##_f32, METH_VARARGS, NULL}, {#f "_f64", f##_f64, METH_VARARGS, NULL}

static PyMethodDef methods[] = {
    BOTH(add_scaled), BOTH(sgd_momentum), BOTH(momentum), BOTH(nesterov_correct),
    BOTH(adagrad), BOTH(rmsprop), BOTH(adam),
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_fused",
    .m_doc = "The optimizers' update rules as single compiled passes (see handgrad.optim.kernels).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__fused(void)
{
    return PyModule_Create(&module);
}
