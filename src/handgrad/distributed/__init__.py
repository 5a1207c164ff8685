"""Beyond one process: sweeps as Dask tasks (``sweep``, ``space``, ``store``) and data-parallel
training over MPI (``mpi``). Dask and mpi4py are optional dependencies, imported only here."""
