"""One adapter per implementation, all with the same small interface, so every workload runs the
same code path for each:

    impl = IMPLEMENTATIONS[name](sizes, optimizer, lr, seed)
    impl.train_epochs(x, labels, batch, epochs)   # contiguous mini-batches in order, no shuffling
    impl.step(x, labels)                          # one training step on one batch
    impl.predict(x, batch)                        # inference, evaluation mode
    impl.prepare_grads(rng); impl.optimizer_step()  # the optimizer alone

torch and scikit-learn are imported inside their adapters only, so a handgrad or floor worker never
loads them (and its peak memory does not include them).
"""

from __future__ import annotations

import warnings

import numpy as np

from bench.floor import FLOOR_OPTIMIZERS, FloorMLP

MOMENTUM = 0.9


class FloorImpl:
    """The minimal NumPy loop of bench/floor.py."""

    name = "floor"

    def __init__(self, sizes, optimizer="adam", lr=1e-3, seed=0):
        self.model = FloorMLP(sizes, seed=seed)
        self.optimizer_name = optimizer
        self.opt = _floor_optimizer(optimizer, self.model.theta, self.model.grad, lr)

    def step(self, x, labels):
        self.model.loss_and_grad(x, labels)
        self.opt.step()

    def train_epochs(self, x, labels, batch, epochs):
        for _ in range(epochs):
            for start in range(0, len(x), batch):
                self.step(x[start:start + batch], labels[start:start + batch])

    def predict(self, x, batch):
        out = np.empty((len(x), self.model.sizes[-1]), dtype=np.float32)
        for start in range(0, len(x), batch):
            out[start:start + batch] = self.model.forward(x[start:start + batch])
        return out

    def prepare_grads(self, rng):
        self.model.grad[:] = rng.standard_normal(self.model.grad.size, dtype=np.float32)

    def optimizer_step(self):
        self.opt.step()

    def describe(self):
        return {"optimizer": f"bench.floor.{type(self.opt).__name__}"}


def _floor_optimizer(name, theta, grad, lr):
    if name == "momentum":
        return FLOOR_OPTIMIZERS[name](theta, grad, lr=lr, momentum=MOMENTUM)
    return FLOOR_OPTIMIZERS[name](theta, grad, lr=lr)


def handgrad_optimizer(name, model, lr):
    """handgrad.optim's optimizer if it exists; until then the floor's update over model.theta."""
    try:
        from handgrad.optim import get_optimizer
    except ImportError:
        return _floor_optimizer(name, model.theta, model.grad, lr), "inline (bench.floor)"
    if name == "momentum":  # PyTorch's heavy ball, as the floor and torch.optim.SGD run it
        opt = get_optimizer("sgd", model, lr=lr, momentum=MOMENTUM)
    else:
        opt = get_optimizer(name, model, lr=lr)
    return opt, f"handgrad.optim.{type(opt).__name__}"


class HandgradImpl:
    """handgrad's public API, the raw step loop: forward, loss, backward, step."""

    name = "handgrad"

    def __init__(self, sizes, optimizer="adam", lr=1e-3, seed=0):
        import handgrad.nn as hnn

        self.model = hnn.MLP(sizes, activation="relu", output="identity", rng=seed,
                             dtype=np.float32)
        self.loss = hnn.get_loss("cross_entropy")
        self.opt, self.opt_source = handgrad_optimizer(optimizer, self.model, lr)
        # training's backward (as handgrad.train's closure runs it): the gradients are set rather
        # than zeroed and accumulated, and the data's grad_x is never formed
        self.model.grad_mode(accumulate=False, needs_grad_x=False)

    def step(self, x, labels):
        model, loss = self.model, self.loss
        y = model.forward(x)
        loss.forward(y, labels)
        model.backward(loss.backward())
        self.opt.step()

    def train_epochs(self, x, labels, batch, epochs):
        for _ in range(epochs):
            for start in range(0, len(x), batch):
                self.step(x[start:start + batch], labels[start:start + batch])

    def predict(self, x, batch):
        self.model.eval()
        out = np.empty((len(x), self.model.layers[-1].out_features), dtype=np.float32)
        for start in range(0, len(x), batch):
            out[start:start + batch] = self.model.forward(x[start:start + batch])
        self.model.train()
        return out

    def prepare_grads(self, rng):
        self.model.grad[:] = rng.standard_normal(self.model.grad.size, dtype=np.float32)

    def optimizer_step(self):
        self.opt.step()

    def describe(self):
        return {"optimizer": self.opt_source}


class HandgradTrainerImpl(HandgradImpl):
    """The same model trained through handgrad.train.Trainer, to show the fit loop's overhead."""

    name = "handgrad-trainer"

    def train_epochs(self, x, labels, batch, epochs):
        from handgrad.train import Trainer

        trainer = Trainer(self.model, self.loss, self.opt, batch_size=batch, epochs=epochs,
                          shuffle=False)
        trainer.fit(x, labels)

    def describe(self):
        return {"optimizer": self.opt_source, "loop": "handgrad.train.Trainer.fit"}


class TorchImpl:
    """PyTorch CPU eager with its defaults: nn.Sequential, F.cross_entropy, torch.optim."""

    name = "torch"

    def __init__(self, sizes, optimizer="adam", lr=1e-3, seed=0):
        import torch

        self.torch = torch
        torch.manual_seed(seed)
        layers = []
        for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(fan_in, fan_out))
            if k < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers)
        params = self.model.parameters()
        if optimizer == "adam":
            self.opt = torch.optim.Adam(params, lr=lr)
        elif optimizer == "momentum":
            self.opt = torch.optim.SGD(params, lr=lr, momentum=MOMENTUM)
        else:
            self.opt = torch.optim.SGD(params, lr=lr)

    def step(self, x, labels):
        torch = self.torch
        self.opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(self.model(x), labels)
        loss.backward()
        self.opt.step()

    def _tensors(self, x, labels):
        return self.torch.from_numpy(x), self.torch.from_numpy(labels)

    def train_epochs(self, x, labels, batch, epochs):
        xt, lt = self._tensors(x, labels)
        for _ in range(epochs):
            for start in range(0, len(xt), batch):
                self.step(xt[start:start + batch], lt[start:start + batch])

    def predict(self, x, batch):
        torch = self.torch
        xt = torch.from_numpy(x)
        out = torch.empty((len(x), self.model[-1].out_features))
        self.model.eval()
        with torch.inference_mode():
            for start in range(0, len(xt), batch):
                out[start:start + batch] = self.model(xt[start:start + batch])
        self.model.train()
        return out.numpy()

    def prepare_grads(self, rng):
        for p in self.model.parameters():
            p.grad = self.torch.from_numpy(rng.standard_normal(p.shape, dtype=np.float32))

    def optimizer_step(self):
        self.opt.step()

    def describe(self):
        torch = self.torch
        return {"optimizer": f"torch.optim.{type(self.opt).__name__} (defaults: "
                f"foreach={self.opt.defaults.get('foreach')}, fused={self.opt.defaults.get('fused')})",
                "threads": torch.get_num_threads()}


class SklearnImpl:
    """scikit-learn's MLPClassifier through its public fit/predict_proba (float32 preserved);
    ``warm_start`` lets successive fit calls continue, ``max_iter`` epochs per call."""

    name = "sklearn"

    def __init__(self, sizes, optimizer="adam", lr=1e-3, seed=0):
        from sklearn.neural_network import MLPClassifier

        self.sizes, self.optimizer, self.lr = sizes, optimizer, lr
        solver = "adam" if optimizer == "adam" else "sgd"
        self.clf = MLPClassifier(
            hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu", solver=solver, alpha=0.0,
            learning_rate_init=lr, momentum=MOMENTUM if optimizer == "momentum" else 0.0,
            nesterovs_momentum=False, shuffle=False, tol=0.0, n_iter_no_change=10 ** 9,
            random_state=seed, warm_start=True, max_iter=1)
        self.sk_opt = None

    def _fit(self, x, labels, batch, epochs):
        self.clf.set_params(batch_size=batch, max_iter=epochs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: we stop after a fixed count
            self.clf.fit(x, labels)

    def _initialise(self):
        if not hasattr(self.clf, "coefs_"):
            rng = np.random.default_rng(0)
            x = rng.standard_normal((64, self.sizes[0]), dtype=np.float32)
            self._fit(x, np.arange(64) % self.sizes[-1], 64, 1)

    def step(self, x, labels):
        self._fit(x, labels, len(x), 1)

    def train_epochs(self, x, labels, batch, epochs):
        self._fit(x, labels, batch, epochs)

    def predict(self, x, batch):
        self._initialise()
        return self.clf.predict_proba(x)  # scikit-learn takes the whole array at once

    def prepare_grads(self, rng):
        from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

        self._initialise()
        self.params = self.clf.coefs_ + self.clf.intercepts_
        self.grads = [rng.standard_normal(p.shape, dtype=np.float32) for p in self.params]
        if self.optimizer == "adam":
            self.sk_opt = AdamOptimizer(self.params, learning_rate_init=self.lr)
        else:
            self.sk_opt = SGDOptimizer(self.params, learning_rate_init=self.lr, nesterov=False,
                                       momentum=MOMENTUM if self.optimizer == "momentum" else 0.0)

    def optimizer_step(self):
        self.sk_opt.update_params(self.params, self.grads)

    def describe(self):
        return {"optimizer": f"MLPClassifier(solver={self.clf.solver!r})"}


IMPLEMENTATIONS = {cls.name: cls for cls in (HandgradImpl, HandgradTrainerImpl, FloorImpl,
                                             TorchImpl, SklearnImpl)}
