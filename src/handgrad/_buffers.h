/* Shared by handgrad's C modules (optim/_fused.c, nn/_fused.c): NumPy arrays taken through the
 * buffer protocol as contiguous vectors of one native element type, and checked before any loop
 * touches their memory. The includer defines BUFFER_WHO, the prefix of its error messages. */

#ifndef HANDGRAD_BUFFERS_H
#define HANDGRAD_BUFFERS_H

/* CLONES before a loop: GCC (and Clang) compile it twice, for AVX2 and for the x86-64 baseline
 * (SSE2, what a portable build targets), and the loader picks the one the CPU runs: the update
 * rules' sqrt and division are throughput-bound, so twice the floats an instruction is nearly
 * twice the speed. AVX2 brings no FMA, so the rounding stays NumPy's. */
/* glibc only: target_clones needs the loader's ifunc support, which musl does not have. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

/* Subnormal floats take the CPU's microcode slow path, and an optimizer's decaying state gets
 * stuck among them (m <- 0.9 m rounds back to m a few subnormal steps above 0; the story and the
 * measurements are in docs/ARCHITECTURE.md).
 * BEGIN_UPDATE(flush) therefore runs a loop, when flush is true, with x86's flush-to-zero and
 * denormals-are-zero (MXCSR bits 15 and 6) on its own thread, restored by END_UPDATE: subnormal
 * inputs count as 0 and subnormal results are 0, the sign kept. The NumPy form keeps them, so
 * the two may differ where a subnormal enters an element's update (input, state or
 * intermediate), by ~1e-34 in float32: a weight at 0 stays 0 where NumPy moves it by that; they
 * agree to the bit wherever none does. A rule that divides by sqrt(v) + eps is flushed only
 * while eps is a normal number: with eps = 0 a flushed v would turn the step 0 / 0 into NaN.
 * On other processors than x86-64 the loops keep subnormals. */
#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define FLUSH_SUBNORMALS 0x8040u
#define BEGIN_UPDATE(flush) Py_BEGIN_ALLOW_THREADS \
    const unsigned int saved_csr_ = _mm_getcsr(); \
    if (flush) _mm_setcsr(saved_csr_ | FLUSH_SUBNORMALS);
#define END_UPDATE _mm_setcsr(saved_csr_); Py_END_ALLOW_THREADS
#else
#define BEGIN_UPDATE(flush) Py_BEGIN_ALLOW_THREADS
#define END_UPDATE Py_END_ALLOW_THREADS
#endif

static void release_views(Py_buffer *views, int count)
{
    for (int i = 0; i < count; i++)
        PyBuffer_Release(&views[i]);
}

/* One argument as a contiguous vector of the given element type (format character and size):
 * a NumPy array of another dtype or byte order, a strided view or, for a written argument, a
 * read-only array raises instead of being reinterpreted. 1 on success, else 0 with an exception
 * set and nothing held. */
static const char *type_name(char typecode)
{
    switch (typecode) {
    case 'f': return "float32";
    case 'd': return "float64";
    case '?': return "bool";
    default: return "intp";
    }
}

static int get_vector(PyObject *object, Py_buffer *view, char mode, char typecode,
                      Py_ssize_t itemsize, int index)
{
    int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (mode == 'w' ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(object, view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, BUFFER_WHO ": argument %d must be a contiguous%s array "
                     "of %s", index, mode == 'w' ? ", writable" : "",
                     type_name(typecode));
        return 0;
    }
    const char *format = view->format;
    if (format != NULL && (format[0] == '<' || format[0] == '=' || format[0] == '@'))
        format++;  /* native byte order written out: '<' on the little-endian machines built for */
    if (view->itemsize != itemsize || format == NULL || format[0] != typecode || format[1]) {
        PyErr_Format(PyExc_TypeError, BUFFER_WHO ": argument %d has element format '%s', "
                     "expected %s", index, view->format ? view->format : "B",
                     type_name(typecode));
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
                PyErr_Format(PyExc_ValueError, BUFFER_WHO ": arguments %d and %d overlap in "
                             "memory", i, j);
                return 0;
            }
        }
    }
    return 1;
}

static Py_ssize_t item_size(char typecode)
{
    return typecode == '?' ? 1 : typecode == 'f' ? 4 : 8;
}

/* Acquire `count` vectors at once: object i as a contiguous vector, written where modes[i] is 'w',
 * of element type `floats` ('f' or 'd'), or bool where bools (NULL: none) has '?' at i; every one
 * in use (in_use NULL: all) as long as the first in elements, whatever unused ones hold (grad_avg
 * without centring, say); all pairwise disjoint. 1 on success; else 0 with an exception set and
 * nothing held. */
static int get_vectors(PyObject **objects, Py_buffer *views, const char *modes, char floats,
                       const char *bools, int count, const int *in_use)
{
    for (int i = 0; i < count; i++) {
        const char type = bools != NULL && bools[i] == '?' ? '?' : floats;
        if (!get_vector(objects[i], &views[i], modes[i], type, item_size(type), i)) {
            release_views(views, i);
            return 0;
        }
    }
    const Py_ssize_t n = views[0].len / views[0].itemsize;
    for (int i = 1; i < count; i++) {
        const Py_ssize_t n_i = views[i].len / views[i].itemsize;
        if ((in_use == NULL || in_use[i]) && n_i != n) {
            PyErr_Format(PyExc_ValueError, BUFFER_WHO ": argument %d holds %zd elements, "
                         "argument 0 %zd", i, n_i, n);
            release_views(views, count);
            return 0;
        }
    }
    if (!disjoint(views, count)) {
        release_views(views, count);
        return 0;
    }
    return 1;
}

#endif
