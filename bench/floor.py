"""The floor: a minimal hand-written NumPy MLP, the least time NumPy needs for the same step.

It is what a careful person writes for one fixed architecture (ReLU hidden layers, softmax
cross-entropy on logits) with nothing general about it: one flat parameter vector, every buffer
allocated once per batch size, ``out=`` matrix products in the layout BLAS runs fastest here (one
sample per column, as handgrad's Linear), the bias added and the ReLU applied in place, the
gradients written (not accumulated) straight into the flat gradient, no gradient for the input
data, and the optimizers as a handful of in-place passes over the flat vectors, one thread.
handgrad must not be slower than this.
"""

from __future__ import annotations

import numpy as np


class FloorMLP:
    """sizes[0] -> ... -> sizes[-1]; ReLU between the affine layers, logits out; W stored (out, in)."""

    def __init__(self, sizes, seed: int = 0, dtype=np.float32):
        self.sizes = [int(s) for s in sizes]
        self.dtype = np.dtype(dtype)
        shapes = list(zip(self.sizes[1:], self.sizes[:-1]))
        total = sum(o * i + o for o, i in shapes)
        self.theta = np.zeros(total, dtype=self.dtype)
        self.grad = np.zeros(total, dtype=self.dtype)
        self.W, self.b, self.gW, self.gb = [], [], [], []
        rng = np.random.default_rng(seed)
        offset = 0
        for out, inp in shapes:
            for store, gstore, shape in ((self.W, self.gW, (out, inp)), (self.b, self.gb, (out,))):
                end = offset + int(np.prod(shape))
                store.append(self.theta[offset:end].reshape(shape))
                gstore.append(self.grad[offset:end].reshape(shape))
                offset = end
            limit = np.sqrt(6.0 / (inp + out))  # Xavier-uniform weights, zero biases
            self.W[-1][...] = rng.uniform(-limit, limit, size=(out, inp))
        self._buffers: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}

    def buffers(self, batch: int):
        """Activations y_k and backward buffers grad_y_k for one batch size, made once. Each is
        stored one sample per column, (width, batch), and used through its transpose (a view): with
        W stored (out, in), W @ y^T is the fastest layout for the products."""
        if batch not in self._buffers:
            ys = [np.empty((width, batch), self.dtype).T for width in self.sizes[1:]]
            grads = [np.empty((width, batch), self.dtype).T for width in self.sizes[1:-1]]
            self._buffers[batch] = (ys, grads)
        return self._buffers[batch]

    def forward(self, x: np.ndarray) -> np.ndarray:
        ys, _ = self.buffers(x.shape[0])
        y = x
        last = len(self.W) - 1
        for k, (W, b) in enumerate(zip(self.W, self.b)):
            z = ys[k]
            np.matmul(W, y.T, out=z.T)
            z += b
            if k < last:
                np.maximum(z, 0.0, out=z)
            y = z
        return y

    def loss_and_grad(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Cross-entropy of softmax(logits) and its gradient, written into ``self.grad``."""
        batch = x.shape[0]
        ys, grads = self.buffers(batch)
        p = self.forward(x)
        # Softmax in place on the logits; grad_z = (p - onehot) / batch.
        p -= p.max(axis=1, keepdims=True)
        np.exp(p, out=p)
        p /= p.sum(axis=1, keepdims=True)
        rows = np.arange(batch)
        loss = -float(np.log(np.maximum(p[rows, labels], 1e-30)).mean())
        p[rows, labels] -= 1.0
        p *= 1.0 / batch
        g = p
        for k in range(len(self.W) - 1, -1, -1):
            y_in = ys[k - 1] if k else x
            np.matmul(g.T, y_in, out=self.gW[k])
            np.sum(g, axis=0, out=self.gb[k])
            if k:
                g_in = grads[k - 1]
                np.matmul(self.W[k].T, g.T, out=g_in.T)
                g_in *= y_in > 0  # ReLU': y > 0 exactly where z > 0
                g = g_in
        return loss


class FloorSGD:
    """theta -= eta grad: one pass."""

    def __init__(self, theta, grad, lr=0.01):
        self.theta, self.grad, self.lr = theta, grad, lr
        self.work = np.empty_like(theta)

    def step(self):
        np.multiply(self.grad, self.lr, out=self.work)
        self.theta -= self.work


class FloorMomentum:
    """PyTorch's heavy ball: v = mu v + grad; theta -= eta v."""

    def __init__(self, theta, grad, lr=0.01, momentum=0.9):
        self.theta, self.grad, self.lr, self.mu = theta, grad, lr, momentum
        self.v = np.zeros_like(theta)
        self.work = np.empty_like(theta)

    def step(self):
        self.v *= self.mu
        self.v += self.grad
        np.multiply(self.v, self.lr, out=self.work)
        self.theta -= self.work


class FloorAdam:
    """Adam (Kingma & Ba 2015) as torch.optim.Adam computes it, in place over the flat vectors:
    m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
    theta -= eta/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)."""

    def __init__(self, theta, grad, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.theta, self.grad, self.lr, self.betas, self.eps = theta, grad, lr, betas, eps
        self.m, self.v = np.zeros_like(theta), np.zeros_like(theta)
        self.work = np.empty_like(theta)
        self.t = 0

    def step(self):
        b1, b2 = self.betas
        self.t += 1
        m, v, g, work = self.m, self.v, self.grad, self.work
        m *= b1
        np.multiply(g, 1.0 - b1, out=work)
        m += work
        v *= b2
        np.multiply(g, g, out=work)
        work *= 1.0 - b2
        v += work
        bias2 = np.sqrt(1.0 - b2 ** self.t)
        np.sqrt(v, out=work)
        work *= 1.0 / bias2
        work += self.eps
        np.divide(m, work, out=work)
        work *= self.lr / (1.0 - b1 ** self.t)
        self.theta -= work


FLOOR_OPTIMIZERS = {"sgd": FloorSGD, "momentum": FloorMomentum, "adam": FloorAdam}
