"""The translation config (``configs/translation*.yaml``) and the facts learned from the data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from data.translation_pairs import GroupBy, Normalization
from pipelines.spine.config import param
from pipelines.spine.sections import (
    CELL_GATES,
    MAX_VOCABULARY,
    MAX_WIDTH,
    CellName,
    RNNConfig,
    TaskConfig,
    epoch_metrics,
)


@dataclass(frozen=True)
class TranslationData:
    """Where the pairs come from, how they are split and how they become token ids."""

    source: Literal["sample", "files", "stream", "tfds"] = param(
        "sample",
        doc="sample: bundled spa-eng slice (es, en only); files: train_path read into memory; "
        "stream: train_path read through tf.data, never whole in memory; tfds: tfds_name",
    )
    source_language: str = param(
        "es", doc="language of the input side; files: one side must be en; TFDS: a feature name"
    )
    target_language: str = param(
        "en", doc="language of the output side; files: one side must be en; TFDS: a feature name"
    )
    train_path: str = param(
        "spa_eng/spa.txt.gz",
        doc="pair file(s) (english, tab, other; plain or gzip), under DATA_ROOT or absolute; "
        "files: one file; stream: a file, a directory (its files) or a glob",
    )
    tfds_name: str = param(
        "ted_hrlr_translate/pt_to_en",
        doc="TFDS dataset: its test is the test set, validation is carved from train",
    )
    tfds_data_dir: str | None = param(None, doc="TFDS data dir; null = TFDS default")
    normalization: Normalization = param(
        "NFKC", doc="Unicode form applied when reading (NFKC also folds no-break spaces, ligatures)"
    )
    group_by: GroupBy = param(
        "source",
        doc="split unit: pairs sharing a source sentence; connected: linked by a shared sentence "
        "(not with stream)",
    )
    validation_fraction: float = param(
        0.05, min=0.001, max=0.5, doc="share of the pairs held out for validation (TFDS: of train)"
    )
    test_fraction: float = param(
        0.05,
        min=0.001,
        max=0.5,
        doc="files/sample: held out for test first, so validation never moves it",
    )
    split_seed: int = param(
        13, doc="seed of the grouped splits (stream: the key of the source hash) and subsets"
    )
    max_train_examples: int | None = param(
        None,
        min=1,
        doc="seeded random subset of the training pairs for quick runs; stream: the first ones",
    )
    max_eval_examples: int | None = param(
        None, min=1, doc="seeded random subset of validation and test pairs (quick runs)"
    )
    source_vocabulary_size: int = param(
        16000, min=4, max=MAX_VOCABULARY, doc="source tokens kept, from train"
    )
    target_vocabulary_size: int = param(
        12000,
        min=5,
        max=MAX_VOCABULARY,
        doc="target tokens kept, from train; [START] and [END] included",
    )
    lowercase_source: bool = param(False, doc="lower-case the source; targets always keep case")
    max_train_length: int = param(
        40,
        min=2,
        max=100_000,
        doc="training pairs with more tokens on a side are dropped (dropped_long_pairs)",
    )
    max_source_length: int = param(
        100, min=1, max=100_000, doc="source tokens read when translating"
    )
    bucket_by_length: bool = param(True, doc="batch pairs of similar length together")
    shuffle_buffer: int = param(
        20_000,
        min=1,
        max=100_000_000,
        doc="stream: training pairs shuffled within a buffer of this many (and file order)",
    )

    def check(self) -> tuple[str, str] | None:
        if self.source == "stream" and self.group_by == "connected":
            return "group_by", "connected needs every pair in memory; stream splits by source"
        return None


@dataclass(frozen=True)
class EncoderConfig(RNNConfig):
    """The encoder stack; the decoder is one layer of the same cell type."""

    cell: CellName = param("gru", doc="recurrent cell; ln_* are layer-normalised (Ba et al. 2016)")
    units: int = param(256, min=1, max=MAX_WIDTH, doc="units per direction")


@dataclass(frozen=True)
class TranslationModel:
    """Embeddings, the encoder stack, the decoder and its attention."""

    embedding_dim: int = param(
        256, min=1, max=MAX_WIDTH, doc="width of the source and target embeddings"
    )
    embedding_dropout: float = param(
        0.1, min=0.0, max=0.95, doc="dropout on both embeddings (training)"
    )
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder_units: int = param(
        512, min=1, max=MAX_WIDTH, doc="decoder width (also the attention query width)"
    )
    attention: Literal["luong", "bahdanau"] = param(
        "luong", doc="luong: multiplicative; bahdanau: additive"
    )
    attention_units: int = param(256, min=1, max=MAX_WIDTH, doc="Bahdanau score width")
    attentional_units: int | None = param(
        None, min=1, max=MAX_WIDTH, doc="width before the output layer; null = decoder_units"
    )
    output_dropout: float = param(0.2, min=0.0, max=0.95, doc="dropout before the output layer")
    label_smoothing: float = param(
        0.1, min=0.0, max=0.9, doc="label smoothing of the sequence cross-entropy"
    )


@dataclass(frozen=True)
class TranslationDecoding:
    """How evaluate, export and predict decode."""

    beam_size: int = param(
        5, min=1, max=1_000, doc="1 = greedy; evaluate also reports greedy, export has both"
    )
    length_penalty: float = param(
        0.6, min=0.0, doc="GNMT alpha used to rank beams; 0 = raw log-probability"
    )
    max_length: int = param(50, min=1, max=100_000, doc="output tokens, end token included")
    allow_unknown: bool = param(False, doc="let the decoder emit [UNK]")
    batch_size: int = param(128, min=1, max=1_000_000, doc="sentences per decoding batch")
    validation_bleu_examples: int = param(
        0,
        min=0,
        max=10_000_000,
        doc="greedy val_bleu on this many validation pairs per epoch; 0 = off",
    )


@dataclass(frozen=True)
class TranslationConfig(TaskConfig):
    """A translation run: data, model, decoding and training."""

    task: Literal["translation"] = param("translation", doc="the task this config is for")
    data: TranslationData = field(default_factory=TranslationData)
    model: TranslationModel = field(default_factory=TranslationModel)
    decoding: TranslationDecoding = field(default_factory=TranslationDecoding)

    def logged_metrics(self) -> dict[str, Literal["min", "max"]]:
        # TranslationTask.compile_args; val_bleu from the ValidationBLEU callback when on.
        bleu = {"val_bleu": "max"} if self.decoding.validation_bleu_examples else {}
        return epoch_metrics({"accuracy": "max"}, bleu)

    def estimated_parameters(self) -> int:
        """``models.seq2seq_translator.Seq2SeqTranslator``'s weights, about."""
        m, encoder = self.model, self.model.encoder
        width, decoder = m.embedding_dim, m.decoder_units
        memory = encoder.output_width()
        directions = 2 if encoder.bidirectional else 1
        states = 2 if encoder.cell.endswith("lstm") else 1  # h (and c) start the decoder
        if m.attention == "luong":
            attention = memory * decoder
        else:
            attention = memory * m.attention_units + (decoder + 2) * m.attention_units
        attentional = m.attentional_units or decoder
        return (
            (self.data.source_vocabulary_size + self.data.target_vocabulary_size) * width
            + encoder.estimated_parameters(width)
            + states * (encoder.units * directions + 1) * decoder
            + CELL_GATES[encoder.cell] * (width + decoder + 1) * decoder
            + attention
            + (memory + decoder + 1) * attentional
            + (attentional + 1) * self.data.target_vocabulary_size
        )


@dataclass
class TranslationInfo:
    """Facts learned from the training pairs (``info.json``)."""

    source_language: str
    target_language: str
    source_vocabulary: list[str]
    target_vocabulary: list[str]
    train_examples: int
    validation_examples: int
    dropped_long_pairs: int
