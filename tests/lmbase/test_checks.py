"""lmbase.checks: the size checks every configuration and formula shares name the size and the fix."""

from types import SimpleNamespace

import pytest

from lmbase.checks import check_at_least_one, check_model_shape


def test_sizes_below_one_are_named():
    check_at_least_one(batch=1, seq=1024)
    with pytest.raises(ValueError, match=r"^seq=0 must be at least 1$"):
        check_at_least_one(batch=2, seq=0)


def test_a_model_shape_needs_heads_that_divide_its_width():
    shape = dict(vocab_size=65, context=8, n_layer=1, n_head=4, d_model=32)
    check_model_shape(SimpleNamespace(**shape))
    with pytest.raises(ValueError, match="n_layer=0 must be at least 1"):
        check_model_shape(SimpleNamespace(**{**shape, "n_layer": 0}))
    with pytest.raises(ValueError, match="d_model=30 is not divisible by n_head=4.*divisors of 30"):
        check_model_shape(SimpleNamespace(**{**shape, "d_model": 30}))


@pytest.mark.parametrize("package", ["babygpt.model", "babygpt.llama", "lmbase.microgpt_config"])
def test_every_configuration_uses_the_shared_check(package):
    import importlib

    module = importlib.import_module(package)
    config_class = module.LlamaConfig if package.endswith("llama") else module.GPTConfig
    with pytest.raises(ValueError, match="d_model=30 is not divisible by n_head=4"):
        config_class(vocab_size=65, context=8, n_layer=1, n_head=4, d_model=30)
    with pytest.raises(ValueError, match="context=0 must be at least 1"):
        config_class(vocab_size=65, context=0, n_layer=1, n_head=4, d_model=32)
