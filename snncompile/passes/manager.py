"""Run passes in order, time each, and dump the IR after the ones asked for."""

import time
from pathlib import Path

from ..errors import ConfigError
from ..ir import Graph, save


class PassManager:
    """Runs ``passes`` (pure functions ``Graph -> Graph`` with a ``name``) in order.

    ``dump_after``: pass names (or ``"all"``) after which the graph is saved with :func:`snncompile.ir.save` into
    ``dump_dir/<index>-<name>/`` (index from ``first_index``, in pipeline order), loadable with
    :func:`snncompile.ir.load`.
    """

    def __init__(self, passes, dump_dir=None, dump_after=(), first_index=1):
        self.passes = list(passes)
        self.first_index = first_index
        names = [p.name for p in self.passes]
        if isinstance(dump_after, str):
            dump_after = names if dump_after == "all" else [dump_after]
        self.dump_after = set(dump_after)
        unknown = sorted(self.dump_after - set(names))
        if unknown:
            raise ConfigError(f"cannot dump after {', '.join(map(repr, unknown))}: not in the pipeline "
                              f"({', '.join(names)})")
        if self.dump_after and dump_dir is None:
            raise ConfigError("dumping the IR after a pass needs a dump directory")
        self.dump_dir = None if dump_dir is None else Path(dump_dir)

    def run(self, graph: Graph) -> tuple:
        """The graph after every pass, and a report: one ``{"pass", "seconds", "nodes_before", "nodes_after"}`` per
        pass (plus ``"dump"``, the directory written, for dumped passes)."""
        report = []
        for index, graph_pass in enumerate(self.passes, start=self.first_index):
            before, start = len(graph), time.perf_counter()
            graph = graph_pass(graph)
            entry = {"pass": graph_pass.name, "seconds": time.perf_counter() - start, "nodes_before": before,
                     "nodes_after": len(graph)}
            if graph_pass.name in self.dump_after:
                entry["dump"] = str(save(graph, self.dump_dir / f"{index:02d}-{graph_pass.name}"))
            report.append(entry)
        return graph, report
