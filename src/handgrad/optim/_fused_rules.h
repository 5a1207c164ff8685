/* The update rules of handgrad.optim.kernels for one element type, included once per type by
 * _fused.c with T (float or double), NAME(f) (the function's suffixed name) and SQRT defined.
 *
 * Each loop is the NumPy rule of kernels.py written element by element, operation for operation
 * in the same order and in T arithmetic (the coefficients arrive as doubles and are rounded to T
 * once, as NumPy rounds a Python float meeting a float32 array), so both give the same bits. */

CLONES
static void NAME(add_scaled_loop)(Py_ssize_t n, T *restrict x, T alpha, const T *restrict y)
{
    for (Py_ssize_t i = 0; i < n; i++)
        x[i] += alpha * y[i];
}

CLONES
static void NAME(sgd_momentum_loop)(Py_ssize_t n, T *restrict theta, const T *restrict g,
                                    T *restrict b, T lr, T mu, T one_minus_tau, int nesterov,
                                    int first)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        T gi = g[i];
        T bi = first ? gi : mu * b[i] + one_minus_tau * gi;
        b[i] = bi;
        theta[i] -= lr * (nesterov ? gi + mu * bi : bi);
    }
}

CLONES
static void NAME(momentum_loop)(Py_ssize_t n, T *restrict theta, const T *restrict g,
                                T *restrict delta_w, T lr, T beta)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        T d = beta * delta_w[i] - lr * g[i];
        delta_w[i] = d;
        theta[i] += d;
    }
}

CLONES
static void NAME(nesterov_correct_loop)(Py_ssize_t n, T *restrict theta, const T *restrict g,
                                        T *restrict delta_w, T lr, T beta)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        T s = lr * g[i];
        theta[i] -= s;
        delta_w[i] = beta * delta_w[i] - s;
    }
}

CLONES
static void NAME(adagrad_loop)(Py_ssize_t n, T *restrict theta, const T *restrict g,
                               T *restrict sum_sq, T lr, T eps)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        T gi = g[i];
        T v = sum_sq[i] + gi * gi;
        sum_sq[i] = v;
        theta[i] -= lr * (gi / (SQRT(v) + eps));
    }
}

CLONES
static void NAME(rmsprop_loop)(Py_ssize_t n, T *restrict theta, const T *restrict g,
                               T *restrict square_avg, T *restrict grad_avg, T *restrict buf,
                               T lr, T alpha, T one_minus_alpha, T eps, T mu, int centered,
                               int with_momentum)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        T gi = g[i];
        T v = alpha * square_avg[i] + one_minus_alpha * (gi * gi);
        square_avg[i] = v;
        if (centered) {
            T m = grad_avg[i] + one_minus_alpha * (gi - grad_avg[i]);
            grad_avg[i] = m;
            v = v - m * m;
        }
        T step = gi / (SQRT(v) + eps);
        if (with_momentum) {
            step = mu * buf[i] + step;
            buf[i] = step;
        }
        theta[i] -= lr * step;
    }
}

CLONES
static void NAME(adam_loop)(Py_ssize_t n, T *restrict theta, const T *restrict g,
                            T *restrict exp_avg, T *restrict exp_avg_sq,
                            T *restrict max_exp_avg_sq, T step_size, T one_minus_beta1, T beta2,
                            T one_minus_beta2, T bias_correction2_sqrt, T eps, int amsgrad,
                            T decay, const T *restrict mask, int masked)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (decay != 0)  /* AdamW's decoupled decay, W <- W - eta lambda M W, before the step */
            theta[i] -= (masked ? theta[i] * mask[i] : theta[i]) * decay;
        T gi = g[i];
        T m = exp_avg[i] + one_minus_beta1 * (gi - exp_avg[i]);
        T v = beta2 * exp_avg_sq[i] + one_minus_beta2 * (gi * gi);
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        if (amsgrad) {  /* np.maximum's rule: a NaN on either side wins */
            T a = max_exp_avg_sq[i];
            v = (a > v || a != a) ? a : v;
            max_exp_avg_sq[i] = v;
        }
        theta[i] -= step_size * (m / (SQRT(v) / bias_correction2_sqrt + eps));
    }
}

/* --- the Python-facing wrappers: check the vectors, release the GIL, run the loop ----------- */

/* Whether a rule dividing by sqrt(state) + eps may flush subnormals (BEGIN_UPDATE, _buffers.h):
 * only while eps, in T, is a normal number and so keeps the denominator away from 0. */
#define EPS_KEEPS_DENOMINATOR(eps) ((T)(eps) >= (sizeof(T) == 4 ? (T)FLT_MIN : (T)DBL_MIN))

/* x <- x + alpha y, flushed when y is decaying state (Nesterov's look-ahead W + beta Delta W) and
 * not for plain SGD's W - eta g, which holds no decaying state and where flushing measured no
 * faster, only different. */
static PyObject *NAME(run_add_scaled)(PyObject *args, int flush)
{
    PyObject *o[2];
    Py_buffer v[2];
    double alpha;
    if (!PyArg_ParseTuple(args, "OdO", &o[0], &alpha, &o[1])
        || !get_vectors(o, v, "wr", TYPECODE, NULL, 2, NULL))
        return NULL;
    BEGIN_UPDATE(flush)
    NAME(add_scaled_loop)(v[0].len / sizeof(T), v[0].buf, (T)alpha, v[1].buf);
    END_UPDATE
    release_views(v, 2);
    Py_RETURN_NONE;
}

static PyObject *NAME(add_scaled)(PyObject *self, PyObject *args)
{
    return NAME(run_add_scaled)(args, 1);
}

static PyObject *NAME(sgd)(PyObject *self, PyObject *args)
{
    return NAME(run_add_scaled)(args, 0);
}

static PyObject *NAME(sgd_momentum)(PyObject *self, PyObject *args)
{
    PyObject *o[3];
    Py_buffer v[3];
    double lr, mu, one_minus_tau;
    int nesterov, first;
    if (!PyArg_ParseTuple(args, "OOOdddpp", &o[0], &o[1], &o[2], &lr, &mu, &one_minus_tau,
                          &nesterov, &first)
        || !get_vectors(o, v, "wrw", TYPECODE, NULL, 3, NULL))
        return NULL;
    BEGIN_UPDATE(1)
    NAME(sgd_momentum_loop)(v[0].len / sizeof(T), v[0].buf, v[1].buf, v[2].buf, (T)lr, (T)mu,
                            (T)one_minus_tau, nesterov, first);
    END_UPDATE
    release_views(v, 3);
    Py_RETURN_NONE;
}

/* The rules of the form loop(theta, g, state, a, b): momentum, Nesterov's correction, AdaGrad
 * (whose b is eps: b_is_eps says so). */
typedef void (*NAME(state_rule))(Py_ssize_t, T *restrict, const T *restrict, T *restrict, T, T);

static PyObject *NAME(run_state_rule)(PyObject *args, NAME(state_rule) loop, int b_is_eps)
{
    PyObject *o[3];
    Py_buffer v[3];
    double a, b;
    if (!PyArg_ParseTuple(args, "OOOdd", &o[0], &o[1], &o[2], &a, &b)
        || !get_vectors(o, v, "wrw", TYPECODE, NULL, 3, NULL))
        return NULL;
    BEGIN_UPDATE(!b_is_eps || EPS_KEEPS_DENOMINATOR(b))
    loop(v[0].len / sizeof(T), v[0].buf, v[1].buf, v[2].buf, (T)a, (T)b);
    END_UPDATE
    release_views(v, 3);
    Py_RETURN_NONE;
}

static PyObject *NAME(momentum)(PyObject *self, PyObject *args)
{
    return NAME(run_state_rule)(args, NAME(momentum_loop), 0);
}

static PyObject *NAME(nesterov_correct)(PyObject *self, PyObject *args)
{
    return NAME(run_state_rule)(args, NAME(nesterov_correct_loop), 0);
}

static PyObject *NAME(adagrad)(PyObject *self, PyObject *args)
{
    return NAME(run_state_rule)(args, NAME(adagrad_loop), 1);
}

static PyObject *NAME(rmsprop)(PyObject *self, PyObject *args)
{
    PyObject *o[5];
    Py_buffer v[5];
    double lr, alpha, one_minus_alpha, eps, mu;
    int centered, with_momentum;
    if (!PyArg_ParseTuple(args, "OOOOOdddddpp", &o[0], &o[1], &o[2], &o[3], &o[4], &lr, &alpha,
                          &one_minus_alpha, &eps, &mu, &centered, &with_momentum))
        return NULL;
    const int in_use[5] = {1, 1, 1, centered, with_momentum};
    if (!get_vectors(o, v, "wrwww", TYPECODE, NULL, 5, in_use))
        return NULL;
    BEGIN_UPDATE(EPS_KEEPS_DENOMINATOR(eps))
    NAME(rmsprop_loop)(v[0].len / sizeof(T), v[0].buf, v[1].buf, v[2].buf, v[3].buf, v[4].buf,
                       (T)lr, (T)alpha, (T)one_minus_alpha, (T)eps, (T)mu, centered,
                       with_momentum);
    END_UPDATE
    release_views(v, 5);
    Py_RETURN_NONE;
}

static PyObject *NAME(adam)(PyObject *self, PyObject *args)
{
    PyObject *o[6];
    Py_buffer v[6];
    double step_size, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, decay;
    int amsgrad;
    if (!PyArg_ParseTuple(args, "OOOOOddddddpdO", &o[0], &o[1], &o[2], &o[3], &o[4], &step_size,
                          &one_minus_beta1, &beta2, &one_minus_beta2, &bc2_sqrt, &eps, &amsgrad,
                          &decay, &o[5]))
        return NULL;
    /* the decay mask may be empty: every entry decays (decay_biases=True) */
    const int in_use[6] = {1, 1, 1, 1, amsgrad, 0};
    if (!get_vectors(o, v, "wrwwwr", TYPECODE, NULL, 6, in_use))
        return NULL;
    int masked = v[5].len > 0;
    if (masked && v[5].len != v[0].len) {
        PyErr_Format(PyExc_ValueError, "fused update: argument 13 (the decay mask) holds %zd "
                     "elements, the parameters %zd", v[5].len / (Py_ssize_t)sizeof(T),
                     v[0].len / (Py_ssize_t)sizeof(T));
        release_views(v, 6);
        return NULL;
    }
    BEGIN_UPDATE(EPS_KEEPS_DENOMINATOR(eps))
    NAME(adam_loop)(v[0].len / sizeof(T), v[0].buf, v[1].buf, v[2].buf, v[3].buf, v[4].buf,
                    (T)step_size, (T)one_minus_beta1, (T)beta2, (T)one_minus_beta2,
                    (T)bc2_sqrt, (T)eps, amsgrad, (T)decay, v[5].buf, masked);
    END_UPDATE
    release_views(v, 6);
    Py_RETURN_NONE;
}

/* The parameters of this instantiation: the next one defines them anew. */
#undef T
#undef NAME
#undef SQRT
#undef TYPECODE
#undef EPS_KEEPS_DENOMINATOR
