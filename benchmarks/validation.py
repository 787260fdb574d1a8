"""How long validation takes for the worst documents that fit the size limits.

    .venv/bin/python benchmarks/validation.py [--repeat 5]

Each document is built to be as expensive as it can be within GRAPHQL_MAX_TOKENS
(5000) and GRAPHQL_MAX_QUERY_SIZE (100 KiB): fragments that spread the next one
twice (2^n expansions), fragments that spread every later one, hundreds of
same-named fields (graphql-core's OverlappingFieldsCanBeMerged compares them in
pairs), deep inline fragments, many operations. The table gives the median time of
parsing plus the whole validation the service runs (graphql-core's rules and ours,
default settings), and how the document was answered. No database is needed.
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from graphql import get_introspection_query

from service.config import settings_from_env
from service.graphql.execution import GraphQLSettings, parse_document
from service.graphql.schema import build_schema


def double_spread_chain(links: int) -> str:
    """F0 spreads F1 twice, F1 spreads F2 twice ...: 2^links copies of the last fragment's field."""
    fragments = [f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(links)]
    return " ".join(["{ ...F0 }", *fragments, f"fragment F{links} on Query {{ whoami {{ id }} }}"])


def every_later_fragment(count: int) -> str:
    """Each fragment spreads every fragment after it: count^2/2 spreads, 2^count paths."""
    fragments = [
        f"fragment F{n} on User {{ id {' '.join(f'...F{m}' for m in range(n + 1, count))} }}"
        for n in range(count)
    ]
    return " ".join(["{ whoami { ...F0 } }", *fragments])


def same_field_repeated(count: int) -> str:
    """One field with a selection, repeated: every pair is compared."""
    return "{ " + " ".join("whoami { id }" for _ in range(count)) + " }"


def same_field_repeated_with_arguments(count: int) -> str:
    return "{ " + " ".join(f'user(id: "{n % 2}") {{ id }}' for n in range(count)) + " }"


def fragment_spread_repeated(count: int) -> str:
    """One fragment spread many times in one selection, and fields of its name beside it."""
    spreads = " ".join("...F" for _ in range(count))
    return f"{{ whoami {{ {spreads} }} }} fragment F on User {{ id username email }}"


def fragment_in_many_fields(count: int) -> str:
    """The same fragment under many same-named fields (each pair compares the fragment)."""
    fields = " ".join("whoami { ...F }" for _ in range(count))
    return f"{{ {fields} }} fragment F on User {{ id username email firstName lastName }}"


def nested_inline_fragments(depth: int) -> str:
    return "{ whoami { " + "... on User { id " * depth + "}" * depth + " } }"


def many_operations(count: int) -> str:
    """Many operations, each spreading a chain of fragments."""
    operations = [f"query Q{n} {{ ...F0 }}" for n in range(count)]
    fragments = [f"fragment F{n} on Query {{ ...F{n + 1} }}" for n in range(count)]
    return " ".join([*operations, *fragments, f"fragment F{count} on Query {{ __typename }}"])


def operations_sharing_variables(count: int) -> str:
    """Many operations spreading one fragment full of variables: each operation checks every use."""
    operations = [f"query Q{n}($v: ID!) {{ ...F }}" for n in range(count)]
    fields = " ".join(f"a{n}: user(id: $v) {{ id }}" for n in range(count))
    return " ".join([*operations, f"fragment F on Query {{ {fields} }}"])


def largest(build: Callable[[int], str], settings: GraphQLSettings, start: int = 1) -> tuple[int, str]:
    """The largest size (by doubling, then bisecting) whose document still parses within the limits."""

    def fits(size: int) -> bool:
        try:
            parse_document(settings, build(size))
        except Exception:
            return False
        return True

    low, high = start, start * 2
    while fits(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low, build(low)


def timed(settings: GraphQLSettings, query: str, repeat: int) -> tuple[float, str]:
    """Median milliseconds of parse + validate, and the first error (or "valid")."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        checked = settings.check_document(query)  # uncached, as a new document is
        times.append((time.perf_counter() - started) * 1000)
    problems = [checked.refusal] if checked.refusal is not None else list(checked.errors)
    answer = "valid" if not problems else str(getattr(problems[0], "message", problems[0]))
    return statistics.median(times), answer[:70]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings = GraphQLSettings.from_config(build_schema(), settings_from_env({}), debug=False)
    documents = [
        ("30 double-spread fragments (the issue's)", double_spread_chain(30)),
        ("190 double-spread fragments", double_spread_chain(190)),
        ("fragments spreading every later one", largest(every_later_fragment, settings, 2)[1]),
        ("same field repeated", largest(same_field_repeated, settings, 8)[1]),
        ("same field, two argument values", largest(same_field_repeated_with_arguments, settings, 8)[1]),
        ("one fragment spread repeatedly", largest(fragment_spread_repeated, settings, 8)[1]),
        ("one fragment under many same fields", largest(fragment_in_many_fields, settings, 8)[1]),
        ("inline fragments nested 199 deep", nested_inline_fragments(199)),
        ("many operations sharing a fragment chain", largest(many_operations, settings, 8)[1]),
        ("operations sharing a fragment of variables", largest(operations_sharing_variables, settings, 8)[1]),
        (
            "standard introspection query (all options)",
            get_introspection_query(
                descriptions=True,
                specified_by_url=True,
                directive_is_repeatable=True,
                schema_description=True,
                input_value_deprecation=True,
            ),
        ),
    ]
    print(f"Parse + validate, median of {args.repeat}, default limits\n")
    print("| document | bytes | ms | answer |")
    print("|---|---:|---:|---|")
    for name, query in documents:
        milliseconds, answer = timed(settings, query, args.repeat)
        print(f"| {name} | {len(query.encode()):,} | {milliseconds:.1f} | {answer} |")


if __name__ == "__main__":
    main()
