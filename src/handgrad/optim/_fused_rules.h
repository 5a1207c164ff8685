/* The update rules of handgrad.optim.kernels for one element type, included once per type by
 * _fused.c with T (float or double), NAME(f) (the function's suffixed name) and SQRT defined.
 *
 * Each loop is the NumPy rule of kernels.py written element by element, operation for operation
 * in the same order and in T arithmetic (the coefficients arrive as doubles and are rounded to T
 * once, as NumPy rounds a Python float meeting a float32 array), so both give the same bits. */

static void NAME(add_scaled_loop)(Py_ssize_t n, T *restrict x, T alpha, const T *restrict y)
{
    for (Py_ssize_t i = 0; i < n; i++)
        x[i] += alpha * y[i];
}

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

static void NAME(momentum_loop)(Py_ssize_t n, T *restrict theta, const T *restrict g,
                                T *restrict delta_w, T lr, T beta)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        T d = beta * delta_w[i] - lr * g[i];
        delta_w[i] = d;
        theta[i] += d;
    }
}

static void NAME(nesterov_correct_loop)(Py_ssize_t n, T *restrict theta, const T *restrict g,
                                        T *restrict delta_w, T lr, T beta)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        T s = lr * g[i];
        theta[i] -= s;
        delta_w[i] = beta * delta_w[i] - s;
    }
}

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

static void NAME(adam_loop)(Py_ssize_t n, T *restrict theta, const T *restrict g,
                            T *restrict exp_avg, T *restrict exp_avg_sq,
                            T *restrict max_exp_avg_sq, T step_size, T one_minus_beta1, T beta2,
                            T one_minus_beta2, T bias_correction2_sqrt, T eps, int amsgrad)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        T gi = g[i];
        T m = exp_avg[i] + one_minus_beta1 * (gi - exp_avg[i]);
        T v = beta2 * exp_avg_sq[i] + one_minus_beta2 * (gi * gi);
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        if (amsgrad) {
            v = max_exp_avg_sq[i] > v ? max_exp_avg_sq[i] : v;
            max_exp_avg_sq[i] = v;
        }
        theta[i] -= step_size * (m / (SQRT(v) / bias_correction2_sqrt + eps));
    }
}

/* --- the Python-facing wrappers: parse, check lengths, release the GIL, run the loop --------- */

static PyObject *NAME(add_scaled)(PyObject *self, PyObject *args)
{
    Py_buffer x, y;
    double alpha;
    if (!PyArg_ParseTuple(args, "w*dy*", &x, &alpha, &y))
        return NULL;
    Py_buffer *all[] = {&x, &y};
    if (!same_lengths(all, 2, x.len)) { release(all, 2); return NULL; }
    Py_BEGIN_ALLOW_THREADS
    NAME(add_scaled_loop)(x.len / sizeof(T), x.buf, (T)alpha, y.buf);
    Py_END_ALLOW_THREADS
    release(all, 2);
    Py_RETURN_NONE;
}

static PyObject *NAME(sgd_momentum)(PyObject *self, PyObject *args)
{
    Py_buffer theta, g, b;
    double lr, mu, one_minus_tau;
    int nesterov, first;
    if (!PyArg_ParseTuple(args, "w*y*w*dddpp", &theta, &g, &b, &lr, &mu, &one_minus_tau,
                          &nesterov, &first))
        return NULL;
    Py_buffer *all[] = {&theta, &g, &b};
    if (!same_lengths(all, 3, theta.len)) { release(all, 3); return NULL; }
    Py_BEGIN_ALLOW_THREADS
    NAME(sgd_momentum_loop)(theta.len / sizeof(T), theta.buf, g.buf, b.buf, (T)lr, (T)mu,
                            (T)one_minus_tau, nesterov, first);
    Py_END_ALLOW_THREADS
    release(all, 3);
    Py_RETURN_NONE;
}

static PyObject *NAME(momentum)(PyObject *self, PyObject *args)
{
    Py_buffer theta, g, d;
    double lr, beta;
    if (!PyArg_ParseTuple(args, "w*y*w*dd", &theta, &g, &d, &lr, &beta))
        return NULL;
    Py_buffer *all[] = {&theta, &g, &d};
    if (!same_lengths(all, 3, theta.len)) { release(all, 3); return NULL; }
    Py_BEGIN_ALLOW_THREADS
    NAME(momentum_loop)(theta.len / sizeof(T), theta.buf, g.buf, d.buf, (T)lr, (T)beta);
    Py_END_ALLOW_THREADS
    release(all, 3);
    Py_RETURN_NONE;
}

static PyObject *NAME(nesterov_correct)(PyObject *self, PyObject *args)
{
    Py_buffer theta, g, d;
    double lr, beta;
    if (!PyArg_ParseTuple(args, "w*y*w*dd", &theta, &g, &d, &lr, &beta))
        return NULL;
    Py_buffer *all[] = {&theta, &g, &d};
    if (!same_lengths(all, 3, theta.len)) { release(all, 3); return NULL; }
    Py_BEGIN_ALLOW_THREADS
    NAME(nesterov_correct_loop)(theta.len / sizeof(T), theta.buf, g.buf, d.buf, (T)lr, (T)beta);
    Py_END_ALLOW_THREADS
    release(all, 3);
    Py_RETURN_NONE;
}

static PyObject *NAME(adagrad)(PyObject *self, PyObject *args)
{
    Py_buffer theta, g, v;
    double lr, eps;
    if (!PyArg_ParseTuple(args, "w*y*w*dd", &theta, &g, &v, &lr, &eps))
        return NULL;
    Py_buffer *all[] = {&theta, &g, &v};
    if (!same_lengths(all, 3, theta.len)) { release(all, 3); return NULL; }
    Py_BEGIN_ALLOW_THREADS
    NAME(adagrad_loop)(theta.len / sizeof(T), theta.buf, g.buf, v.buf, (T)lr, (T)eps);
    Py_END_ALLOW_THREADS
    release(all, 3);
    Py_RETURN_NONE;
}

static PyObject *NAME(rmsprop)(PyObject *self, PyObject *args)
{
    Py_buffer theta, g, sq, avg, buf;
    double lr, alpha, one_minus_alpha, eps, mu;
    int centered, with_momentum;
    if (!PyArg_ParseTuple(args, "w*y*w*w*w*dddddpp", &theta, &g, &sq, &avg, &buf, &lr, &alpha,
                          &one_minus_alpha, &eps, &mu, &centered, &with_momentum))
        return NULL;
    Py_buffer *all[] = {&theta, &g, &sq, &avg, &buf};
    int ok = same_lengths(all, 3, theta.len)
             && (!centered || same_lengths(&all[3], 1, theta.len))
             && (!with_momentum || same_lengths(&all[4], 1, theta.len));
    if (!ok) { release(all, 5); return NULL; }
    Py_BEGIN_ALLOW_THREADS
    NAME(rmsprop_loop)(theta.len / sizeof(T), theta.buf, g.buf, sq.buf, avg.buf, buf.buf, (T)lr,
                       (T)alpha, (T)one_minus_alpha, (T)eps, (T)mu, centered, with_momentum);
    Py_END_ALLOW_THREADS
    release(all, 5);
    Py_RETURN_NONE;
}

static PyObject *NAME(adam)(PyObject *self, PyObject *args)
{
    Py_buffer theta, g, m, v, vmax;
    double step_size, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps;
    int amsgrad;
    if (!PyArg_ParseTuple(args, "w*y*w*w*w*ddddddp", &theta, &g, &m, &v, &vmax, &step_size,
                          &one_minus_beta1, &beta2, &one_minus_beta2, &bc2_sqrt, &eps, &amsgrad))
        return NULL;
    Py_buffer *all[] = {&theta, &g, &m, &v, &vmax};
    int ok = same_lengths(all, 4, theta.len)
             && (!amsgrad || same_lengths(&all[4], 1, theta.len));
    if (!ok) { release(all, 5); return NULL; }
    Py_BEGIN_ALLOW_THREADS
    NAME(adam_loop)(theta.len / sizeof(T), theta.buf, g.buf, m.buf, v.buf, vmax.buf,
                    (T)step_size, (T)one_minus_beta1, (T)beta2, (T)one_minus_beta2,
                    (T)bc2_sqrt, (T)eps, amsgrad);
    Py_END_ALLOW_THREADS
    release(all, 5);
    Py_RETURN_NONE;
}
