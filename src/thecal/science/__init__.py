"""Science: where an intrathecally infused drug goes along the spinal canal, and what a
fleet of pumps does over years.

A 1-D, cycle-averaged finite-volume model of drug in the cerebrospinal fluid
(CSF), from a well-mixed cranial compartment down to the closed end of the
dural sac, calibrated to published human data. Modules, one idea each:

* `parameters`  -- the model and drug parameters with their sources (data files)
* `geometry`    -- the canal: cross-section profile, pulsation-driven dispersion
* `spread`      -- the solver: implicit TR-BDF2 stepping event to event, steady state
* `coverage`    -- concentration at each cord segment, dermatomes, effective level
* `calibration` -- fitting the model to the calibration data, with residuals
* `plots`       -- matplotlib figures; `figures` regenerates the ones in docs/

The fleet simulation, vectorised over virtual patients:

* `fleet_parameters`, `fleet_population` -- seeded patient distributions (data file)
* `fleet_model`  -- event-to-event simulation over numpy arrays of patients
* `fleet_stats`  -- estimates with 95 % confidence intervals
* `fleet_run`, `fleet_dask` -- running locally or on a Dask cluster, same results
* `fleet_loop`   -- the per-patient baseline; `fleet_twin` -- validation on pump twins
* `fleet_plots`  -- the summary figure

Units inside this package are cm, s, mL and microgram (concentrations in
microgram/mL); exact therapy quantities are turned into floats only here.
See docs/science.md for the equations, the parameters and what the model
cannot know.
"""
