"""Part-of-speech tagging (UPOS) on Universal Dependencies, built from the shared tagging flow."""
