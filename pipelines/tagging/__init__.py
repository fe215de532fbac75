"""What sequence-tagging tasks (NER, POS) share: config sections, the Task flow, serving."""
