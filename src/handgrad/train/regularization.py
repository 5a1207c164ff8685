"""The regulariser lives in the optimizer package (handgrad.optim.regularization), written once;
this name stays for code that imports it from here."""

from handgrad.optim.regularization import Penalty

__all__ = ["Penalty"]
