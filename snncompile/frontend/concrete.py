"""A torch.fx tracer that runs the model on its example input while it traces.

Every fx node carries the real value it computed (``node.meta["value"]``), and a traced tensor answers ``shape``,
``size()``, ``dim()``, ``ndim``, ``dtype``, ``len()`` and iteration with real values. So Python arithmetic on shapes
(``x.view(T, int(x.shape[0] / T), -1)``) and branches on them (``if x.dim() == 5``) are specialized on the example,
as if the forward had been called on it; the graph records the tensor operations with those numbers as constants.
What cannot be specialized is a branch or a Python number taken from tensor *values* (``if x.sum() > 0``,
``int(x.max())``): the tracer refuses it, naming the module, its class and the source line.
"""

import inspect
import traceback
from pathlib import Path

import torch
from torch import fx

from ..errors import UnsupportedModuleError

_OWN_FILES = (str(Path(fx.__file__).parent), str(Path(torch.__file__).parent), str(Path(__file__).parent))


class ConcreteProxy(fx.Proxy):
    """An fx proxy that also holds the value its node computed on the example input."""

    @property
    def value(self):
        return self.node.meta["value"]

    @property
    def shape(self):
        return self.value.shape

    @property
    def ndim(self):
        return self.value.ndim

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def device(self):
        return self.value.device

    def size(self, dim=None):
        return self.value.size() if dim is None else self.value.size(dim)

    def dim(self):
        return self.value.dim()

    def numel(self):
        return self.value.numel()

    def __len__(self):
        return len(self.value)

    def __iter__(self):
        return (self[i] for i in range(len(self.value)))

    def __int__(self):
        self.tracer.refuse_value_use(self, "int()")

    def __float__(self):
        self.tracer.refuse_value_use(self, "float()")

    def __index__(self):
        self.tracer.refuse_value_use(self, "an index")


class ConcreteTracer(fx.Tracer):
    """Traces ``root`` on ``example`` (see the module docstring); ``leaf(module)`` says which modules stay whole;
    ``before_leaf(module, args)`` sees the real arguments of each leaf call before it runs (and may raise)."""

    def __init__(self, leaf, example: torch.Tensor, before_leaf=None):
        super().__init__()
        self.record_stack_traces = True
        self._leaf, self._example, self._before_leaf = leaf, example, before_leaf
        self._computing = False  # inside a value computation: parameters are tensors, not graph nodes

    def is_leaf_module(self, module, qualified_name):
        return self._leaf(module)

    def proxy(self, node):
        return ConcreteProxy(node, self)

    def call_module(self, module, forward, args, kwargs):
        if self._computing or not _holds_proxy((args, kwargs)):  # computing a value: run it as PyTorch would
            return forward(*args, **kwargs)
        try:
            return super().call_module(module, forward, args, kwargs)
        except Exception as err:
            if not hasattr(err, "snncompile_module"):  # the innermost module the failure happened in
                err.snncompile_module = self.current_module(innermost=f"module {self.path_of_module(module)!r} "
                                                                      f"({type(module).__name__})")
            raise

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        return attr_val if self._computing else super().getattr(attr, attr_val, parameter_proxy_cache)

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        if kind != "output":
            self._computing = True
            try:
                proxy.node.meta["value"] = self._compute(kind, target, *_values((args, kwargs)))
            finally:
                self._computing = False
        return proxy

    def _compute(self, kind, target, args, kwargs):
        if kind == "placeholder":
            return self._example
        if kind == "get_attr":
            value = self.root
            for atom in target.split("."):
                value = getattr(value, atom)
            return value
        if kind == "call_function":
            return target(*args, **kwargs)
        if kind == "call_method":
            return getattr(args[0], target)(*args[1:], **kwargs)
        module = self.root.get_submodule(target)  # call_module
        if self._before_leaf is not None:
            self._before_leaf(module, args)
        return module(*args, **kwargs)

    def to_bool(self, obj):
        self.refuse_value_use(obj, "a branch (if/while/and/or)")

    def refuse_value_use(self, proxy, use: str):
        where = self.current_module()
        raise UnsupportedModuleError(
            f"{where}{user_source_line()}: {use} on a value computed from the input (fx node {proxy.node.name!r}) "
            f"depends on the data, so no single graph describes the model. Only shapes may steer the forward pass: "
            f"compute the branch from shapes or constructor options, or register a converter for the module that "
            f"branches (snncompile.frontend.register)")

    def current_module(self, innermost: str | None = None) -> str:
        """``module 'layer1.0' (BasicBlock)`` for the module whose forward is being traced (``innermost`` when
        given), or ``the model``."""
        if innermost is not None and not innermost.startswith("module ''"):
            return innermost
        if not self.module_stack:
            return "the model"
        path, module_type = next(reversed(self.module_stack.values()))
        return f"module {path!r} ({getattr(module_type, '__name__', module_type)})" if path else "the model"


def user_source_line() -> str:
    """`` at net.py:42 (`x = ...`)``: the innermost frame of the caller's code (not torch's, not ours), or ``""``."""
    for frame in inspect.stack()[1:]:
        if not frame.filename.startswith(_OWN_FILES) and "<" not in frame.filename:
            code = frame.code_context[0].strip() if frame.code_context else ""
            return f" at {Path(frame.filename).name}:{frame.lineno} (`{code}`)"
    return ""


def exception_source_line(err: BaseException) -> str:
    """`` at net.py:42 (`x = ...`)``: the innermost frame of the caller's code in ``err``'s traceback, or ``""``."""
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if not frame.filename.startswith(_OWN_FILES) and "<" not in frame.filename:
            return f" at {Path(frame.filename).name}:{frame.lineno} (`{(frame.line or '').strip()}`)"
    return ""


def node_source_line(node: fx.Node) -> str:
    """`` at net.py:42 (`x = ...`)`` for an fx node traced with stack traces (the innermost frame of the caller's
    code), or ``""``."""
    lines = (node.stack_trace or "").strip().splitlines()
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index].strip()
        parts = line.split('"')
        if line.startswith("File ") and len(parts) > 2 and not parts[1].startswith(_OWN_FILES):
            number = line.split("line ")[-1].split(",")[0]
            code = lines[index + 1].strip() if index + 1 < len(lines) else ""
            return f" at {Path(parts[1]).name}:{number} (`{code}`)"
    return ""


def _holds_proxy(arguments) -> bool:
    found = []
    fx.node.map_aggregate(arguments, lambda a: found.append(a) if isinstance(a, fx.Proxy) else None)
    return bool(found)


def _values(arguments):
    return fx.node.map_aggregate(arguments, lambda a: a.node.meta["value"] if isinstance(a, fx.Proxy) else a)
