"""The caches' one key: an equal key finds the entry, another model, dataset or split computes anew."""

from dataclasses import replace

from aelab.explore import priors
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import file_digest
from aelab.ui import caches
from aelab.ui.caches.key import ModelData


def test_an_equal_key_hits_the_cache_and_another_digest_or_data_misses(monkeypatch):
    path = str(SHIPPED_DIR / "vae.safetensors")
    key = ModelData(path, file_digest(path), "mnist", "test")
    made = []

    def counted(model, codes):
        made.append(1)
        return real(model, codes)

    real = priors.prior_for
    monkeypatch.setattr(priors, "prior_for", counted)
    caches.samples.prior.clear()
    first = caches.samples.prior(key)
    again = caches.samples.prior(ModelData(path, file_digest(path), "mnist", "test"))  # equal, not the same object
    assert len(made) == 1 and again.description == first.description
    assert hash(key) == hash(replace(key)) and key == replace(key)
    for other in (replace(key, digest="0" * 64), replace(key, dataset="fashion_mnist"), replace(key, split="train")):
        caches.samples.prior(other)  # the VAE's prior is N(0, I) whatever the data: only the key differs
    assert len(made) == 4
    caches.samples.prior.clear()
