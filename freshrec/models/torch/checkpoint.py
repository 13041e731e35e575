"""Checkpoints of a training pass: saved after every epoch, resumed by a new process.

A long fit (HSTU on 2 cores: hours) must survive a stopped process. After
:meth:`~freshrec.models.torch.torch_base.TorchRecommender.checkpoint_to` a torch model saves,
after each epoch of a training pass, everything the pass needs to go on: the parameters and
optimizer moments, the early-stopping record (with the best epoch's parameters), the losses,
validation scores and epoch seconds so far, the states of the random generators the pass
draws from (batch order, negatives, dropout) and its counters (the learning-rate schedule's
step). The same script run again builds the same model on the same data, finds the
checkpoint of that very pass and continues after its last epoch; the result equals an
uninterrupted run's.

A pass is recognised by a fingerprint of the model's class and parameters, its parameters
and generator states when the pass began and the training data: a checkpoint of another
pass is ignored (and replaced by this pass's). Files, in the folder given:

- ``pass.json``: the fingerprint, the epochs done, losses, scores, epoch seconds,
  early-stopping record, counters and the name of the tensor file; written last,
  atomically, so it always names a complete file;
- ``epoch-NNNN.safetensors``: the current arrays (``now/``), the best epoch's (``best/``) and
  the generator states (``rng/``). The file of the epoch before is deleted once ``pass.json``
  names the new one.

A finished pass keeps its checkpoint: running the script once more restores the final state
without training. Under ``torchrun`` every process restores and process 0 alone saves.

The models that hand the pass their generators resume exactly (the sequential models, the
pairwise torch models such as NeuMF, DeepFM, the two-tower model); CFGAN and IRGAN resume their
parameters and history with a new pass's draws.

Examples
--------
>>> import tempfile
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.models.sasrec import SASRec
>>> folder = tempfile.mkdtemp()
>>> def sasrec(n_epochs):
...     return SASRec(dim=8, max_len=6, n_epochs=n_epochs, threshold=3.0).checkpoint_to(folder)
>>> stopped = sasrec(n_epochs=2).fit(checkerboard_events())  # as if stopped after 2 epochs
>>> read_progress(folder)["epochs_done"]
2
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from freshrec.models.torch.distributed import world
from freshrec.models.torch.training import EarlyStopping, RunState
from freshrec.persist import atomic_write_bytes, atomic_write_text

__all__ = ["TrainingCheckpoint", "read_progress"]

_LOG = logging.getLogger("freshrec.training")
_FORMAT = 1
_PROGRESS = "pass.json"


class _Checkpointable(Protocol):
    """What a checkpoint reads from and writes back into a model."""

    def get_params(self) -> dict[str, Any]: ...

    def _pass_arrays(self) -> dict[str, np.ndarray]: ...

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None: ...


def read_progress(directory: str | Path) -> dict[str, Any]:
    """The progress saved in ``directory`` (``pass.json``); ``{}`` when there is none.

    Examples
    --------
    >>> import tempfile
    >>> read_progress(tempfile.mkdtemp())
    {}
    """
    path = Path(directory) / _PROGRESS
    return json.loads(path.read_text()) if path.is_file() else {}


class TrainingCheckpoint:
    """Save one training pass after every epoch; restore it when the same pass runs again.

    Parameters
    ----------
    directory
        Folder of the checkpoint (created when first saved).
    model
        The model being trained: ``_pass_arrays`` are the arrays a pass changes (parameters
        and optimizer moments), put back by ``_set_arrays``.
    generators
        The random generators the pass draws from, by name (their states are saved).
    counters
        The pass's integer counters, by name; restored in place.
    data
        The training tensors, part of the pass's fingerprint.
    patience
        Early-stopping patience of a restored record.

    Examples
    --------
    >>> import tempfile
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.models.sasrec import SASRec
    >>> model = SASRec(dim=8, max_len=6, n_epochs=1, threshold=3.0).fit(checkerboard_events())
    >>> checkpoint = TrainingCheckpoint(tempfile.mkdtemp(), model, {}, {}, [], patience=3)
    >>> checkpoint.restore() is None  # nothing saved yet
    True
    """

    def __init__(
        self,
        directory: str | Path,
        model: _Checkpointable,
        generators: Mapping[str, torch.Generator],
        counters: MutableMapping[str, int],
        data: Sequence[torch.Tensor | None],
        patience: int,
    ) -> None:
        self.directory = Path(directory)
        self.model, self.generators, self.counters = model, generators, counters
        self.patience = patience
        self.fingerprint = self._fingerprint(data)

    def _fingerprint(self, data: Sequence[torch.Tensor | None]) -> str:
        digest = hashlib.sha256()
        params = self.model.get_params()
        digest.update(json.dumps([type(self.model).__qualname__, params], default=str).encode())
        for name, array in sorted(self.model._pass_arrays().items()):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        for name, generator in sorted(self.generators.items()):
            digest.update(name.encode())
            digest.update(generator.get_state().numpy().tobytes())
        for tensor in data:
            if tensor is not None:
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def save(self, state: RunState) -> None:
        """Write the state after an epoch: tensors first, then ``pass.json`` naming them."""
        from safetensors.numpy import save

        if world()[0] != 0:
            return  # one writer: process 0 (the others hold the same state)

        arrays = {f"now/{name}": a for name, a in self.model._pass_arrays().items()}
        arrays.update({f"best/{n}": a for n, a in state.stopper.best_state.items()})
        arrays.update({f"rng/{n}": g.get_state().numpy() for n, g in self.generators.items()})
        tensors = f"epoch-{state.epochs_done:04d}.safetensors"
        contiguous = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
        atomic_write_bytes(self.directory / tensors, save(contiguous))
        stopper = state.stopper
        progress = {
            "format": _FORMAT,
            "model": type(self.model).__qualname__,
            "fingerprint": self.fingerprint,
            "epochs_done": state.epochs_done,
            "losses": state.losses,
            "scores": state.scores,
            "seconds": state.seconds,
            "best_score": None if stopper.best_epoch == 0 else stopper.best_score,
            "best_epoch": stopper.best_epoch,
            "n_updates": stopper.n_updates,
            "counters": dict(self.counters),
            "tensors": tensors,
        }
        atomic_write_text(self.directory / _PROGRESS, json.dumps(progress, indent=1) + "\n")
        for old in self.directory.glob("epoch-*.safetensors"):
            if old.name != tensors:
                old.unlink(missing_ok=True)

    def restore(self) -> RunState | None:
        """Put the saved pass back into the model, its generators and counters; its state.

        ``None`` (nothing restored) when the folder holds no checkpoint of this pass.
        """
        from safetensors.numpy import load_file

        progress = read_progress(self.directory)
        if not progress:
            return None
        if progress.get("fingerprint") != self.fingerprint or progress.get("format") != _FORMAT:
            _LOG.info("checkpoint in %s is of another training pass: starting anew", self.directory)
            return None
        arrays = load_file(str(self.directory / progress["tensors"]))
        now = {n[len("now/") :]: a for n, a in arrays.items() if n.startswith("now/")}
        self.model._set_arrays(now)
        for name, generator in self.generators.items():
            generator.set_state(torch.from_numpy(arrays[f"rng/{name}"].copy()))
        self.counters.update(progress["counters"])
        stopper = EarlyStopping(self.patience)
        if progress["best_epoch"]:
            stopper.best_score, stopper.best_epoch = progress["best_score"], progress["best_epoch"]
        stopper.n_updates = progress["n_updates"]
        stopper.best_state = {
            n[len("best/") :]: a.copy() for n, a in arrays.items() if n.startswith("best/")
        }
        _LOG.info(
            "%s resumes after epoch %d from %s",
            type(self.model).__name__,
            progress["epochs_done"],
            self.directory,
        )
        return RunState(
            list(progress["losses"]), list(progress["scores"]), stopper, list(progress["seconds"])
        )
