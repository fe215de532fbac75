"""CoNLL column reader and tag-scheme conversions, on hand-written files and sequences."""

import gzip
import itertools
import random

import numpy as np
import pytest
from seqeval.metrics.sequence_labeling import get_entities

from data.conll import ConllFormat, ConllFormatError, read_conll
from data.tag_schemes import Span, convert, from_spans, scheme_tags, spans, tag_error, to_iob2_tag

CONLL2003_STYLE = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
lamb NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
\t
-DOCSTART- -X- -X- O
BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O
"""
CONLL2003_STYLE += "   \n"  # a whitespace-only line ends a sentence too


def _write(path, text: str, compress: bool = False):
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# ----------------------------------------------------------------------------- reader


def test_reads_conll2003_layout_with_documents_and_separators(tmp_path):
    path = _write(tmp_path / "train.txt", CONLL2003_STYLE)
    got = read_conll(path)
    assert got.tokens == [
        ["EU", "rejects", "German", "lamb", "."],
        ["Peter", "Blackburn"],
        ["BRUSSELS", "1996-08-22"],
    ]
    assert got.tags == [
        ["B-ORG", "O", "B-MISC", "O", "O"],
        ["B-PER", "I-PER"],
        ["B-LOC", "O"],
    ]
    # -DOCSTART- starts a new document; a sentence right after it needs no blank line.
    assert got.documents.tolist() == [1, 1, 2]
    assert got.skipped_lines == 0 and len(got) == 3


def test_gzip_is_detected_by_content(tmp_path):
    plain = read_conll(_write(tmp_path / "a.txt", CONLL2003_STYLE))
    packed = read_conll(_write(tmp_path / "a.data", CONLL2003_STYLE, compress=True))
    assert packed.tokens == plain.tokens and packed.tags == plain.tags


def test_tab_layout_with_lone_tab_breaks_and_chosen_columns(tmp_path):
    # WNUT-17 style breaks (a lone tab), CRLF endings, tag first and token third.
    text = "B-person\tx\tJohn\r\nI-person\tx\tSmith\r\n\t\r\nO\tx\tU+0085\u0085inside\r\n"
    fmt = ConllFormat(separator="tab", token_column=2, tag_column=0)
    got = read_conll(_write(tmp_path / "wnut.tsv", text), fmt)
    assert got.tokens == [["John", "Smith"], ["U+0085\u0085inside"]]
    assert got.tags == [["B-person", "I-person"], ["O"]]


def test_tab_separator_keeps_tokens_with_inner_spaces(tmp_path):
    got = read_conll(_write(tmp_path / "a.tsv", "New York\tB-LOC\n"), ConllFormat(separator="tab"))
    assert got.tokens == [["New York"]]


def test_iob1_and_bioes_files_are_returned_as_iob2(tmp_path):
    iob1 = "Mr O\nJohn I-PER\nSmith I-PER\nJane B-PER\nin O\nBonn I-LOC\n"
    got = read_conll(_write(tmp_path / "iob1.txt", iob1), ConllFormat(scheme="iob1"))
    assert got.tags == [["O", "B-PER", "I-PER", "B-PER", "O", "B-LOC"]]
    bioes = "John B-PER\nSmith E-PER\nJane S-PER\nin O\nNew B-LOC\nNew I-LOC\nYork E-LOC\n"
    got = read_conll(_write(tmp_path / "bioes.txt", bioes), ConllFormat(scheme="bioes"))
    assert got.tags == [["B-PER", "I-PER", "B-PER", "O", "B-LOC", "I-LOC", "I-LOC"]]


@pytest.mark.parametrize(
    ("text", "fmt", "line", "what"),
    [
        (
            "a NN O\nb O\n",
            ConllFormat(),
            2,
            "expected 3 columns (as on the first token line), found 2",
        ),
        ("a O\nb B_PER\n", ConllFormat(), 2, "tag 'B_PER' is not O or B-TYPE, I-TYPE (iob2)"),
        ("\n\na S-PER\n", ConllFormat(), 3, "tag 'S-PER' is not O or B-TYPE, I-TYPE (iob2)"),
        ("a O\n", ConllFormat(tag_column=3), 1, "token column 0 / tag column 3 do not exist"),
        ("a\tO\n\tO\n", ConllFormat(separator="tab"), 2, "empty token"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, text, fmt, line, what):
    path = _write(tmp_path / "bad.txt", text)
    with pytest.raises(ConllFormatError) as err:
        read_conll(path, fmt)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: {what}") and "\n" not in message


def test_skip_malformed_counts_and_keeps_the_rest(tmp_path):
    text = "a NN O\nb B-PER\nc NN B-PER\n\nd NN X-LOC\ne NN B-LOC\n"
    path = _write(tmp_path / "bad.txt", text)
    got = read_conll(path, ConllFormat(skip_malformed=True))
    assert got.tokens == [["a", "c"], ["e"]] and got.tags == [["O", "B-PER"], ["B-LOC"]]
    assert got.skipped_lines == 2
    assert got.skipped_examples[0].startswith(f"{path}:2: expected 3 columns")
    assert got.skipped_examples[1].startswith(f"{path}:5: tag 'X-LOC'")


def test_empty_file_is_an_error(tmp_path):
    path = _write(tmp_path / "empty.txt", "-DOCSTART- -X- O\n\n \n")
    with pytest.raises(ConllFormatError, match=r"empty\.txt: no sentences found"):
        read_conll(path)


def test_unknown_scheme_is_rejected():
    with pytest.raises(ValueError, match="tag scheme must be one of iob1, iob2, bioes"):
        ConllFormat(scheme="bilou")


def test_subset_keeps_documents():
    from data.conll import TaggedSentences

    s = TaggedSentences([["a"], ["b"], ["c"]], [["O"]] * 3, np.array([0, 0, 1]))
    sub = s.subset(np.array([2, 0]))
    assert sub.tokens == [["c"], ["a"]] and sub.documents.tolist() == [1, 0]


# ----------------------------------------------------------------------------- schemes

# One sentence with adjacent same-type entities, a single-token entity and a long one,
# written by hand in each scheme.
IOB1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG", "I-ORG", "O"]
IOB2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG", "I-ORG", "O"]
BIOES = ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-ORG", "I-ORG", "E-ORG", "O"]
SPANS = [Span("PER", 0, 2), Span("PER", 2, 3), Span("LOC", 4, 5), Span("ORG", 5, 8)]


@pytest.mark.parametrize("source", [IOB1, IOB2, BIOES])
@pytest.mark.parametrize(("scheme", "expected"), [("iob1", IOB1), ("iob2", IOB2), ("bioes", BIOES)])
def test_conversion_between_all_schemes(source, scheme, expected):
    assert spans(source) == SPANS
    assert convert(source, scheme) == expected


def test_iob1_uses_b_only_between_same_type_neighbours():
    assert convert(["B-LOC", "B-PER", "I-PER"], "iob1") == ["I-LOC", "I-PER", "I-PER"]
    assert convert(["B-LOC", "I-LOC", "B-LOC"], "iob1") == ["I-LOC", "I-LOC", "B-LOC"]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["O", "I-PER", "I-PER"], [Span("PER", 1, 3)]),  # I- after O starts an entity
        (["B-PER", "I-LOC"], [Span("PER", 0, 1), Span("LOC", 1, 2)]),  # type change
        (["S-PER", "E-PER"], [Span("PER", 0, 1), Span("PER", 1, 2)]),  # E after S starts anew
        (["B-PER", "I-PER", "O", "E-PER"], [Span("PER", 0, 2), Span("PER", 3, 4)]),
        (["B-MISC-X", "I-MISC-X"], [Span("MISC-X", 0, 2)]),  # hyphen inside a type
        ([], []),
    ],
)
def test_spans_follow_conlleval_on_odd_sequences(tags, expected):
    assert spans(tags) == expected


def test_spans_agree_with_seqeval_on_random_sequences():
    rng = random.Random(0)
    vocabulary = ["O", *(f"{p}-{t}" for p, t in itertools.product("BIES", ["PER", "LOC"]))]
    for _ in range(500):
        tags = [rng.choice(vocabulary) for _ in range(rng.randint(0, 8))]
        ours = [(s.type, s.start, s.end - 1) for s in spans(tags)]
        assert ours == get_entities(tags), tags


def test_from_spans_round_trips_and_single_tag_mapping():
    for scheme in ("iob1", "iob2", "bioes"):
        assert spans(from_spans(SPANS, 9, scheme)) == SPANS
    assert [to_iob2_tag(t) for t in BIOES] == IOB2
    assert scheme_tags(["LOC", "PER"], "iob2") == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert len(scheme_tags(["LOC", "PER"], "bioes")) == 9


def test_tag_error_messages():
    assert tag_error("O", "iob2") is None and tag_error("E-PER", "bioes") is None
    assert tag_error("E-PER", "iob1") == "tag 'E-PER' is not O or B-TYPE, I-TYPE (iob1)"
    assert tag_error("PER", "bioes").startswith("tag 'PER' is not O or B-TYPE, I-TYPE, E-TYPE")
