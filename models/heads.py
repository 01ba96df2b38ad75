"""Which heads: the `all` / `L.H,L.H,...` syntax of the command line's --heads options."""

from __future__ import annotations

from .errors import ModelError


def read_heads(spec: str) -> list[tuple[int, int]]:
    """`L.H,L.H,...` as distinct (layer, head) pairs, in order (the syntax only)."""
    heads = []
    for part in spec.split(","):
        layer, dot, head = part.strip().partition(".")
        if not (dot and layer.isdigit() and head.isdigit()):
            raise ModelError(f"bad head {part.strip()!r}: write LAYER.HEAD, e.g. 2.5, or all")
        if (int(layer), int(head)) not in heads:
            heads.append((int(layer), int(head)))
    return heads


def parse_heads(spec: str | None, n_layers: int, n_heads: int) -> list[tuple[int, int]]:
    """`all` (or None) or `L.H,L.H,...` as (layer, head) pairs, checked against the model."""
    if spec is None or spec.strip() == "all":
        return [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    heads = read_heads(spec)
    for layer, head in heads:
        if not (layer < n_layers and head < n_heads):
            raise ModelError(
                f"head {layer}.{head} is out of range: the model has {n_layers} layers "
                f"(0-{n_layers - 1}) of {n_heads} heads (0-{n_heads - 1})"
            )
    return heads
