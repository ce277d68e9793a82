"""eotrust.federated: data owners train at home, only sealed model updates travel, every round
is on the ledger (see docs/architecture.md, "Federated tasks").

- :mod:`plan`: what is trained, how (strategy, local epochs, differential privacy), by whom;
- :mod:`weights`: a model's tensors as deterministic bytes (so a model's CID is its identity);
- :mod:`strategy`: FedAvg and FedProx;  :mod:`aggregate`: the deterministic weighted average;
- :mod:`update`: an update checked (shape, finite), sealed for the aggregator and auditor;
- :mod:`local`: a participant's local training;  :mod:`privacy`: clipping, noise and ε;
- :mod:`data`: the Slovenian patch as pixel series, split spatially among owners;
- :mod:`participant`, :mod:`aggregator`: one step of each role, driven by the ledger;
- :mod:`verify`: every round recomputed bit for bit.
"""
