"""Classical, torch-free feature code of the zoo: what the BO workflows compute from a patch or the survey.

* :mod:`~stemscan.agents.features.peaks` — atom-column peaks (find, refine, sublattices);
* :mod:`~stemscan.agents.features.survey` — per-cell survey statistics and the survey-gradient prior;
* :mod:`~stemscan.agents.features.sliding_fft`, :mod:`~stemscan.agents.features.decomposition`
  — local spectra and their PCA / NMF (``linear-bo``);
* :mod:`~stemscan.agents.features.lattice` — column geometry: bonds, honeycomb
  vacancies, lattice consistency, regions of a probability map (``dcnn-bo``);
* :mod:`~stemscan.agents.features.site_graph` — which honeycomb sites are regular;
  :mod:`~stemscan.agents.features.column_intensity` (vacancies by column intensity) and
  :mod:`~stemscan.agents.features.lattice_boundaries` (grain boundaries, Stone-Wales by
  column geometry) build on it (the ``dcnn`` analyst's calibration);
* :mod:`~stemscan.agents.features.windows` — atom windows for the rVAE (``rvae-bo``);
* :mod:`~stemscan.agents.features.latents` — descriptors of encoded windows (``rvae-bo``).

Nothing here imports torch.
"""
