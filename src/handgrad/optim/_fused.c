/* handgrad.optim._fused: the optimizers' update rules compiled to one pass over the flat vectors.
 *
 * Why C: NumPy spends a pass over memory per arithmetic operation, so Adam on 1.9 M parameters is
 * ten passes (~3.5 ms); one fused loop is ~0.9 ms. Numba gives the same loop but costs ~110 MB of
 * resident memory for LLVM in every training process; this module costs a few kilobytes and no
 * start-up. kernels.py holds the same rules in NumPy, which the tests hold these to bit for bit and
 * which run wherever this module could not be built.
 *
 * Each function takes contiguous, non-overlapping NumPy arrays of one native element type,
 * float32 (suffix _f32) or float64 (_f64), and checks all of that before it touches memory;
 * kernels.py picks the suffix by dtype. Built with -fno-math-errno so that sqrt
 * vectorises; no -ffast-math and no FMA contraction (-ffp-contract=off): every operation is
 * rounded as NumPy rounds it. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

static void release_views(Py_buffer *views, int count)
{
    for (int i = 0; i < count; i++)
        PyBuffer_Release(&views[i]);
}

/* One argument as a contiguous vector of the given element type (format character and size):
 * a NumPy array of another dtype or byte order, a strided view or, for a written argument, a
 * read-only array raises instead of being reinterpreted. 1 on success, else 0 with an exception
 * set and nothing held. */
static int get_vector(PyObject *object, Py_buffer *view, char mode, char typecode,
                      Py_ssize_t itemsize, int index)
{
    int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (mode == 'w' ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(object, view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "fused update: argument %d must be a contiguous%s array "
                     "of %s", index, mode == 'w' ? ", writable" : "",
                     typecode == 'f' ? "float32" : "float64");
        return 0;
    }
    const char *format = view->format;
    if (format != NULL && (format[0] == '<' || format[0] == '=' || format[0] == '@'))
        format++;  /* native byte order written out: '<' on the little-endian machines built for */
    if (view->itemsize != itemsize || format == NULL || format[0] != typecode || format[1]) {
        PyErr_Format(PyExc_TypeError, "fused update: argument %d has element format '%s', "
                     "expected %s", index, view->format ? view->format : "B",
                     typecode == 'f' ? "float32" : "float64");
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

/* 1 if no two non-empty buffers share memory: the loops take their arguments as restrict
 * pointers, and an update that read what it had just written would be another update. */
static int disjoint(Py_buffer *views, int count)
{
    for (int i = 0; i < count; i++) {
        for (int j = i + 1; j < count; j++) {
            const char *a = views[i].buf, *b = views[j].buf;
            if (views[i].len && views[j].len && a < b + views[j].len && b < a + views[i].len) {
                PyErr_Format(PyExc_ValueError, "fused update: arguments %d and %d overlap in "
                             "memory", i, j);
                return 0;
            }
        }
    }
    return 1;
}

#define T float
#define NAME(f) f##_f32
#define SQRT sqrtf
#define TYPECODE 'f'
#include "_fused_rules.h"
#undef T
#undef NAME
#undef SQRT
#undef TYPECODE

#define T double
#define NAME(f) f##_f64
#define SQRT sqrt
#define TYPECODE 'd'
#include "_fused_rules.h"
#undef T
#undef NAME
#undef SQRT
#undef TYPECODE

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
