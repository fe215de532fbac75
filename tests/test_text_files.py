"""UTF-8 text files: gzip by content, BOM, line splitting, and file:line decoding errors."""

import gzip

import pytest

from data.conll import read_conll
from data.text_classification import read_labelled_lines
from data.text_files import TextEncodingError, read_lines, read_text
from pipelines.spine.task import input_lines


def test_gzip_by_content_and_bom(tmp_path):
    path = tmp_path / "plain-name.txt"  # gzip data under a name that does not say so
    path.write_bytes(gzip.compress("\ufeffone\r\ntwo\u0085still two\n".encode()))
    assert read_text(path).startswith("one")
    assert read_lines(path) == ["one", "two\u0085still two", ""]


@pytest.mark.parametrize(
    "reader, good_line",
    [
        (read_conll, b"EU B-ORG\n"),
        (read_labelled_lines, b"fine film\t1\n"),
        (lambda p: list(input_lines(None, str(p))), b"a text\n"),
    ],
)
def test_readers_name_the_file_and_line_of_a_bad_byte(tmp_path, reader, good_line):
    path = tmp_path / "latin1.txt"
    path.write_bytes(good_line + good_line + b"caf\xe9 " + good_line)
    with pytest.raises(TextEncodingError, match=rf"^{path}:3: not UTF-8 \(byte 0xe9"):
        reader(path)


def test_predict_input_file_lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("first\nsecond\n\nfourth\n", encoding="utf-8")
    assert list(input_lines(None, str(path))) == ["first", "second", "", "fourth"]
    path.write_text("no final newline", encoding="utf-8")
    assert list(input_lines(None, str(path))) == ["no final newline"]
