"""snncompile: compile trained spiking neural networks for neuromorphic chips.

``snncompile.compile(model_or_checkpoint, example_input, target=..., bits=..., output=...)`` is the Python entry point
(:mod:`snncompile.compiler`); it is imported on first use so that light modules (the IR, the backends) do not pull in
PyTorch.
"""


def __getattr__(name):
    if name == "compile":
        from .compiler import compile

        return compile
    raise AttributeError(f"module 'snncompile' has no attribute {name!r}")
