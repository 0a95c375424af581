"""Checks of sizes shared by the packages' configurations and the framework-free formulas: each
error names the value, the limit and the fix."""


def check_at_least_one(**sizes) -> None:
    """Raise ValueError for the first of ``sizes`` (given by name) that is below 1."""
    for name, value in sizes.items():
        if value < 1:
            raise ValueError(f"{name}={value} must be at least 1")


def check_model_shape(config) -> None:
    """The sizes every GPT-like configuration has (``vocab_size``, ``context``, ``n_layer``,
    ``n_head``, ``d_model``) are at least 1, and the heads split ``d_model`` evenly."""
    check_at_least_one(**{name: getattr(config, name)
                          for name in ("vocab_size", "context", "n_layer", "n_head", "d_model")})
    if config.d_model % config.n_head:
        raise ValueError(
            f"d_model={config.d_model} is not divisible by n_head={config.n_head}: each head needs an "
            f"equal share of the channels; pick n_head among the divisors of {config.d_model}"
        )
