"""The char-LM config (``configs/charlm*.yaml``) and the facts learned from its training text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipelines.spine.config import param
from pipelines.spine.sections import (
    MAX_WIDTH,
    RNNConfig,
    ServeConfig,
    TaskConfig,
    epoch_metrics,
)

TYPICAL_CHARS = 100  # distinct characters of a training text (Tiny Shakespeare has 65)


@dataclass(frozen=True)
class CharLMData:
    """Where the text comes from and how it is cut into training windows."""

    source: Literal["sample", "files", "tfds", "stream"] = param(
        "sample",
        doc="sample (bundled Tiny Shakespeare), files (data.path), tfds (data.tfds_name), "
        "stream (data.path read in chunks through tf.data, never whole: corpora larger than "
        "memory; each process reads its own lanes)",
    )
    tfds_name: str = param("tiny_shakespeare", doc="one text per split (train/validation/test)")
    tfds_data_dir: str | None = param(None, doc="TFDS data dir; null = TFDS default")
    path: str = param(
        "tinyshakespeare/input.txt",
        doc="files: one UTF-8 text under DATA_ROOT or absolute; sample and files split 90/5/5 "
        "as TFDS. stream: a file, a directory (its files) or a glob (books/*.txt), sorted; "
        "each file split by bytes, its first 90% train, then 5% validation, 5% test",
    )
    mode: Literal["stateful", "windows"] = param(
        "stateful",
        doc="stateful: train.batch_size lanes read in order, state carried (truncated BPTT); "
        "windows: random, zero state",
    )
    split: Literal["tfds", "nanogpt"] = param(
        "tfds",
        doc="sample/files/stream: tfds = 90/5/5 as TFDS tiny_shakespeare; nanogpt = nanoGPT's "
        "first 90% train, last 10% validation (test is the same last 10%: it has no test "
        "split); stream cuts each file so, by bytes",
    )
    newlines: Literal["normalize", "keep"] = param(
        "normalize", doc="normalize: \\r\\n and \\r read as \\n (a kept \\r makes each \\n free)"
    )
    window: int = param(
        100, min=2, max=1_000_000, doc="characters per training window (the BPTT length)"
    )
    random_offset: bool = param(True, doc="stateful: lanes start at a random offset each epoch")
    max_train_chars: int | None = param(None, min=2, doc="cap on training characters")
    max_eval_chars: int | None = param(None, min=2, doc="cap on validation/test characters")

    def check(self) -> tuple[str, str] | None:
        if self.split == "nanogpt" and self.source == "tfds":
            return "split", "nanogpt cuts one text; TFDS brings its own three splits"
        return None


@dataclass(frozen=True)
class CharLMStack(RNNConfig):
    """Unidirectional: bidirectional: false is required (the shared default true is an error)"""

    def check(self) -> tuple[str, str] | None:
        if self.bidirectional:
            return "bidirectional", "a language model reads left to right; set it to false"
        return super().check()


@dataclass(frozen=True)
class CharLMModel:
    """Embedding → unidirectional recurrent stack → next-character logits."""

    embedding_dim: int = param(64, min=1, max=MAX_WIDTH, doc="character embedding width")
    rnn: CharLMStack = field(default_factory=CharLMStack)
    output_dropout: float = param(0.0, min=0.0, max=0.95, doc="before the softmax layer")


@dataclass(frozen=True)
class CharLMSampling:
    """The sample printed after every ``every_epochs`` epochs of training (and ``sample.txt``)."""

    prime: str = param("\n", doc="text the training samples and sample.txt continue")
    length: int = param(
        200, min=0, max=1_000_000, doc="characters per sample printed while training"
    )
    temperature: float = param(0.8, min=0.0, doc="0 = always the most likely character")
    top_k: int = param(0, min=0, max=1_000_000, doc="sample among the k most likely; 0 = all")
    every_epochs: int = param(1, min=0, max=100_000, doc="print a sample every N epochs; 0 = none")


@dataclass(frozen=True)
class CharLMServe(ServeConfig):
    """Serving bounds of the char LM, whose prime is read one character per step.

    About 0.1 ms per character at the benchmark size: 2,000 keep a 1 MB prime under a second."""

    max_chars: int = param(
        2000, min=1, max=10_000_000, doc="characters of a prime read (its last ones)"
    )


@dataclass(frozen=True)
class CharLMConfig(TaskConfig):
    """A char-LM run: data, model, sampling while training, and the shared training section."""

    task: Literal["charlm"] = param("charlm", doc="the task this config is for")
    data: CharLMData = field(default_factory=CharLMData)
    model: CharLMModel = field(default_factory=CharLMModel)
    sampling: CharLMSampling = field(default_factory=CharLMSampling)
    serve: CharLMServe = field(default_factory=CharLMServe)

    def logged_metrics(self) -> dict[str, Literal["min", "max"]]:
        return epoch_metrics({"accuracy": "max"})  # CharLMTask.compile_args

    def estimated_parameters(self) -> int:
        """``models.char_lm.CharLanguageModel``'s weights, about."""
        m = self.model
        return (
            TYPICAL_CHARS * m.embedding_dim
            + m.rnn.estimated_parameters(m.embedding_dim)
            + (m.rnn.output_width() + 1) * TYPICAL_CHARS
        )

    def check(self) -> tuple[str, str] | None:
        if self.data.mode == "stateful" and self.train.strategy != "default":
            return (
                "train.strategy",
                "mirrored splits each batch across replicas, which breaks the lanes of "
                "data.mode stateful; use data.mode windows",
            )
        return super().check()


@dataclass
class CharLMInfo:
    """Facts learned from the training text (saved as ``info.json``)."""

    vocabulary: list[str]  # id 0 = "[UNK]", then the training characters in code-point order
    train_characters: int
    validation_characters: int
    unknown_validation_characters: int  # validation characters not seen in train
