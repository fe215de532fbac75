"""CoNLL-U reader: hand-written files, malformed lines, the bundled sample and the real EWT."""

import gzip

import numpy as np
import pytest

from data.conll import ConllFormatError
from data.conllu import ConlluFormatError, read_conllu
from data.sources import data_root, sample_path
from data.text_files import TextEncodingError


def _line(ident: str, form: str, upos: str = "NOUN", xpos: str = "NN") -> str:
    return "\t".join([ident, form, form.lower(), upos, xpos, "_", "0", "root", "_", "_"])


# Document 0 (before any newdoc), then two newdoc documents; a multiword token (range ID), an
# empty node (decimal ID), comments that are not newdoc, and no blank line at the very end.
CONLLU = "\n".join(
    [
        "# sent_id = loose-1",
        _line("1", "Hello", "INTJ", "UH"),
        "",
        "# newdoc id = doc-a",
        "# sent_id = doc-a-1",
        "# text = I don't know.",
        _line("1", "I", "PRON", "PRP"),
        _line("2-3", "don't", "_", "_"),
        _line("2", "do", "AUX", "VBP"),
        _line("3", "n't", "PART", "RB"),
        _line("4", "know", "VERB", "VB"),
        _line("4.1", "know", "VERB", "VB"),
        _line("5", ".", "PUNCT", "."),
        "",
        "",  # two blank lines are one break
        "# sent_id = doc-a-2",
        _line("1", "_", "PUNCT", "NFP"),  # an underscore is a real form
        "",
        "# newdoc",
        "# sent_id = doc-b-1",
        _line("1", "New York", "PROPN", "NNP"),  # UD v2 forms may hold spaces
        _line("2", "Ok", "INTJ", "UH"),
    ]
)


def _write(path, text: str, compress: bool = False, crlf: bool = False):
    data = (text.replace("\n", "\r\n") if crlf else text).encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_reads_words_tags_and_documents(tmp_path):
    got = read_conllu(_write(tmp_path / "a.conllu", CONLLU))
    assert got.tokens == [["Hello"], ["I", "do", "n't", "know", "."], ["_"], ["New York", "Ok"]]
    assert got.tags == [
        ["INTJ"],
        ["PRON", "AUX", "PART", "VERB", "PUNCT"],
        ["PUNCT"],
        ["PROPN", "INTJ"],
    ]
    assert got.documents.tolist() == [0, 1, 1, 2] and got.documents.dtype == np.int64
    assert got.skipped_lines == 0 and got.skipped_examples == []


def test_xpos_column(tmp_path):
    got = read_conllu(_write(tmp_path / "a.conllu", CONLLU), column="xpos")
    assert got.tags == [["UH"], ["PRP", "VBP", "RB", "VB", "."], ["NFP"], ["NNP", "UH"]]
    with pytest.raises(ValueError, match="column must be one of upos, xpos, got 'lemma'"):
        read_conllu(tmp_path / "a.conllu", column="lemma")


def test_gzip_by_content_crlf_bom_and_trailing_blank_line_give_the_same(tmp_path):
    plain = read_conllu(_write(tmp_path / "a.conllu", CONLLU))
    variants = [
        _write(tmp_path / "b.txt", CONLLU, compress=True),  # gzip under a plain name
        _write(tmp_path / "c.conllu.gz", "\ufeff" + CONLLU + "\n\n", compress=True, crlf=True),
    ]
    for path in variants:
        got = read_conllu(path)
        assert (got.tokens, got.tags) == (plain.tokens, plain.tags)
        assert got.documents.tolist() == plain.documents.tolist()


def test_without_newdoc_each_sentence_is_its_own_document(tmp_path):
    text = "\n".join([_line("1", "a"), "", "# sent_id = 2", _line("1", "b"), "", _line("1", "c")])
    got = read_conllu(_write(tmp_path / "a.conllu", text + "\n"))
    assert got.documents.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    "bad_line, lineno, problem",
    [
        ("1\tHello\thello\tINTJ", 2, "expected 10 tab-separated columns, found 4"),
        (_line("x", "Hello"), 2, r"ID 'x' is not a word number, a range \(1-2\) or a decimal"),
        (_line("0", "Hello"), 2, "ID '0' is not a word number"),
        (_line("1-", "Hello"), 2, "ID '1-' is not"),
        (_line("1", ""), 2, "empty FORM"),
        (_line("1", "Hello", upos="_"), 2, r"no UPOS tag \('_'\)"),
        (_line("1", "Hello", upos=""), 2, r"no UPOS tag \(''\)"),
        (_line("3", "Hello"), 2, r"word id 3 out of order \(expected 1\)"),
        (_line("1", "a") + "\n" + _line("1", "b"), 3, r"word id 1 out of order \(expected 2\)"),
        (_line("1", "a") + "\n# newdoc id = x", 3, "'# newdoc' inside a sentence"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, bad_line, lineno, problem):
    path = _write(tmp_path / "bad.conllu", f"# sent_id = 1\n{bad_line}\n\n")
    with pytest.raises(ConlluFormatError, match=rf"^{path}:{lineno}: {problem}") as err:
        read_conllu(path)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, ConllFormatError) and isinstance(err.value, ValueError)


def test_empty_file_and_bad_bytes(tmp_path):
    path = _write(tmp_path / "empty.conllu", "# newdoc id = nothing\n\n")
    with pytest.raises(ConlluFormatError, match=rf"^{path}: no sentences found"):
        read_conllu(path)
    latin1 = tmp_path / "latin1.conllu"
    latin1.write_bytes(f"{_line('1', 'a')}\n\n{_line('1', 'caf')}".encode() + b"\xe9\n")
    with pytest.raises(TextEncodingError, match=rf"^{latin1}:3: not UTF-8"):
        read_conllu(latin1)


# (file, sentences, words, documents): the bundled sample (its ATTRIBUTION.md) and the full
# files in DATA_ROOT (their SOURCE.md).
SAMPLE = [("train", 1993, 39763, 23), ("dev", 373, 6420, 22), ("test", 395, 6267, 29)]
FULL = [("train", 12544, 204577, 540), ("dev", 2001, 25147, 318), ("test", 2077, 25094, 316)]
ALL_UPOS = [
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
]


def _check_counts(path, sentences: int, words: int, documents: int) -> None:
    got = read_conllu(path)
    assert len(got) == sentences
    assert sum(len(s) for s in got.tokens) == words
    assert sorted({t for s in got.tags for t in s}) == ALL_UPOS
    # newdoc documents are numbered 1, 2, ... in file order (no sentence before the first)
    assert got.documents[0] == 1 and np.all(np.diff(got.documents) >= 0)
    assert len(np.unique(got.documents)) == documents


@pytest.mark.parametrize("split, sentences, words, documents", SAMPLE)
def test_bundled_sample_counts(split, sentences, words, documents):
    path = sample_path("pos", f"{split}.conllu.gz")
    _check_counts(path, sentences, words, documents)
    assert path.read_bytes()[:2] == b"\x1f\x8b"


def test_bundled_sample_is_small():
    assert sum(p.stat().st_size for p in sample_path("pos").glob("*.gz")) < 400_000


@pytest.mark.parametrize("split, sentences, words, documents", FULL)
def test_real_ewt_counts(split, sentences, words, documents):
    path = data_root() / "ud_english_ewt" / f"en_ewt-ud-{split}.conllu.gz"
    if not path.exists():
        pytest.skip(f"{path} not present (set DATA_ROOT)")
    _check_counts(path, sentences, words, documents)
