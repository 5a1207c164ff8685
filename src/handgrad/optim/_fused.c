/* handgrad.optim._fused: the optimizers' update rules compiled to one pass over the flat vectors.
 *
 * Why C: NumPy spends a pass over memory per arithmetic operation, where this loop reads and writes
 * each vector once (BENCHMARKS.md has the numbers). Numba gives the same loop but adds LLVM to every
 * training process's resident memory; this module costs a few kilobytes and no start-up.
 * kernels.py holds the same rules as in-place NumPy chains (which run wherever this module could
 * not be built); tests/optim/test_kernels.py holds both to each other bit for bit and to the
 * readable rules, subnormals aside: the loops over decaying state run with flush-to-zero
 * (BEGIN_UPDATE, _buffers.h).
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
    BOTH(add_scaled), BOTH(sgd), BOTH(sgd_momentum), BOTH(momentum), BOTH(nesterov_correct),
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
