"""Translation data: pair files, normalisation, grouped splits, tokenisation, batches."""

import gzip
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from cli_helpers import tiny_config

from data import translation_corpus
from data.text_files import TextEncodingError
from data.translation_corpus import SPLITS, Vocabularies, load_split, load_splits, training_pairs
from data.translation_pairs import (
    PairFormatError,
    SentencePairs,
    pair_groups,
    read_tab_pairs,
    split_three_ways,
)
from data.translation_text import (
    END_ID,
    SPECIAL_TOKENS,
    START_ID,
    EncodedPairs,
    detokenize,
    encode_all,
    learn_vocabulary,
    make_vectorizer,
    pair_dataset,
    tokenize,
)
from pipelines.registry import get_task
from pipelines.spine.config import load_config


def _write(path, text, gz=False):
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# --- reading ---


@pytest.mark.parametrize("gz", [False, True])
def test_read_pairs_picks_columns_normalises_and_keeps_raw_references(tmp_path, gz):
    text = (
        "\ufeffGo.\tVe.\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272\n"
        "\n"
        "Wait\u00a0!\t¡Espera!\r\n"
        "Cafe\u0301 time.\tHora del cafe\u0301.\n"
    )
    path = _write(tmp_path / ("pairs.txt.gz" if gz else "pairs.txt"), text, gz)
    pairs = read_tab_pairs(path, source_column=1, target_column=0, form="NFKC")
    assert pairs.sources == ["Ve.", "¡Espera!", "Hora del café."]
    assert pairs.targets == ["Go.", "Wait !", "Café time."]
    # references are exactly the file's text (no BOM, no line ending), not normalised
    assert pairs.references == ["Go.", "Wait\u00a0!", "Cafe\u0301 time."]
    nfc = read_tab_pairs(path, source_column=0, target_column=1, form="NFC")
    assert nfc.sources[1] == "Wait\u00a0!" and nfc.sources[2] == "Café time."


def test_read_pairs_errors_name_file_and_line(tmp_path):
    no_tab = _write(tmp_path / "a.txt", "Go.\tVe.\nHello there\n")
    with pytest.raises(PairFormatError, match=r"a\.txt:2: expected english<TAB>translation"):
        read_tab_pairs(no_tab, 1, 0, "NFC")
    empty = _write(tmp_path / "b.txt", "Go.\tVe.\nRun.\t \n")
    with pytest.raises(PairFormatError, match=r"b\.txt:2: column 2 is empty"):
        read_tab_pairs(empty, 1, 0, "NFC")
    latin1 = tmp_path / "c.txt"
    latin1.write_bytes("Go.\tVe.\nCafé\tCafé\n".encode("latin-1"))
    with pytest.raises(TextEncodingError, match=r"c\.txt:2: not UTF-8"):
        read_tab_pairs(latin1, 1, 0, "NFC")
    with pytest.raises(PairFormatError, match="no sentence pairs"):
        read_tab_pairs(_write(tmp_path / "d.txt", "\n\n"), 1, 0, "NFC")


# --- grouping and splitting ---


def _pairs(sources, targets):
    return SentencePairs(list(sources), list(targets), list(targets))


def test_pair_groups_by_source_and_by_connected_sentences():
    pairs = _pairs(
        ["Ve.", "Vete.", "Ve.", "Hola.", "Vete."], ["Go.", "Go.", "Go!", "Hi.", "Leave."]
    )
    by_source = pair_groups(pairs, "source")
    assert by_source[0] == by_source[2] and by_source[1] == by_source[4]
    assert len(set(by_source.tolist())) == 3
    connected = pair_groups(pairs, "connected")
    # Ve.–Go.–Vete.–Leave. and Ve.–Go! are one component; Hola.–Hi. another.
    assert len(set(connected[[0, 1, 2, 4]].tolist())) == 1 and connected[3] != connected[0]


def test_split_three_ways_is_deterministic_disjoint_and_grouped():
    groups = np.repeat(np.arange(400), np.random.default_rng(0).integers(1, 4, 400))
    n = len(groups)
    train, validation, test = split_three_ways(n, 0.05, 0.05, 13, groups)
    assert sorted(np.concatenate([train, validation, test]).tolist()) == list(range(n))
    for a, b in [(train, validation), (train, test), (validation, test)]:
        assert not set(groups[a]) & set(groups[b])
    assert abs(len(test) - 0.05 * n) <= 3 and abs(len(validation) - 0.05 * n) <= 3
    again = split_three_ways(n, 0.05, 0.05, 13, groups)
    assert all(np.array_equal(x, y) for x, y in zip((train, validation, test), again, strict=True))
    # The test split does not depend on the validation fraction.
    assert np.array_equal(split_three_ways(n, 0.2, 0.05, 13, groups)[2], test)
    assert not np.array_equal(split_three_ways(n, 0.05, 0.05, 14, groups)[2], test)
    with pytest.raises(ValueError, match="must be below 1"):
        split_three_ways(n, 0.6, 0.4, 13, groups)


def test_load_splits_reads_the_pair_file_once_and_equals_load_split(monkeypatch):
    task = get_task("translation")
    data = load_config(task.config_class, tiny_config("translation")).data
    one_by_one = [load_split(data, split) for split in SPLITS]
    reader = mock.Mock(wraps=translation_corpus.read_tab_pairs)
    monkeypatch.setattr(translation_corpus, "read_tab_pairs", reader)
    for splits in (SPLITS, ("validation", "train")):  # any order: each its own pairs
        together = load_splits(data, splits)
        assert together == tuple(one_by_one[SPLITS.index(split)] for split in splits)
    assert reader.call_count == 2  # once per load_splits call
    with pytest.raises(ValueError, match="split must be"):
        load_splits(data, ("train", "dev"))
    assert reader.call_count == 2  # a bad split fails before reading


# --- tokenisation ---


def _tokens(text, lowercase=False):
    return [t.decode() for t in tokenize(tf.constant([text]), lowercase)[0].numpy()]


def test_tokenize_splits_punctuation_but_keeps_words_numbers_and_accents():
    assert _tokens("¿Dónde está Tom?") == ["¿", "Dónde", "está", "Tom", "?"]
    assert _tokens('He said "it\'s 3:30, well-known..."') == [
        "He", "said", '"', "it's", "3:30", ",", "well-known", "...", '"'
    ]  # fmt: skip
    assert _tokens("Él\u00a0llegó a las 1,000 (mil)!", lowercase=True) == [
        "él", "llegó", "a", "las", "1,000", "(", "mil", ")", "!"
    ]  # fmt: skip


def test_target_vocabulary_puts_start_and_end_at_2_and_3():
    vocabulary = learn_vocabulary(["a b c", "a b", "a"], 6, lowercase=False, special=True)
    assert vocabulary == [*SPECIAL_TOKENS, "a", "b"]
    assert vocabulary[START_ID] == "[START]" and vocabulary[END_ID] == "[END]"
    source = learn_vocabulary(["a b c", "a b", "a"], 6, lowercase=False, special=False)
    assert source == ["", "[UNK]", "a", "b", "c"]
    # A user typing "[START]" gets bracket tokens and a word, never the start id.
    ids = make_vectorizer(None, False, vocabulary)(tf.constant(["[START]"])).numpy()
    assert START_ID not in ids.flatten().tolist()


@pytest.mark.parametrize(
    "text",
    [
        "Tom didn't go.",
        "¿Dónde está?",
        '"Hi," he said. "Come (now)!"',
        "It's 3:30, isn't it?",
        "Wait... ¡Espera!",
    ],
)
def test_detokenize_inverts_tokenization(text):
    tokens = _tokens(text)
    vocabulary = [*SPECIAL_TOKENS, *dict.fromkeys(tokens)]
    ids = make_vectorizer(None, False, vocabulary)(tf.constant([text])).to_tensor().numpy()
    ids = np.concatenate([ids, [[END_ID, 0]]], axis=1)
    assert detokenize(ids, tf.constant(vocabulary)).numpy()[0].decode() == text


def test_detokenize_stops_at_end_and_drops_special_tokens():
    vocabulary = tf.constant([*SPECIAL_TOKENS, "Hola", "."])
    ids = np.array([[START_ID, 4, 1, 5, END_ID, 4, 4], [END_ID, 4, 0, 0, 0, 0, 0]])
    assert detokenize(ids, vocabulary).numpy().tolist() == [b"Hola [UNK].", b""]


def test_pair_dataset_batches_teacher_forcing_pairs():
    source_vocabulary = ["", "[UNK]", "hola", "adiós", "."]
    target_vocabulary = [*SPECIAL_TOKENS, "hi", "bye", "."]
    sources = encode_all(
        ["hola .", "adiós", "hola hola hola ."], make_vectorizer(None, True, source_vocabulary)
    )
    targets = encode_all(
        ["hi .", "bye", "hi hi ."], make_vectorizer(None, False, target_vocabulary)
    )
    for bucket in (True, False):
        batches = pair_dataset(
            EncodedPairs(sources, targets), batch_size=8, shuffle_seed=None, bucket_by_length=bucket
        )
        seen = 0
        for (source, target_in), target_out in batches.dataset:
            assert target_in.shape == target_out.shape
            for row_in, row_out in zip(target_in.numpy(), target_out.numpy(), strict=True):
                n = np.count_nonzero(row_out)
                assert row_in[0] == START_ID and row_out[n - 1] == END_ID
                np.testing.assert_array_equal(row_in[1:n], row_out[: n - 1])
                assert np.all(row_out[n:] == 0) and np.all(row_in[n:] == 0)
            seen += source.shape[0]
        assert seen == 3


def _random_pairs(n: int, seed: int = 0) -> EncodedPairs:
    rng = np.random.default_rng(seed)
    source_lengths, target_lengths = rng.integers(1, 40, n), rng.integers(1, 30, n)
    return EncodedPairs(
        tf.ragged.constant([rng.integers(4, 50, k).tolist() for k in source_lengths], tf.int32),
        tf.ragged.constant([rng.integers(4, 50, k).tolist() for k in target_lengths], tf.int32),
    )


@pytest.mark.parametrize("bucket", [True, False])
def test_pair_dataset_count_is_one_pass_and_batches_bucket_by_the_longer_side(bucket):
    pairs = _random_pairs(300)
    lengths = pairs.lengths()
    # The decoder side counts its start token: length = max(source, target + 1).
    assert lengths[0] == max(len(pairs.source_ids[0]), len(pairs.target_ids[0]) + 1)
    batches = pair_dataset(pairs, batch_size=16, shuffle_seed=5, bucket_by_length=bucket)
    seen = [source.shape[0] for (source, _), _ in batches.dataset]
    assert batches.count == len(seen) and sum(seen) == 300
    assert batches.dataset.cardinality().numpy() == batches.count
    # Each bucket ends with its own partial batch: more than ceil(300 / 16) = 19 batches (the
    # cosine schedule used to assume 19).
    assert batches.count > 19 if bucket else batches.count == 19


def test_training_pairs_drop_pairs_longer_than_the_limit_on_either_side():
    vocabularies = Vocabularies(["", "[UNK]", "a"], [*SPECIAL_TOKENS, "b"], lowercase_source=False)
    pairs = _pairs(["a a", "a a a a", "a", "a"], ["b", "b", "b b b", "b b"])
    kept, dropped = training_pairs(pairs, vocabularies, max_length=3, origin="pairs.tsv")
    # Decoder steps are target tokens + 1: "b b b" needs 4, too long; "b b" needs 3.
    assert dropped == 2 and len(kept) == 2
    assert kept.lengths().tolist() == [2, 3]
    assert kept.source_ids.to_list() == [[2, 2], [2]]
