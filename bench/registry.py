"""
The benchmarks ``bench/run`` knows, by name, and the table they fill.

A benchmark is a function registered with ``@benchmark("name", help=...)`` in a module
listed in ``MODULES``. It gets a ``Context`` (the command-line options, and shared
resources such as a running server) and returns ``Row``s. To add one (``api-events``, say):
write ``bench/api_events.py`` with a decorated function, add the module to ``MODULES``;
``bench/run api-events`` runs it alone, ``bench/run`` runs it with the rest.
"""

import contextlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

MODULES = [
    "bench.link",
    "bench.expiry",
    "bench.bench_api_events",
    "bench.dashboard",
    "bench.analytics",
]


@dataclass
class Row:
    what: str
    ours: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    passed: bool | None = None  # None: reported, no target

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "MISS", None: ""}[self.passed]


@dataclass
class Context:
    options: object  # the parsed command line
    notes: list[str] = field(default_factory=list)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _resources: dict = field(default_factory=dict)

    def resource(self, name: str, factory: Callable[[], contextlib.AbstractContextManager]):
        """A resource shared by the benchmarks of one run (entered once, closed at the end)."""
        if name not in self._resources:
            self._resources[name] = self._stack.enter_context(factory())
        return self._resources[name]

    def close(self) -> None:
        self._stack.close()


@dataclass
class Benchmark:
    name: str
    help: str
    run: Callable[[Context], list[Row]]


BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str, *, help: str):  # noqa: A002 - argparse's word for it
    def register(function: Callable[[Context], list[Row]]):
        BENCHMARKS[name] = Benchmark(name, help, function)
        return function

    return register


def load() -> dict[str, Benchmark]:
    for module in MODULES:
        importlib.import_module(module)
    return BENCHMARKS


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (readable in a terminal, and in bench/README.md)."""
    header = ["what", "ours", "baseline (same run)", "ratio", "target", "result"]
    cells = [[r.what, r.ours, r.baseline, r.ratio, r.target, r.verdict] for r in rows]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    return "\n".join(
        [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)]
    )


def iter_selected(names: list[str]) -> Iterator[Benchmark]:
    for name in names or list(BENCHMARKS):
        yield BENCHMARKS[name]
