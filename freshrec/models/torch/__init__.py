"""The torch machinery the deep models share: modules, training loops, optimizers, losses.

``nn`` (layers), ``torch_base`` (the torch recommender base), ``sequential`` (next-item
models), ``training`` (epochs, early stopping), ``optim`` (optimizers and step sizes),
``losses``, ``anchoring`` (forgetting control) and ``distributed`` (data-parallel training).
Import the submodule you need; this package imports nothing, so ``freshrec.models`` stays light.
"""
