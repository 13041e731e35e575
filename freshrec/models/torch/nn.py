"""Shared torch parts of the deep recommenders: growable embeddings, samplers, batching, steps.

Import this module explicitly (``from freshrec.models.torch import nn``); ``freshrec.models`` itself
does not import torch, so ``import freshrec`` stays light.

- :class:`GrowableEmbedding` appends rows for new ids *and* extends the state any optimizer
  keeps for its weight, so moments learned for old rows survive growth (the fix for rebuilding
  the optimizer after growth, which forgets them); :meth:`GrowableEmbedding.quantize` holds a
  table as int8 codes with one float32 scale per row, for inference. :func:`grow_linear` does
  the same growth for the input and output features of a ``torch.nn.Linear`` (networks whose
  layers are as wide as the item catalogue, e.g. CFGAN's).
- :func:`sample_uniform`, :func:`sample_by_popularity` and :func:`in_batch_logits` give
  negatives; :func:`pad_sequences` batches behaviour sequences; :func:`train_step` is one
  optimisation step with gradient clipping (early stopping lives in
  :mod:`freshrec.models.torch.training`); :func:`resolve_device` turns ``device=`` into a device;
  :func:`module_state_arrays` / :func:`load_module_state` move module state to and from the
  numpy arrays that freshrec saves as safetensors, :func:`optimizer_state_arrays` /
  :func:`load_optimizer_state` the per-parameter state of one or more optimizers.

Examples
--------
>>> import torch
>>> emb = GrowableEmbedding(2, 4, seed=0)
>>> opt = torch.optim.Adam(emb.parameters(), lr=0.1)
>>> loss = emb(torch.tensor([0, 1])).pow(2).sum()
>>> train_step(emb, opt, loss) > 0
True
>>> emb.grow(5, optimizers=[opt])
>>> emb.weight.shape, opt.state[emb.weight]["exp_avg"].shape
(torch.Size([5, 4]), torch.Size([5, 4]))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from freshrec.models.int8 import quantize_rows
from freshrec.models.torch.distributed import average_gradients, mean_over_processes
from freshrec.typing import RowInit

__all__ = [
    "GrowableEmbedding",
    "extend_optimizer_state",
    "forget_parameter",
    "grow_linear",
    "in_batch_logits",
    "load_module_state",
    "load_optimizer_state",
    "module_state_arrays",
    "optimizer_state_arrays",
    "pad_sequences",
    "resolve_device",
    "sample_by_popularity",
    "sample_uniform",
    "train_step",
]

Init = RowInit


def _generator(seed: int | None) -> torch.Generator:
    """A CPU generator of its own: seeded with ``seed``, or from OS entropy when ``None``."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def _normal(
    shape: tuple[int, ...],
    std: float,
    generator: torch.Generator,
    *,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """``N(0, std)`` draws made on the generator's device, then moved to ``device``."""
    out = torch.empty(shape, dtype=dtype, device=generator.device)
    out.normal_(0.0, std, generator=generator)
    return out.to(device)


class GrowableEmbedding(nn.Module):
    """An embedding table of shape (num_embeddings, dim) that can grow for new ids.

    :meth:`grow` appends rows (``N(0, std)``, zeros, or the mean of the existing rows) and
    extends the per-parameter state of the optimizers it is given (see
    :func:`extend_optimizer_state`). The weight becomes a new, larger ``Parameter`` (a fresh
    autograd leaf); the optimizers passed to :meth:`grow` are re-pointed to it with their state
    carried over, so they keep working, and the values and optimizer moments of old rows are
    left bit-identical.

    Parameters
    ----------
    num_embeddings
        Number of rows at construction (may be 0).
    dim
        Width of each row.
    std
        Standard deviation of the normal initialisation (at construction and in :meth:`grow`).
    padding_idx
        Row kept at zero that receives no gradient (as in :class:`torch.nn.Embedding`).
    seed
        Seed of this table's own generator; ``None`` seeds it from OS entropy.
    device, dtype
        Where the weight lives and its dtype (``None``: CPU, float32).

    Attributes
    ----------
    weight
        The table, shape (num_embeddings, dim); absent while the table is int8.
    codes, scale
        While int8 (:meth:`quantize`): ``int8`` codes (num_embeddings, dim) and ``float32``
        scales (num_embeddings,), buffers, so ``state_dict`` saves them in place of ``weight``;
        row ``r`` is ``codes[r] * scale[r]``.
    float_dtype
        The dtype of ``weight`` (kept while int8, for :meth:`dequantize`).

    Examples
    --------
    >>> import torch
    >>> emb = GrowableEmbedding(3, 2, seed=0)
    >>> emb(torch.tensor([[0, 2]])).shape
    torch.Size([1, 2, 2])
    >>> old = emb.weight.detach().clone()
    >>> emb.grow(5, init="zero")
    >>> emb.num_embeddings, torch.equal(emb.weight[:3], old), emb.weight[3:].abs().sum().item()
    (5, True, 0.0)
    """

    def __init__(
        self,
        num_embeddings: int,
        dim: int,
        *,
        std: float = 0.01,
        padding_idx: int | None = None,
        seed: int | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if num_embeddings < 0 or dim < 1:
            raise ValueError(f"need num_embeddings >= 0 and dim >= 1, got {num_embeddings}, {dim}")
        if padding_idx is not None and padding_idx < 0:
            raise ValueError(f"padding_idx must be >= 0, got {padding_idx}")
        self.dim = dim
        self.std = std
        self.padding_idx = padding_idx
        self.generator = _generator(seed)
        self.float_dtype = dtype or torch.float32  # of ``weight``, kept while int8
        weight = _normal(
            (num_embeddings, dim),
            std,
            self.generator,
            dtype=dtype or torch.float32,
            device=torch.device(device or "cpu"),
        )
        self.weight = nn.Parameter(weight)
        self._zero_padding_row()

    @property
    def num_embeddings(self) -> int:
        """Current number of rows."""
        return int(self._stored().shape[0])

    @property
    def device(self) -> torch.device:
        """Where the table lives."""
        return self._stored().device

    @property
    def nbytes(self) -> int:
        """Bytes the table holds: ``weight``'s, or the codes' and scales' while int8."""
        int8 = self._int8()
        tensors = (self.weight,) if int8 is None else int8
        return sum(t.numel() * t.element_size() for t in tensors)

    @property
    def is_quantized(self) -> bool:
        """Whether the table is held as int8 codes and scales (:meth:`quantize`)."""
        return "codes" in self._buffers

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``weight[idx]`` (dequantized rows while int8); shape ``(*idx.shape, dim)``."""
        int8 = self._int8()
        if int8 is not None:
            codes, scale = int8
            return codes[idx].to(scale.dtype) * scale[idx].unsqueeze(-1)
        return F.embedding(idx, self.weight, self.padding_idx)

    def dense(self) -> torch.Tensor:
        """The whole table as float: ``weight`` itself, or while int8 its dequantized rows
        (a new float32 tensor, built for the call).

        Examples
        --------
        >>> emb = GrowableEmbedding(3, 4, seed=0)
        >>> emb.dense() is emb.weight
        True
        >>> emb.quantize()
        >>> emb.dense().dtype, emb.is_quantized
        (torch.float32, True)
        """
        int8 = self._int8()
        if int8 is None:
            return self.weight
        codes, scale = int8
        return codes.to(scale.dtype) * scale.unsqueeze(-1)

    @torch.no_grad()
    def quantize(self) -> None:
        """Hold the table as int8 codes with one float32 scale per row, for inference.

        Row-wise symmetric quantization (:func:`freshrec.models.int8.quantize_rows`): 1 byte
        per entry plus 4 per row. ``weight`` (the Parameter) is dropped, so optimizers holding
        it must forget it; :meth:`grow` and :meth:`reset_rows` refuse until :meth:`dequantize`.

        Examples
        --------
        >>> emb = GrowableEmbedding(5, 64, seed=0)
        >>> before = emb(torch.tensor([1, 3]))
        >>> emb.quantize()
        >>> emb.codes.dtype, bool((emb(torch.tensor([1, 3])) - before).abs().max() < 1e-3)
        (torch.int8, True)
        >>> [name for name, _ in emb.named_parameters()]
        []
        """
        if self.is_quantized:
            return
        weight = self.weight.detach()
        stored = quantize_rows(weight.float().cpu().numpy())
        self.float_dtype = weight.dtype
        del self.weight
        self.register_buffer("codes", torch.from_numpy(stored.codes).to(weight.device))
        self.register_buffer("scale", torch.from_numpy(stored.scales).to(weight.device))

    @torch.no_grad()
    def dequantize(self) -> None:
        """Hold the table as a float ``weight`` Parameter again, from its int8 values.

        Examples
        --------
        >>> emb = GrowableEmbedding(2, 4, seed=0)
        >>> emb.quantize(); emb.dequantize()
        >>> emb.is_quantized, emb.weight.dtype, emb.weight.requires_grad
        (False, torch.float32, True)
        """
        if not self.is_quantized:
            return
        weight = self.dense().to(self.float_dtype)
        del self._buffers["codes"], self._buffers["scale"]
        self.weight = nn.Parameter(weight)

    def _int8(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        codes, scale = self._buffers.get("codes"), self._buffers.get("scale")
        return None if codes is None or scale is None else (codes, scale)

    def _stored(self) -> torch.Tensor:
        int8 = self._int8()
        return self.weight if int8 is None else int8[0]

    def _check_float(self, action: str) -> None:
        if self.is_quantized:
            raise RuntimeError(
                f"cannot {action} an int8 embedding table (quantized for inference); "
                "dequantize it first"
            )

    @torch.no_grad()
    def grow(
        self,
        n_rows: int,
        *,
        init: Init = "normal",
        std: float | None = None,
        generator: torch.Generator | None = None,
        optimizers: Iterable[torch.optim.Optimizer] = (),
    ) -> None:
        """Append rows until the table has ``n_rows`` rows (nothing happens if it has them).

        Parameters
        ----------
        n_rows
            The new total number of rows (like :func:`freshrec.tables.grow_rows`).
        init
            ``"normal"``: ``N(0, std)``; ``"zero"``; ``"mean"``: the mean of the existing rows
            (padding row left out; zeros when there are none).
        std
            Standard deviation for ``"normal"``; default: the table's ``std``.
        generator
            Generator for ``"normal"``; default: the table's own.
        optimizers
            Optimizers holding this weight; their state for it gets rows too.
        """
        old = self.num_embeddings
        extra = n_rows - old
        if extra <= 0:
            return
        self._check_float("grow")
        weight = self.weight
        shape = (extra, self.dim)
        if init == "normal":
            sigma = self.std if std is None else std
            rows = _normal(
                shape,
                sigma,
                generator or self.generator,
                dtype=weight.dtype,
                device=weight.device,
            )
        elif init == "zero":
            rows = weight.new_zeros(shape)
        elif init == "mean":
            keep = torch.ones(old, dtype=torch.bool, device=weight.device)
            if self.padding_idx is not None and self.padding_idx < old:
                keep[self.padding_idx] = False
            mean = weight[keep].mean(0) if bool(keep.any()) else weight.new_zeros(self.dim)
            rows = mean.expand(shape).clone()
        else:
            raise ValueError(f"init must be 'normal', 'zero' or 'mean', got {init!r}")
        # A new leaf, not ``weight.data = ...``: autograd caches a leaf's shape, and reusing a
        # resized leaf fails on CUDA ("EmbeddingBackward0 returned an invalid gradient").
        grown = nn.Parameter(torch.cat([weight.detach(), rows]), requires_grad=weight.requires_grad)
        if weight.grad is not None:
            grown.grad = torch.cat([weight.grad, weight.grad.new_zeros(shape)])
        self.weight = grown
        self._zero_padding_row()
        for optimizer in optimizers:
            _swap_parameter(optimizer, weight, grown)
            extend_optimizer_state(optimizer, grown, old)

    @torch.no_grad()
    def reset_rows(
        self,
        rows: torch.Tensor | np.ndarray,
        *,
        init: Init = "normal",
        optimizers: Iterable[torch.optim.Optimizer] = (),
    ) -> None:
        """Give ``rows`` fresh values and clear their optimizer state (for reused id slots).

        ``init`` as in :meth:`grow` (``"mean"``: of the other rows). Every other row, and
        every other row's optimizer state, is left bit-identical.

        Examples
        --------
        >>> emb = GrowableEmbedding(4, 2, seed=0)
        >>> keep = emb.weight[1:].detach().clone()
        >>> emb.reset_rows(np.array([0]), init="zero")
        >>> emb.weight[0].abs().sum().item(), torch.equal(emb.weight[1:], keep)
        (0.0, True)
        """
        index = torch.as_tensor(np.asarray(rows), dtype=torch.long, device=self.device)
        if not len(index):
            return
        self._check_float("reset rows of")
        weight = self.weight
        shape = (len(index), self.dim)
        if init == "normal":
            values = _normal(
                shape, self.std, self.generator, dtype=weight.dtype, device=weight.device
            )
        elif init == "zero":
            values = weight.new_zeros(shape)
        elif init == "mean":
            others = torch.ones(len(weight), dtype=torch.bool, device=weight.device)
            others[index] = False
            if self.padding_idx is not None:
                others[self.padding_idx] = False
            mean = weight[others].mean(0) if bool(others.any()) else weight.new_zeros(self.dim)
            values = mean.expand(shape).clone()
        else:
            raise ValueError(f"init must be 'normal', 'zero' or 'mean', got {init!r}")
        weight[index] = values
        self._zero_padding_row()
        for optimizer in optimizers:
            for value in optimizer.state.get(weight, {}).values():
                if isinstance(value, torch.Tensor) and value.shape[:1] == weight.shape[:1]:
                    value[index] = 0

    def _zero_padding_row(self) -> None:
        if self.padding_idx is not None and self.padding_idx < self.num_embeddings:
            with torch.no_grad():
                self.weight[self.padding_idx].zero_()

    def _load_from_state_dict(
        self,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        codes = state_dict.get(prefix + "codes")
        if codes is not None:  # saved as int8: hold int8 buffers of the saved shape
            device = self.device
            if not self.is_quantized:
                self.float_dtype = self.weight.dtype
                del self.weight
            shape = tuple(codes.shape)
            self.register_buffer("codes", torch.empty(shape, dtype=torch.int8, device=device))
            self.register_buffer("scale", torch.empty(shape[:1], device=device))
        elif self.is_quantized and prefix + "weight" in state_dict:
            self.dequantize()
        # A saved table may have grown: take its row count before the usual copy.
        saved = state_dict.get(prefix + "weight")
        if saved is not None and saved.dim() == 2 and saved.shape[1] == self.dim:
            if saved.shape[0] != self.num_embeddings:
                self.weight.data = self.weight.data.new_empty(tuple(saved.shape))
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        int8 = ", int8" if self.is_quantized else ""
        return f"{self.num_embeddings}, {self.dim}{padding}{int8}"


def extend_optimizer_state(
    optimizer: torch.optim.Optimizer, param: torch.Tensor, old_rows: int
) -> None:
    """Give ``param``'s optimizer state as many rows as ``param`` now has.

    Every state tensor whose first dimension is ``old_rows`` gets rows appended: zeros, except
    Adagrad's ``sum``, which starts at the group's ``initial_accumulator_value``. That covers
    Adam/AdamW (``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``), Adagrad (``sum``), SGD
    (``momentum_buffer``) and RMSprop (``square_avg``, ``momentum_buffer``, ``grad_avg``).
    Scalars such as ``step`` are left alone, as are the rows that were there. Nothing happens
    when the optimizer has no state for ``param`` yet (it is created lazily on the first step).

    Examples
    --------
    >>> import torch
    >>> param = torch.nn.Parameter(torch.ones(2, 3))
    >>> opt = torch.optim.Adagrad([param], initial_accumulator_value=0.1)
    >>> param.data = torch.cat([param.data, torch.zeros(1, 3)])
    >>> extend_optimizer_state(opt, param, old_rows=2)
    >>> opt.state[param]["sum"][:, 0].tolist()
    [0.1..., 0.1..., 0.1...]
    """
    state = optimizer.state.get(param)
    if not state:
        return
    extra = int(param.shape[0]) - old_rows
    if extra <= 0:
        return
    group = next(g for g in optimizer.param_groups if any(p is param for p in g["params"]))
    for key, value in list(state.items()):
        if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.shape[0] != old_rows:
            continue
        fill = 0.0
        if isinstance(optimizer, torch.optim.Adagrad) and key == "sum":
            fill = float(group.get("initial_accumulator_value", 0.0))
        rows = value.new_full((extra, *value.shape[1:]), fill)
        state[key] = torch.cat([value, rows])


def _swap_parameter(optimizer: torch.optim.Optimizer, old: torch.Tensor, new: torch.Tensor) -> None:
    """Point ``optimizer`` at ``new`` instead of ``old``, keeping ``old``'s state."""
    for group in optimizer.param_groups:
        group["params"] = [new if p is old else p for p in group["params"]]
    if old in optimizer.state:
        optimizer.state[new] = optimizer.state.pop(old)


def forget_parameter(optimizer: torch.optim.Optimizer, param: torch.Tensor) -> None:
    """Remove ``param`` from ``optimizer``'s param groups and drop its state.

    Examples
    --------
    >>> first, second = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))
    >>> opt = torch.optim.Adam([first, second])
    >>> forget_parameter(opt, first)
    >>> [len(p) for p in opt.param_groups[0]["params"]]
    [3]
    """
    for group in optimizer.param_groups:
        group["params"] = [p for p in group["params"] if p is not param]
    optimizer.state.pop(param, None)


def grow_linear(
    layer: nn.Linear,
    in_features: int | None = None,
    out_features: int | None = None,
    *,
    init: Init = "zero",
    std: float = 0.01,
    generator: torch.Generator | None = None,
    optimizers: Iterable[torch.optim.Optimizer] = (),
) -> None:
    """Widen ``layer`` to ``in_features`` inputs and ``out_features`` outputs, in place.

    New input columns and new output rows are appended after the old ones; the old block of
    ``weight`` (and of ``bias``) stays bit-identical. Like :meth:`GrowableEmbedding.grow`, the
    weight and bias become new ``Parameter`` objects (fresh autograd leaves), the optimizers
    passed are re-pointed to them, and every per-parameter state tensor of the old shape
    (Adam's ``exp_avg``/``exp_avg_sq``, SGD's ``momentum_buffer``, ...) is padded to the new
    shape: zeros, or ``initial_accumulator_value`` for Adagrad's ``sum``; scalars such as
    ``step`` are left alone. A size that is ``None`` or not larger than the current one is
    left as it is.

    Parameters
    ----------
    layer
        The linear layer to widen.
    in_features, out_features
        The new totals (like :meth:`GrowableEmbedding.grow`'s ``n_rows``).
    init
        Values of the new weights: ``"zero"``; ``"normal"``: ``N(0, std)``; ``"mean"``: the
        mean of the existing columns (for new inputs) and rows (for new outputs). New bias
        entries are zero, or the mean of the old bias with ``"mean"``. With ``"zero"`` new
        inputs leave the layer's outputs for old inputs unchanged.
    std
        Standard deviation for ``"normal"``.
    generator
        Generator for ``"normal"`` (default: a fresh one seeded from OS entropy).
    optimizers
        Optimizers holding the layer's parameters; their state is padded.

    Examples
    --------
    >>> layer = torch.nn.Linear(3, 2)
    >>> opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    >>> train_step(layer, opt, layer(torch.ones(4, 3)).pow(2).sum()) > 0
    True
    >>> old = layer.weight.detach().clone()
    >>> grow_linear(layer, in_features=5, out_features=4, optimizers=[opt])
    >>> layer.weight.shape, layer.in_features, torch.equal(layer.weight[:2, :3], old)
    (torch.Size([4, 5]), 5, True)
    >>> opt.state[layer.weight]["exp_avg"].shape, opt.state[layer.bias]["exp_avg"].shape
    (torch.Size([4, 5]), torch.Size([4]))
    """
    if init not in ("normal", "zero", "mean"):
        raise ValueError(f"init must be 'normal', 'zero' or 'mean', got {init!r}")
    old_out, old_in = (int(n) for n in layer.weight.shape)
    new_in = max(old_in, old_in if in_features is None else in_features)
    new_out = max(old_out, old_out if out_features is None else out_features)
    if (new_in, new_out) == (old_in, old_out):
        return
    optimizers = list(optimizers)
    draw = generator if generator is not None else _generator(None)
    with torch.no_grad():
        weight = layer.weight.detach()
        columns = _new_block(weight, (old_out, new_in - old_in), 1, init, std, draw)
        weight = torch.cat([weight, columns], dim=1)
        rows = _new_block(weight, (new_out - old_out, new_in), 0, init, std, draw)
        _replace_parameter(layer, "weight", torch.cat([weight, rows]), optimizers)
        if layer.bias is not None:
            bias = layer.bias.detach()
            extra = bias.new_zeros(new_out - old_out)
            if init == "mean" and old_out:
                extra += bias.mean()
            _replace_parameter(layer, "bias", torch.cat([bias, extra]), optimizers)
    layer.in_features, layer.out_features = new_in, new_out


def _new_block(
    weight: torch.Tensor,
    shape: tuple[int, int],
    dim: int,
    init: Init,
    std: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """New rows (``dim=0``) or columns (``dim=1``) of ``shape`` for :func:`grow_linear`."""
    if init == "normal":
        return _normal(shape, std, generator, dtype=weight.dtype, device=weight.device)
    if init == "mean" and weight.shape[dim] > 0:
        return weight.mean(dim, keepdim=True).expand(shape).clone()
    return weight.new_zeros(shape)


def _replace_parameter(
    module: nn.Module, name: str, value: torch.Tensor, optimizers: list[torch.optim.Optimizer]
) -> None:
    """Set ``module.<name>`` to a new leaf holding ``value`` (whose leading block is the old
    parameter); pad its gradient and the optimizers' state, and re-point the optimizers."""
    old = getattr(module, name)
    new = nn.Parameter(value, requires_grad=old.requires_grad)
    if old.grad is not None:
        new.grad = _padded(old.grad, tuple(new.shape), 0.0)
    setattr(module, name, new)
    for optimizer in optimizers:
        _swap_parameter(optimizer, old, new)
        state = optimizer.state.get(new)
        if not state:
            continue
        group = next(g for g in optimizer.param_groups if any(p is new for p in g["params"]))
        for key, tensor in list(state.items()):
            if isinstance(tensor, torch.Tensor) and tensor.shape == old.shape and tensor.dim():
                fill = 0.0
                if isinstance(optimizer, torch.optim.Adagrad) and key == "sum":
                    fill = float(group.get("initial_accumulator_value", 0.0))
                state[key] = _padded(tensor, tuple(new.shape), fill)


def _padded(tensor: torch.Tensor, shape: tuple[int, ...], fill: float) -> torch.Tensor:
    """``tensor`` in the leading corner of a new tensor of ``shape`` filled with ``fill``."""
    out = tensor.new_full(shape, fill)
    out[tuple(slice(0, n) for n in tensor.shape)] = tensor
    return out


# -- negatives ---------------------------------------------------------------------------------
def sample_uniform(
    n_items: int,
    shape: int | Sequence[int],
    generator: torch.Generator | None = None,
    *,
    exclude: sp.csr_matrix | None = None,
    users: np.ndarray | torch.Tensor | None = None,
    max_tries: int = 50,
) -> torch.Tensor:
    """Item indices drawn uniformly from ``0 .. n_items - 1``, as a LongTensor of ``shape``.

    With ``exclude`` (a (n_users, n_items) CSR matrix, e.g. each user's positives) and
    ``users`` (one user index per row of the output, ``len(users) == shape[0]``), draws that hit
    an excluded item of their row's user are redrawn, up to ``max_tries`` times; a user who
    interacted with (almost) every item may keep an excluded draw after that.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> g = torch.Generator().manual_seed(0)
    >>> sample_uniform(10, (2, 3), g).shape
    torch.Size([2, 3])
    >>> seen = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]]))
    >>> sample_uniform(3, (2, 4), g, exclude=seen, users=np.array([0, 1])).tolist()
    [[2, 2, 2, 2], [0, 0, 0, 0]]
    """
    size = (shape,) if isinstance(shape, int) else tuple(shape)
    if n_items < 1:
        raise ValueError(f"n_items must be >= 1, got {n_items}")
    out = torch.randint(0, n_items, size, generator=generator)
    if exclude is None:
        return out
    if users is None or len(size) == 0 or len(users) != size[0]:
        raise ValueError("exclude needs users: one user index per row of the output")
    user_arr = users.cpu().numpy() if isinstance(users, torch.Tensor) else np.asarray(users)
    rows = np.repeat(user_arr.astype(np.int64), int(np.prod(size[1:])))
    flat = out.view(-1)
    todo = np.arange(flat.numel())
    for _ in range(max_tries):
        if not len(todo):
            break
        items = flat[torch.from_numpy(todo)].numpy().copy()  # scipy rejects torch buffers
        todo = todo[np.asarray(exclude[rows[todo], items]).ravel() != 0]
        if not len(todo):
            break
        redraw = torch.randint(0, n_items, (len(todo),), generator=generator)
        flat[torch.from_numpy(todo)] = redraw
    return out


def sample_by_popularity(
    counts: np.ndarray | torch.Tensor,
    shape: int | Sequence[int],
    generator: torch.Generator | None = None,
    *,
    power: float = 0.75,
) -> torch.Tensor:
    """Item indices drawn with probability proportional to ``counts ** power``.

    ``power=0.75`` is word2vec's smoothing; ``0`` gives uniform draws over items with a
    positive count, ``1`` follows popularity exactly. When every count is zero the draws are
    uniform.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> draws = sample_by_popularity(np.array([0.0, 5.0, 1.0]), 1000, g)
    >>> int((draws == 0).sum()), bool((draws == 1).sum() > (draws == 2).sum())
    (0, True)
    """
    size = (shape,) if isinstance(shape, int) else tuple(shape)
    weights = torch.as_tensor(counts, dtype=torch.float64).cpu().clamp_min(0.0) ** power
    weights = torch.where(torch.as_tensor(counts).cpu() > 0, weights, 0.0)
    if weights.numel() == 0:
        raise ValueError("counts is empty")
    if float(weights.sum()) <= 0.0:
        weights = torch.ones_like(weights)
    n = int(np.prod(size))
    cdf = torch.cumsum(weights / weights.sum(), 0)
    u = torch.rand(n, dtype=torch.float64, generator=generator)
    draws = torch.searchsorted(cdf, u, right=True).clamp_max(len(cdf) - 1)
    return draws.view(size)


def in_batch_logits(
    user_vecs: torch.Tensor,
    item_vecs: torch.Tensor,
    *,
    temperature: float = 1.0,
    item_log_q: torch.Tensor | None = None,
    item_idx: torch.Tensor | None = None,
) -> torch.Tensor:
    """Logits of every user against every item of the batch; positives on the diagonal.

    ``logits[i, j] = <user_vecs[i], item_vecs[j]> / temperature - item_log_q[j]``: row ``i``
    scores user ``i``'s positive (item ``i``) against the other users' positives as negatives,
    so ``F.cross_entropy(logits, arange(batch))`` is the sampled-softmax loss. ``item_log_q``
    (the log of each item's sampling probability, e.g. its popularity share) corrects the bias
    against popular items (Yi et al., RecSys 2019). With ``item_idx``, an off-diagonal entry
    whose item equals row ``i``'s positive is masked to ``-inf`` (no accidental hits).

    Examples
    --------
    >>> users, items = torch.eye(3), torch.eye(3)
    >>> logits = in_batch_logits(users, items)
    >>> logits.argmax(1).tolist()
    [0, 1, 2]
    >>> in_batch_logits(users, items, item_idx=torch.tensor([4, 4, 7]))[0, 1].item()
    -inf
    """
    logits = user_vecs @ item_vecs.T
    if temperature != 1.0:
        logits = logits / temperature
    if item_log_q is not None:
        logits = logits - item_log_q.to(logits.dtype).unsqueeze(0)
    if item_idx is not None:
        same = item_idx.unsqueeze(0) == item_idx.unsqueeze(1)
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
    return logits


# -- sequences ---------------------------------------------------------------------------------
def pad_sequences(
    sequences: Sequence[np.ndarray | Sequence[int] | torch.Tensor],
    max_len: int | None = None,
    pad_value: int = 0,
    left: bool = True,
) -> torch.Tensor:
    """Stack item sequences into a LongTensor of shape (n_sequences, max_len).

    Each sequence keeps its *most recent* ``max_len`` items (its tail). With ``left=True`` the
    padding goes before the items, so the last column holds every sequence's latest item;
    with ``left=False`` it goes after. ``max_len=None`` uses the longest sequence.

    Examples
    --------
    >>> pad_sequences([[1, 2, 3, 4], [5]], max_len=3).tolist()
    [[2, 3, 4], [0, 0, 5]]
    >>> pad_sequences([[1, 2], [5]], left=False, pad_value=-1).tolist()
    [[1, 2], [5, -1]]
    """
    arrays = [
        s.cpu().numpy() if isinstance(s, torch.Tensor) else np.asarray(s, dtype=np.int64)
        for s in sequences
    ]
    if max_len is None:
        max_len = max((len(a) for a in arrays), default=0)
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")
    out = np.full((len(arrays), max_len), pad_value, dtype=np.int64)
    for row, array in enumerate(arrays):
        tail = array[max(len(array) - max_len, 0) :] if max_len else array[:0]
        if left:
            out[row, max_len - len(tail) :] = tail
        else:
            out[row, : len(tail)] = tail
    return torch.from_numpy(out)


# -- training ----------------------------------------------------------------------------------
def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    max_grad_norm: float | None = None,
) -> float:
    """One optimisation step on ``loss``: zero grads, backward, clip, step; returns the loss.

    Gradients of ``model``'s parameters are clipped to total norm ``max_grad_norm`` when given.
    A non-finite loss raises ``FloatingPointError`` before anything is updated. Under
    ``torchrun`` (:mod:`freshrec.models.torch.distributed`) the gradients are averaged over the
    processes before the step, and the returned loss is their mean.
    Early stopping and epoch loops live in :mod:`freshrec.models.torch.training`.

    Examples
    --------
    >>> layer = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    >>> x = torch.ones(4, 2)
    >>> first = train_step(layer, opt, layer(x).pow(2).mean(), max_grad_norm=1.0)
    >>> train_step(layer, opt, layer(x).pow(2).mean()) < first
    True
    """
    value = mean_over_processes(float(loss.detach()))
    if not np.isfinite(value):
        raise FloatingPointError(f"loss is {value}; parameters left unchanged")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    average_gradients(model)
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    return value


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The torch device for a ``device=`` argument: ``"auto"``/``None`` pick CUDA when present.

    Asking for CUDA where there is none raises ``ValueError`` at once rather than failing
    later inside a training step.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("auto").type in {"cpu", "cuda"}
    True
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(resolved)!r} requested but CUDA is not available")
    return resolved


# -- persistence -------------------------------------------------------------------------------
def module_state_arrays(module: nn.Module, prefix: str = "") -> dict[str, np.ndarray]:
    """The module's ``state_dict`` as numpy arrays (CPU copies), keys prefixed by ``prefix``.

    bfloat16 tensors, which numpy cannot hold, are stored as float32 (cast back on load).

    Examples
    --------
    >>> arrays = module_state_arrays(torch.nn.Linear(2, 1), prefix="head.")
    >>> sorted(arrays), arrays["head.weight"].shape
    (['head.bias', 'head.weight'], (1, 2))
    """
    arrays: dict[str, np.ndarray] = {}
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().cpu()
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        arrays[prefix + name] = tensor.contiguous().numpy().copy()
    return arrays


def optimizer_state_arrays(
    module: nn.Module, optimizers: Iterable[torch.optim.Optimizer], prefix: str = ""
) -> dict[str, np.ndarray]:
    """The per-parameter state of ``optimizers`` for ``module``'s parameters, as numpy arrays.

    Keys are ``prefix + <parameter name> + "." + <state key>`` (e.g.
    ``"optimizer.head.weight.exp_avg"``); scalars such as Adam's ``step`` become arrays of
    shape ``(1,)``. Each parameter's state is read from the optimizer that holds it, so a
    model with two optimizers (a GAN's generator and discriminator) saves both in one dict.
    :func:`load_optimizer_state` puts it back.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    >>> first = torch.optim.Adam(net[0].parameters())
    >>> second = torch.optim.Adam(net[1].parameters())
    >>> loss = net(torch.ones(3, 2)).sum()
    >>> loss.backward()
    >>> first.step(); second.step()
    >>> arrays = optimizer_state_arrays(net, [first, second], prefix="opt.")
    >>> arrays["opt.1.weight.exp_avg"].shape, arrays["opt.0.bias.step"]
    ((1, 2), array([1.], dtype=float32))
    """
    optimizers = list(optimizers)
    arrays: dict[str, np.ndarray] = {}
    for name, param in module.named_parameters():
        for optimizer in optimizers:
            for key, value in optimizer.state.get(param, {}).items():
                if isinstance(value, torch.Tensor):
                    array = value.detach().cpu().contiguous().numpy().copy()
                    arrays[f"{prefix}{name}.{key}"] = array.reshape(value.shape or (1,))
    return arrays


def load_optimizer_state(
    module: nn.Module,
    optimizers: Iterable[torch.optim.Optimizer],
    arrays: Mapping[str, np.ndarray],
    prefix: str = "",
) -> None:
    """Put state written by :func:`optimizer_state_arrays` into ``optimizers``.

    Each parameter of ``module`` with saved state gets it in the optimizer that holds the
    parameter (``step`` as a CPU scalar, the rest on the parameter's device); a parameter no
    optimizer holds, and keys without ``prefix``, are ignored.

    Examples
    --------
    >>> layer = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.Adam(layer.parameters())
    >>> layer(torch.ones(1, 2)).sum().backward()
    >>> opt.step()
    >>> fresh = torch.optim.Adam(layer.parameters())
    >>> load_optimizer_state(layer, [fresh], optimizer_state_arrays(layer, [opt]))
    >>> torch.equal(fresh.state[layer.weight]["exp_avg"], opt.state[layer.weight]["exp_avg"])
    True
    """
    optimizers = list(optimizers)
    for name, param in module.named_parameters():
        owner = next(
            (o for o in optimizers if any(p is param for g in o.param_groups for p in g["params"])),
            None,
        )
        key_prefix = f"{prefix}{name}."
        state = {
            key[len(key_prefix) :]: torch.from_numpy(np.array(value, copy=True))
            for key, value in arrays.items()
            if key.startswith(key_prefix) and "." not in key[len(key_prefix) :]
        }
        if owner is None or not state:
            continue
        owner.state[param] = {
            key: value.reshape(()) if key == "step" else value.to(param.device)
            for key, value in state.items()
        }


def _writeable(array: np.ndarray) -> np.ndarray:
    """``array`` itself, or a C-contiguous writeable copy (safetensors loads read-only)."""
    if array.flags.writeable and array.flags.c_contiguous:
        return array
    return np.array(array, order="C", copy=True)


def load_module_state(
    module: nn.Module, arrays: Mapping[str, np.ndarray], prefix: str = "", strict: bool = True
) -> None:
    """Load arrays written by :func:`module_state_arrays` into ``module``.

    Only keys starting with ``prefix`` are used (the prefix is stripped). Values are copied
    onto the module's device and dtype; a :class:`GrowableEmbedding` first takes the saved
    row count, so a model that grew after construction loads into a freshly built one.

    Examples
    --------
    >>> source, target = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    >>> load_module_state(target, module_state_arrays(source, "m."), prefix="m.")
    >>> torch.equal(source.weight, target.weight)
    True
    """
    state = {
        key[len(prefix) :]: torch.from_numpy(_writeable(value))
        for key, value in arrays.items()
        if key.startswith(prefix)
    }
    module.load_state_dict(state, strict=strict)
