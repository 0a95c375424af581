"""Mechanistic interpretability (chapter 12): read and overwrite a model's activations, and the
analyses built on them.

* ``hooks``: activations of babygpt's GPT and LLaMA by name, read or overwritten;
* ``modular``: the modular-addition task and the one-layer model that groks it;
* ``fourier``: the Fourier basis of Z_p and what it shows in that model;
* ``probes``: linear and MLP probes, scored on held-out data;
* ``induction``: repeated random tokens, attention-only models, induction scores;
* ``patching``: activation patching between a clean and a corrupted run;
* ``feature_vis``: feature visualisation by gradient ascent on the input of a digits CNN.
"""
