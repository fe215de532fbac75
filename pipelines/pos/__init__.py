"""Part-of-speech tagging (UPOS) on Universal Dependencies English-EWT."""
