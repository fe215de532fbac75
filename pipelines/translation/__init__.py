"""Translation: attentional encoder-decoder, greedy and beam-search decoding, BLEU."""
