"""Reading, validating and splitting labelled text data: CSV, TSV, JSONL and CoNLL."""

from tunelab.data.load import load_dataset, read_examples
from tunelab.data.split import split_examples
from tunelab.data.tags import check_tags, detect_scheme, normalise_tags, spans_from_tags, tokenize_words

__all__ = ["check_tags", "detect_scheme", "load_dataset", "normalise_tags", "read_examples", "spans_from_tags",
           "split_examples", "tokenize_words"]
