"""Labelled-text readers: aclImdb tree and tar.gz, TSV files with clear errors."""

import tarfile

import numpy as np
import pytest

from data.text_classification import (
    TextFormatError,
    evaluation_texts,
    load_texts,
    read_aclimdb,
    read_labelled_lines,
    train_validation,
)
from pipelines.sentiment.config import SentimentData


def _make_tree(root):
    reviews = {
        "train/pos/0_9.txt": "Great film.<br /><br />Loved it",
        "train/pos/1_8.txt": "Wonderful",
        "train/neg/0_1.txt": "Awful, dull.",
        "test/pos/0_10.txt": "A masterpiece",
        "test/neg/0_2.txt": "Boring",
        "test/neg/1_3.txt": "Terrible — café scene aside",
        "train/unsup/0_0.txt": "not labelled",
    }
    for name, text in reviews.items():
        path = root / "aclImdb" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "aclImdb" / "README").write_text("readme")
    movie = "http://www.imdb.com/title/tt{}/usercomments"
    (root / "aclImdb/train/urls_pos.txt").write_text(f"{movie.format(1)}\n{movie.format(2)}\n")
    (root / "aclImdb/train/urls_neg.txt").write_text(f"{movie.format(1)}\n")
    return root


def test_reads_directory_and_tarball_identically(tmp_path):
    root = _make_tree(tmp_path / "src")
    from_dir = read_aclimdb(root, "test")
    assert sorted(from_dir.texts) == sorted(
        ["A masterpiece", "Boring", "Terrible — café scene aside"]
    )
    assert dict(zip(from_dir.texts, from_dir.labels, strict=True))["A masterpiece"] == 1
    assert read_aclimdb(root / "aclImdb", "train").labels.tolist().count(1) == 2

    archive = tmp_path / "imdb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root / "aclImdb", arcname="aclImdb")
    from_tar = read_aclimdb(archive, "train")
    from_dir = read_aclimdb(root, "train")
    assert from_tar.texts == from_dir.texts  # unsup/ is not read; order is by path
    np.testing.assert_array_equal(from_tar.labels, from_dir.labels)
    assert len(from_tar) == 3
    # Each review's movie comes from line <id> of urls_<label>.txt.
    by_text = dict(zip(from_tar.texts, from_tar.groups, strict=True))
    assert by_text["Great film.<br /><br />Loved it"].endswith("tt1/usercomments")
    assert by_text["Wonderful"].endswith("tt2/usercomments")
    assert by_text["Awful, dull."].endswith("tt1/usercomments")
    np.testing.assert_array_equal(from_dir.groups, from_tar.groups)
    assert read_aclimdb(root, "test").groups is None  # no urls files for test here


def test_aclimdb_errors(tmp_path):
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        read_aclimdb(tmp_path, "dev")
    with pytest.raises(TextFormatError, match=r"missing \(expected an aclImdb tree"):
        read_aclimdb(tmp_path, "train")


def test_tsv_reader_labels_and_nel(tmp_path):
    path = tmp_path / "s.tsv"
    path.write_text("Good case\x85 really.  \t1\nBad\tnegative\n\nOkay\tpos\n", encoding="utf-8")
    texts = read_labelled_lines(path)
    assert texts.texts == ["Good case\x85 really.", "Bad", "Okay"]  # U+0085 is not a line break
    assert texts.labels.tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("fine\t1\nno tab here\n", r"s.tsv:2: expected 'text<TAB>label', found no tab"),
        ("fine\t1\nx\tmaybe\n", r"s.tsv:2: label 'maybe' is not one of 0, 1, neg"),
        ("\n\n", r"s.tsv: no labelled lines"),
    ],
)
def test_tsv_errors_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "s.tsv"
    path.write_text(content)
    with pytest.raises(TextFormatError, match=message):
        read_labelled_lines(path)


def test_tsv_source_split_and_evaluation_texts(tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("".join(f"text {i}\t{i % 2}\n" for i in range(40)), encoding="utf-8")
    (tmp_path / "test.tsv").write_text("good\tpos\nbad\tneg\n", encoding="utf-8")
    data = SentimentData(
        source="files",
        files_format="tsv",
        train_path=str(train),
        test_path=str(tmp_path / "test.tsv"),
        validation_fraction=0.25,
        max_train_examples=20,
    )
    assert load_texts(data, "test").texts == ["good", "bad"]
    assert evaluation_texts(data, "test").labels.tolist() == [1, 0]
    fit, held_out = train_validation(data)
    assert len(fit) == 20 and len(held_out) == 10  # capped train; validation from all 40
    assert not set(fit.texts) & set(held_out.texts)
    assert evaluation_texts(data, "validation").texts == held_out.texts  # the same carve
    with pytest.raises(ValueError, match="split must be"):
        evaluation_texts(data, "train")
    no_test = SentimentData(source="files", files_format="tsv", train_path=str(train))
    with pytest.raises(ValueError, match="test_path: required"):
        load_texts(no_test, "test")
