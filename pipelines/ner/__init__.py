"""Named-entity recognition: a BiLSTM-CRF tagger over CoNLL files (shared tagging flow)."""
