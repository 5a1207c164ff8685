/* handgrad.optim._fused: the optimizers' update rules compiled to one pass over the flat vectors.
 *
 * Why C: NumPy spends a pass over memory per arithmetic operation, so Adam on 1.9 M parameters is
 * ten passes (~3.5 ms); one fused loop is ~0.9 ms. Numba gives the same loop but costs ~110 MB of
 * resident memory for LLVM in every training process; this module costs a few kilobytes and no
 * start-up. kernels.py holds the same rules in NumPy, which the tests hold these to bit for bit and
 * which run wherever this module could not be built.
 *
 * Each function takes contiguous buffers (NumPy arrays) of one element type, float32 (suffix
 * _f32) or float64 (_f64); kernels.py picks by dtype. Built with -fno-math-errno so that sqrt
 * vectorises; no -ffast-math and no FMA contraction (-ffp-contract=off): every operation is
 * rounded as NumPy rounds it. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

static void release(Py_buffer **buffers, int count)
{
    for (int i = 0; i < count; i++)
        PyBuffer_Release(buffers[i]);
}

/* 1 if every buffer holds `len` bytes; otherwise 0 with a ValueError naming the lengths. */
static int same_lengths(Py_buffer **buffers, int count, Py_ssize_t len)
{
    for (int i = 0; i < count; i++) {
        if (buffers[i]->len != len) {
            PyErr_Format(PyExc_ValueError,
                         "fused update: vector %d holds %zd bytes, the parameters %zd", i,
                         buffers[i]->len, len);
            return 0;
        }
    }
    return 1;
}

#define T float
#define NAME(f) f##_f32
#define SQRT sqrtf
#include "_fused_rules.h"
#undef T
#undef NAME
#undef SQRT

#define T double
#define NAME(f) f##_f64
#define SQRT sqrt
#include "_fused_rules.h"
#undef T
#undef NAME
#undef SQRT

#define BOTH(f) {#f "_f32", f##_f32, METH_VARARGS, NULL}, {#f "_f64", f##_f64, METH_VARARGS, NULL}

static PyMethodDef methods[] = {
    BOTH(add_scaled), BOTH(sgd_momentum), BOTH(momentum), BOTH(nesterov_correct),
    BOTH(adagrad), BOTH(rmsprop), BOTH(adam),
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fused",
    "The optimizers' update rules as single compiled passes (see handgrad.optim.kernels).", -1,
    methods
};

PyMODINIT_FUNC PyInit__fused(void)
{
    return PyModule_Create(&module);
}
