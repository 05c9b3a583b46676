"""Running many models: runner, results store, sweeps, analysis and the command line."""
