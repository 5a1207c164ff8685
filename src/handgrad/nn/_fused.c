/* handgrad.nn._fused: the layers' elementwise passes that NumPy makes slowly, as one C loop each.
 *
 * Why C: each of these meets a whole batch of activations that the BLAS threads have just written,
 * and NumPy's forms take two passes (ReLU's mask, then z * mask, whose bool -> float cast runs
 * through a buffered loop), a strided inner loop per output unit (the bias add) or a boolean copy
 * of the input (the finiteness check); softmax cross-entropy on a small batch is a dozen NumPy
 * calls, here one loop. The measurements are in BENCHMARKS.md and docs/ARCHITECTURE.md.
 *
 * nn/kernels.py calls these behind the modules' readable math and holds the same operations in
 * NumPy, which run wherever this module could not be built; tests/nn/test_elementwise_kernels.py
 * holds the two to the same bits, except the softmax, which takes exp and log from the C library
 * and sums each row in order (NumPy sums pairwise): its p is a few ulp from NumPy's (the bound is
 * stated in kernels.py); its gradient, given p, is the same bits.
 *
 * Each function takes contiguous vectors of one native float type (suffix _f32 or _f64) and, for
 * ReLU, a bool mask, and checks them before it touches memory (_buffers.h). The loops are
 * branch-free, because a mask from random signs would mispredict every other element, and select
 * on the floats' bits; each is compiled for AVX2 and the baseline (CLONES). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define BUFFER_WHO "nn kernel"
#include "../_buffers.h"


/* Class indices as NumPy's intp: 8-byte signed integers on the 64-bit platforms built for, whose
 * buffer format is 'l' or 'q' depending on the C library's long. */
static int get_indices(PyObject *object, Py_buffer *view, int index)
{
    if (!get_vector(object, view, 'r', 'l', sizeof(Py_ssize_t), index)) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError))
            return 0;  /* a MemoryError, say, is not a wrong format */
        PyErr_Clear();
        if (!get_vector(object, view, 'r', 'q', sizeof(Py_ssize_t), index))
            return 0;
    }
    return 1;
}

#define T float
#define U uint32_t
#define NAME(f) f##_f32
#define TYPECODE 'f'
#define EXPONENT 0x7F800000u
#define EXP expf
#define LOG logf
#include "_fused_rules.h"  /* which #undefs these at its end */

#define T double
#define U uint64_t
#define NAME(f) f##_f64
#define TYPECODE 'd'
#define EXPONENT 0x7FF0000000000000u
#define EXP exp
#define LOG log
#include "_fused_rules.h"  /* which #undefs these at its end */

#define BOTH(f) {#f "_f32", f##_f32, METH_VARARGS, NULL}, {#f "_f64", f##_f64, METH_VARARGS, NULL}

static PyMethodDef methods[] = {
    BOTH(add_bias_rows), BOTH(relu_forward), BOTH(relu_backward), BOTH(all_finite),
    BOTH(softmax_xent), BOTH(softmax_xent_grad),
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_fused",
    .m_doc = "The layers' elementwise passes as single compiled loops (see handgrad.nn.kernels).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__fused(void)
{
    return PyModule_Create(&module);
}
