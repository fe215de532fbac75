"""The spine every task shares: typed configs, the Task interface, the runner (train →
evaluate → export → predict), the training loop's optimizer and callbacks, run directories,
devices and the command line."""
