"""Errors raised by the variation operators."""


class OperatorNotApplicable(ValueError):  # noqa: N818 (the name the engine uses)
    """An operator cannot change this genome within this search space.

    Examples: ``remove_node`` on a genome with no inner node, ``add_node`` at ``max_nodes``,
    ``add_edge`` on an NB201 cell (whose six edges are fixed). Callers such as
    :func:`operators.mutate` catch it and try another operator.
    """
