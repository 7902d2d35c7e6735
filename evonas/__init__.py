"""evonas: a neuroevolution engine for neural architecture search."""
