"""A tiny random-weight Llama model directory with a word-level tokenizer (a test double).

It has the same architecture as SmolLM2 (Llama, grouped-query attention, tied embeddings,
ChatML chat template) at toy size, so TorchBackend, soft prompts and gradients can be tested
in seconds. Its outputs are noise: never report numbers measured with it.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
WORDS = (
    "system user assistant review sentiment output positive negative classify the a an of is was film movie "
    "good great fine bad awful poor number question answer text label and it this not very : , . ! ?"
).split()


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL + WORDS + [str(n) for n in range(100)])}
    for word in list(vocab):
        if word not in SPECIAL and word.isalpha():
            vocab.setdefault(word.capitalize(), len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_model_dir(path: str | Path, *, seed: int = 0, layers: int = 2, hidden: int = 32, init_range: float = 0.2) -> Path:
    """Write a tiny random Llama + tokenizer to ``path`` (a transformers model directory).

    ``init_range`` is the weights' std: larger than a real model's 0.02, so that a few virtual
    tokens can move the outputs of a random model (the training tests need a signal).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
        initializer_range=init_range, bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def tiny_backend(tmp_path_factory):
    """A TorchBackend on a fresh tiny model, torch at one thread while it is in use (tiny matrices:
    one thread is faster, and the CPU is shared); for a module-scoped fixture: ``yield from``."""
    import torch

    from promptlift.backends.torch import TorchBackend

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield TorchBackend(build_model_dir(tmp_path_factory.mktemp("tiny") / "model"), device="cpu")
    torch.set_num_threads(threads)
