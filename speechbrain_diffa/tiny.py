"""Old path of :mod:`speechbrain_diffa.demo.tiny_models` and :mod:`speechbrain_diffa.demo.tiny_corpus`
(contract names kept for existing code)."""

from speechbrain_diffa.demo.tiny_corpus import make_tiny_corpus, tiny_recipe_overrides  # noqa: F401
from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2  # noqa: F401
