"""The hostile-input corpus: files that break importers, made by `corpus.build`."""
