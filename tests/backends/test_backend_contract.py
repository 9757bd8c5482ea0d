"""Every engine runs the shipped backend contract (promptlift.testing.BackendContract)."""

from __future__ import annotations

import pytest

from promptlift import ScriptedBackend
from promptlift.testing import BackendContract, keyword_script
from tests.tiny_model import build_model_dir


class TestScriptedBackendContract(BackendContract):
    def make(self):
        return ScriptedBackend(keyword_script)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_model_dir(tmp_path_factory.mktemp("tiny") / "model")


class TestTorchBackendContract(BackendContract):
    """A tiny random-weight Llama (a test double model) through the real TorchBackend."""

    @pytest.fixture(autouse=True)
    def _model(self, tiny_dir):
        self.path = tiny_dir

    def make(self):
        from promptlift.backends.torch import TorchBackend

        return TorchBackend(self.path, device="cpu")


@pytest.mark.integration
class TestLlamaCppBackendContract(BackendContract):
    """The embedded SmolLM2 GGUF through llama.cpp (one instance for the class: loading takes seconds)."""

    tolerance = 0.4  # llama.cpp's CPU kernels change with the batch shape (see test_llamacpp.py)
    _backend = None

    def make(self):
        if TestLlamaCppBackendContract._backend is None:
            from promptlift.backends.registry import load_backend

            TestLlamaCppBackendContract._backend = load_backend("llamacpp:smollm2")
        return TestLlamaCppBackendContract._backend

    def test_id_is_stable(self):
        from promptlift.backends.registry import load_backend

        assert load_backend("llamacpp:smollm2").id == self.make().id  # a second, separately loaded instance
