/* The loops of nn/_fused.c for one float type T, whose bits are the unsigned integer U (included
 * once per type with T, U, NAME, TYPECODE and EXPONENT, the exponent field's mask, defined). */

/* z[r, :] += b[r] for a (rows, cols) row-major z: Linear's z^T, one row per output unit. */
CLONES
static void NAME(add_bias_rows_loop)(Py_ssize_t rows, Py_ssize_t cols, T *restrict z,
                                     const T *restrict b)
{
    for (Py_ssize_t r = 0; r < rows; r++) {
        const T br = b[r];
        T *restrict row = z + r * cols;
        for (Py_ssize_t c = 0; c < cols; c++)
            row[c] += br;
    }
}

/* mask = z > 0;  y = z where z > 0 or z is NaN (a NaN passes on, as in torch.relu), else +0. */
CLONES
static void NAME(relu_forward_loop)(Py_ssize_t n, const T *restrict z, T *restrict y,
                                    uint8_t *restrict mask)
{
    const U *restrict zu = (const U *)z;
    U *restrict yu = (U *)y;
    for (Py_ssize_t i = 0; i < n; i++) {
        const T v = z[i];
        const U keep = (U)(v > 0) | (U)(v != v);
        mask[i] = (uint8_t)(v > 0);
        yu[i] = zu[i] & ((U)0 - keep);
    }
}

/* out = g where mask, else +0 (a NaN where the unit was off does not pass, as in PyTorch). */
CLONES
static void NAME(relu_backward_loop)(Py_ssize_t n, const T *restrict g,
                                     const uint8_t *restrict mask, T *restrict out)
{
    const U *restrict gu = (const U *)g;
    U *restrict ou = (U *)out;
    for (Py_ssize_t i = 0; i < n; i++)
        ou[i] = gu[i] & ((U)0 - (U)(mask[i] != 0));
}

/* 1 if no element is NaN or +-inf: the exponent field is all ones exactly for those. */
CLONES
static int NAME(all_finite_loop)(Py_ssize_t n, const T *restrict x)
{
    const U *restrict xu = (const U *)x;
    U bad = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        bad |= (U)((xu[i] & EXPONENT) == EXPONENT);
    return bad == 0;
}

/* --- the Python-facing wrappers: check the vectors, release the GIL, run the loop ----------- */

static PyObject *NAME(add_bias_rows)(PyObject *self, PyObject *args)
{
    PyObject *o[2];
    Py_buffer v[2];
    Py_ssize_t rows;
    if (!PyArg_ParseTuple(args, "OOn", &o[0], &o[1], &rows))
        return NULL;
    if (!get_vector(o[0], &v[0], 'w', TYPECODE, sizeof(T), 0))
        return NULL;
    if (!get_vector(o[1], &v[1], 'r', TYPECODE, sizeof(T), 1)) {
        release_views(v, 1);
        return NULL;
    }
    const Py_ssize_t n = v[0].len / (Py_ssize_t)sizeof(T);
    if (rows < 1 || n % rows || v[1].len / (Py_ssize_t)sizeof(T) != rows) {
        PyErr_Format(PyExc_ValueError, BUFFER_WHO ": %zd elements are not %zd rows, one per bias "
                     "entry (%zd)", n, rows, v[1].len / (Py_ssize_t)sizeof(T));
        release_views(v, 2);
        return NULL;
    }
    if (!disjoint(v, 2)) {
        release_views(v, 2);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    NAME(add_bias_rows_loop)(rows, n / rows, v[0].buf, v[1].buf);
    Py_END_ALLOW_THREADS
    release_views(v, 2);
    Py_RETURN_NONE;
}

static PyObject *NAME(relu_forward)(PyObject *self, PyObject *args)
{
    PyObject *o[3];
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "OOO", &o[0], &o[1], &o[2])
        || !get_vectors(o, v, "rww", TYPECODE, "..?", 3, NULL))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    NAME(relu_forward_loop)(v[0].len / sizeof(T), v[0].buf, v[1].buf, v[2].buf);
    Py_END_ALLOW_THREADS
    release_views(v, 3);
    Py_RETURN_NONE;
}

static PyObject *NAME(relu_backward)(PyObject *self, PyObject *args)
{
    PyObject *o[3];
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "OOO", &o[0], &o[1], &o[2])
        || !get_vectors(o, v, "rrw", TYPECODE, ".?.", 3, NULL))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    NAME(relu_backward_loop)(v[0].len / sizeof(T), v[0].buf, v[1].buf, v[2].buf);
    Py_END_ALLOW_THREADS
    release_views(v, 3);
    Py_RETURN_NONE;
}

static PyObject *NAME(all_finite)(PyObject *self, PyObject *args)
{
    PyObject *o;
    Py_buffer v;
    int finite;
    if (!PyArg_ParseTuple(args, "O", &o) || !get_vector(o, &v, 'r', TYPECODE, sizeof(T), 0))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    finite = NAME(all_finite_loop)(v.len / sizeof(T), v.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&v);
    return PyBool_FromLong(finite);
}

/* --- softmax cross-entropy with class indices, row by row (Linear's logits are F-ordered) ---- */

/* These two keep the GIL: the class indices are checked once, in get_xent, and then index memory;
 * released, another thread could rewrite them in between. A batch's logits are small (128 x 10 in
 * workload 1), so nothing is lost by holding it. */

/* Element (i, j) of an (n, c) array at i * rs + j * cs. p <- softmax(z) per row; returns
 * sum_i [log sum_j exp(z_ij - max_i) - (z_{i,label_i} - max_i)], accumulated in double. */
CLONES
static double NAME(softmax_xent_loop)(Py_ssize_t n, Py_ssize_t c, Py_ssize_t rs, Py_ssize_t cs,
                                      const T *restrict z, const Py_ssize_t *restrict labels,
                                      T *restrict p)
{
    double loss = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const T *zi = z + i * rs;
        T *pi = p + i * rs;
        T top = zi[0];
        for (Py_ssize_t j = 1; j < c; j++)
            top = zi[j * cs] > top ? zi[j * cs] : top;
        T total = 0;
        for (Py_ssize_t j = 0; j < c; j++) {
            pi[j * cs] = EXP(zi[j * cs] - top);
            total += pi[j * cs];
        }
        for (Py_ssize_t j = 0; j < c; j++)
            pi[j * cs] /= total;
        loss += (double)LOG(total) - (double)(zi[labels[i] * cs] - top);
    }
    return loss;
}

/* grad_z = scale (p - d) with one-hot d: scale p, and scale (p - 1) at each row's class. */
CLONES
static void NAME(softmax_xent_grad_loop)(Py_ssize_t n, Py_ssize_t c, Py_ssize_t rs, Py_ssize_t cs,
                                         const T *restrict p, const Py_ssize_t *restrict labels,
                                         T scale, T *restrict out)
{
    for (Py_ssize_t i = 0; i < n; i++)
        for (Py_ssize_t j = 0; j < c; j++)
            out[i * rs + j * cs] = p[i * rs + j * cs] * scale;
    for (Py_ssize_t i = 0; i < n; i++)
        out[i * rs + labels[i] * cs] = (p[i * rs + labels[i] * cs] - (T)1) * scale;
}

/* The (n, c) layout of a 1-D vector: strides in elements for C (fortran = 0) or F order. */
static void NAME(layout)(Py_ssize_t n, Py_ssize_t c, int fortran, Py_ssize_t *rs, Py_ssize_t *cs)
{
    *rs = fortran ? 1 : c;
    *cs = fortran ? n : 1;
}

/* Acquire z-like vectors (modes) of n * c elements and the labels: n valid class indices. */
static int NAME(get_xent)(PyObject **o, Py_buffer *v, const char *modes, Py_ssize_t n,
                          Py_ssize_t c)
{
    if (n < 1 || c < 1 || c > PY_SSIZE_T_MAX / n) {  /* n * c below must not overflow */
        PyErr_Format(PyExc_ValueError, BUFFER_WHO ": softmax needs rows and classes, got %zd x "
                     "%zd", n, c);
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        if (!get_vector(o[i], &v[i], modes[i], TYPECODE, sizeof(T), i)) {
            release_views(v, i);
            return 0;
        }
    }
    if (!get_indices(o[2], &v[2], 2)) {
        release_views(v, 2);
        return 0;
    }
    if (v[0].len / (Py_ssize_t)sizeof(T) != n * c || v[1].len != v[0].len
        || v[2].len / (Py_ssize_t)sizeof(Py_ssize_t) != n) {
        PyErr_Format(PyExc_ValueError, BUFFER_WHO ": arguments do not hold %zd x %zd values and "
                     "%zd class indices", n, c, n);
        release_views(v, 3);
        return 0;
    }
    const Py_ssize_t *labels = v[2].buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= c) {
            PyErr_Format(PyExc_IndexError, BUFFER_WHO ": class index %zd is out of range for %zd "
                         "classes", labels[i], c);
            release_views(v, 3);
            return 0;
        }
    }
    if (!disjoint(v, 3)) {
        release_views(v, 3);
        return 0;
    }
    return 1;
}

static PyObject *NAME(softmax_xent)(PyObject *self, PyObject *args)
{
    PyObject *o[3];
    Py_buffer v[3];
    Py_ssize_t n, c, rs, cs;
    int fortran;
    double loss;
    if (!PyArg_ParseTuple(args, "OOOnnp", &o[0], &o[1], &o[2], &n, &c, &fortran)
        || !NAME(get_xent)(o, v, "rw", n, c))
        return NULL;
    NAME(layout)(n, c, fortran, &rs, &cs);
    loss = NAME(softmax_xent_loop)(n, c, rs, cs, v[0].buf, v[2].buf, v[1].buf);
    release_views(v, 3);
    return PyFloat_FromDouble(loss);
}

static PyObject *NAME(softmax_xent_grad)(PyObject *self, PyObject *args)
{
    PyObject *o[3];
    Py_buffer v[3];
    Py_ssize_t n, c, rs, cs;
    int fortran;
    double scale;
    if (!PyArg_ParseTuple(args, "OOOdnnp", &o[0], &o[1], &o[2], &scale, &n, &c, &fortran)
        || !NAME(get_xent)(o, v, "rw", n, c))
        return NULL;
    NAME(layout)(n, c, fortran, &rs, &cs);
    NAME(softmax_xent_grad_loop)(n, c, rs, cs, v[0].buf, v[2].buf, (T)scale, v[1].buf);
    release_views(v, 3);
    Py_RETURN_NONE;
}

/* The parameters of this instantiation: the next one defines them anew. */
#undef T
#undef U
#undef NAME
#undef TYPECODE
#undef EXPONENT
#undef EXP
#undef LOG
